// What every handler works with: the configuration, the store, the GitHub
// client, the bot's own login, logs and metrics.
import type { Database } from '../store/database.js'
import type { BotConfig } from './config.js'
import type { GitHub } from './github/client.js'
import type { Logger } from '../runtime/log.js'
import type { BotMetrics } from './metrics.js'
import type { BlobCache } from './policy/fetch.js'
import type { CheckMode } from './policy/publish.js'

export interface BotContext {
  config: BotConfig
  db: Database
  github: GitHub
  log: Logger
  metrics: BotMetrics
  /** The login the bot comments as; its own comments are never commands. */
  self: string
  checkMode: CheckMode
  blobs: BlobCache
}

/** A delivery that can never succeed (a payload without what the event must carry): not retried. */
export class PermanentError extends Error {}
