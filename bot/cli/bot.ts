// `gatehouse bot`: runs the GitHub bot (webhook server and worker) until
// SIGINT or SIGTERM.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { EXIT, UsageError, type Command } from '../../cli/command.js'
import { startBot } from '../app.js'
import { parseConfig, type BotConfig } from '../config.js'

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

Serves GitHub webhooks for the policy repository: evaluates policy pull
requests (validate, test, permission diff, approval rules) and publishes one
comment and a check; reads approval commands; opens an issue for each
statement or command the gateway holds for approval and decides it from
/approve or /deny there.

The configuration names the store (the gateway's), the repositories, the
webhook secret(s) and the GitHub credentials; see the README.

options:
  --config FILE     the bot's configuration (YAML)

exit status: 0 stopped by a signal, 2 usage, configuration or start-up error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { config: { type: 'string' } }, allowPositionals: true })
    if (positionals.length > 0) throw new UsageError(`unexpected \`${positionals[0]}\``)
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
