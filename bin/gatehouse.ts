#!/usr/bin/env node
// The `gatehouse` executable: finds the subcommand and runs it. Internal
// errors are reported in one line, never as a stack trace.
import { VERSION } from '../compiler/version.js'
import { clockProblem } from '../cli/clock.js'
import { EXIT, processIo, UsageError, type Command } from '../cli/command.js'

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
    'Run `gatehouse <command> --help` for a command\'s options.',
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
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
    processIo.err(`gatehouse: unknown command \`${name}\`\n\n${overview()}`)
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
      processIo.err(`gatehouse ${name}: ${(err as Error).message}\n\n${command.usage}`)
      return EXIT.usage
    }
    processIo.err(`gatehouse ${name}: ${(err as Error | undefined)?.message ?? String(err)}`)
    return EXIT.usage
  }
}

process.exitCode = await main(process.argv.slice(2))
