// `gatehouse bot`: runs the GitHub bot (webhook server and worker) until
// SIGINT or SIGTERM.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { EXIT, UsageError, type Command } from '../../cli/command.js'
import { createContext, startBot } from '../app.js'
import { parseConfig, type BotConfig } from '../config.js'
import { formatSweep, runSweep } from '../sweep/sweep.js'

export function readConfig(file: string | undefined): BotConfig {
  if (!file) throw new UsageError('--config FILE is required')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new UsageError(`cannot read \`${file}\``)
  }
  return parseConfig(text)
}

export const botCommand: Command = {
  name: 'bot',
  summary: 'run the GitHub bot: policy pull requests, approvals, stale identities',
  usage: `usage: gatehouse bot --config FILE
       gatehouse bot sweep --config FILE [--dry-run]

Serves GitHub webhooks for the policy repository: evaluates policy pull
requests (validate, test, permission diff, approval rules) and publishes one
comment and a check; reads approval commands; opens an issue for each
statement or command the gateway holds for approval and decides it from
/approve or /deny there.

\`bot sweep\` finds stale identities (unused, expired, owner gone, grants
that allowed nothing) and opens, updates or closes one pull request per
identity; with --dry-run it only reports. It refuses (exit 1) when the
store's newest usage record is older than \`sweep.freshness\`. The bot also
sweeps on the schedule in its configuration.

The configuration names the store (the gateway's), the repositories, the
webhook secret(s) and the GitHub credentials; see the README.

options:
  --config FILE     the bot's configuration (YAML)
  --dry-run         (sweep) report what would change; write nothing

exit status: 0 stopped by a signal or sweep done, 1 sweep refused, 2 usage, configuration or start-up error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { config: { type: 'string' }, 'dry-run': { type: 'boolean' } }, allowPositionals: true })
    if (positionals[0] === 'sweep' && positionals.length === 1) {
      const ctx = await createContext(readConfig(values.config))
      try {
        const report = await runSweep(ctx, { dryRun: values['dry-run'] ?? false })
        io.out(formatSweep(report))
        // A refusal (usage records not fresh) is worth a failing scheduled job.
        return report.refused ? EXIT.findings : EXIT.ok
      } finally {
        await ctx.db.close()
      }
    }
    if (positionals.length > 0) throw new UsageError(`unexpected \`${positionals.join(' ')}\``)
    if (values['dry-run']) throw new UsageError('--dry-run applies to `bot sweep` only')
    const bot = await startBot(readConfig(values.config))
    io.err(`gatehouse bot: listening on ${bot.ctx.config.listen.host}:${bot.port} as ${bot.ctx.self}`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await bot.stop()
    return EXIT.ok
  },
}
