#!/usr/bin/env node
// The `gatehouse` executable: finds the subcommand and runs it. Internal
// errors are reported in one line, never as a stack trace.
import { VERSION } from '../compiler/version.js'
import { clockProblem } from '../cli/clock.js'
import { EXIT, processIo, UsageError, type Command } from '../cli/command.js'
import { didYouMeanSuffix } from '../cli/suggest.js'

/** Loaded on demand, so `gatehouse validate` does not pay for the gateway's start-up. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  validate: { summary: 'check a policy repository', load: async () => (await import('../compiler/cli/validate.js')).validateCommand },
  compile: { summary: 'compile a policy repository into an enforcement bundle', load: async () => (await import('../compiler/cli/compile.js')).compileCommand },
  test: { summary: 'run the repository\'s decision tests', load: async () => (await import('../compiler/cli/test.js')).testCommand },
  explain: { summary: 'what may an identity do, and why', load: async () => (await import('../compiler/cli/explain.js')).explainCommand },
  diff: { summary: 'effective-permission changes between two repository states', load: async () => (await import('../compiler/cli/diff.js')).diffCommand },
  identity: { summary: 'create an identity with a fresh token', load: async () => (await import('../compiler/cli/identity.js')).identityCommand },
  keygen: { summary: 'create a bundle signing key pair', load: async () => (await import('../compiler/cli/keygen.js')).keygenCommand },
  gateway: { summary: 'run the enforcement gateway', load: async () => (await import('../gateway/cli/gateway.js')).gatewayCommand },
  approvals: { summary: 'list and decide held requests', load: async () => (await import('../gateway/cli/approvals.js')).approvalsCommand },
  audit: { summary: 'verify and query the audit trail', load: async () => (await import('../gateway/cli/audit.js')).auditCommand },
  demo: { summary: 'the example policies in front of a sample database', load: async () => (await import('./demo.js')).demoCommand },
  bot: { summary: 'run the GitHub bot', load: async () => (await import('../bot/cli/bot.js')).botCommand },
  sessions: { summary: 'list sessions and show their timelines', load: async () => (await import('../gateway/cli/sessions.js')).sessionsCommand },
  token: { summary: 'print a workload identity token for the gateway', load: async () => (await import('../gateway/cli/token.js')).tokenCommand },
  replay: { summary: 'replay what an SSH client saw in a recorded session', load: async () => (await import('../gateway/cli/replay.js')).replayCommand },
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length))
  return [
    'usage: gatehouse <command> [options]',
    '',
    'Access control for non-human identities, as code.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `gatehouse help <command>` (or `gatehouse <command> --help`) for a command\'s options.',
  ].join('\n')
}

/** The options a command's usage text documents, for "did you mean" when one is mistyped. */
function documentedOptions(usage: string): string[] {
  return [...new Set([...usage.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))]
}

/** A mistyped option, with the nearest documented one. */
function unknownOption(args: readonly string[], usage: string): string | undefined {
  const documented = documentedOptions(usage)
  const unknown = args.map((a) => a.split('=')[0]!).find((a) => a.startsWith('--') && !documented.includes(a))
  return unknown && `unknown option \`${unknown}\`${didYouMeanSuffix(unknown, documented)}`
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  // `gatehouse help CMD` is `gatehouse CMD --help`.
  const [name, args] = first === 'help' && rest[0] ? [rest[0], ['--help']] : [first, rest]
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    processIo.out(overview())
    return name ? EXIT.ok : EXIT.usage
  }
  if (name === '--version' || name === '-V') {
    processIo.out(`gatehouse ${VERSION}`)
    return EXIT.ok
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (!entry) {
    processIo.err(`gatehouse: unknown command \`${name}\`${didYouMeanSuffix(name, Object.keys(COMMANDS))}\n\n${overview()}`)
    return EXIT.usage
  }
  const clock = clockProblem()
  if (clock) {
    processIo.err(`gatehouse: ${clock}`)
    return EXIT.usage
  }
  const command = await entry.load()
  if (args.includes('--help') || args.includes('-h')) {
    processIo.out(command.usage)
    return EXIT.ok
  }
  try {
    return await command.run(args, processIo)
  } catch (err) {
    const code = (err as { code?: unknown } | undefined)?.code
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      const message = (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknownOption(args, command.usage)) || (err as Error).message
      processIo.err(`gatehouse ${name}: ${message}\n\n${command.usage}`)
      return EXIT.usage
    }
    processIo.err(`gatehouse ${name}: ${(err as Error | undefined)?.message ?? String(err)}`)
    return EXIT.usage
  }
}

process.exitCode = await main(process.argv.slice(2))
