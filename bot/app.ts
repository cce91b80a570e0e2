// The running bot: the store, the GitHub client, the webhook server and the
// worker that processes what the server queued.
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { openDatabase, type Database } from '../store/database.js'
import { handlePullRequestComment, handleReview } from './commands/pull-request.js'
import type { BotConfig } from './config.js'
import type { BotContext } from './context.js'
import { createGitHub, selfLogin } from './github/client.js'
import { createLogger, type Logger } from './log.js'
import { BotMetrics } from './metrics.js'
import { handlePullRequestEvent } from './policy/pull-request.js'
import type { Delivery } from './queue.js'
import { createWebhookServer } from './webhook/server.js'
import { startWorker, type Handler, type Worker } from './worker.js'

export interface Bot {
  ctx: BotContext
  /** The port the webhook server listens on. */
  port: number
  /** Resolves when every ready delivery has been processed. */
  settled(): Promise<void>
  stop(): Promise<void>
}

export interface BotOptions {
  log?: Logger
  /** An already open store (tests share one across bots). */
  db?: Database
  retryBaseMs?: number
  retryBaseSeconds?: number
}

function route(delivery: Delivery): Handler | undefined {
  switch (delivery.event) {
    case 'pull_request':
      return handlePullRequestEvent
    case 'pull_request_review':
      return handleReview
    case 'issue_comment':
      return handlePullRequestComment
    default:
      return undefined
  }
}

export async function createContext(config: BotConfig, options: BotOptions = {}): Promise<BotContext> {
  const log = options.log ?? createLogger()
  const metrics = new BotMetrics()
  const github = createGitHub(config.github, metrics, options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs })
  const self = await selfLogin(github, config.github)
  const db = options.db ?? (await openDatabase(config.store))
  return { config, db, github, log, metrics, self, checkMode: config.github.auth.kind === 'app' ? 'check-run' : 'status' }
}

export async function startBot(config: BotConfig, options: BotOptions = {}): Promise<Bot> {
  const ctx = await createContext(config, options)
  let worker: Worker | undefined
  const server: Server = createWebhookServer({ config, db: ctx.db, log: ctx.log, metrics: ctx.metrics, onQueued: () => worker?.nudge() })
  worker = startWorker(ctx, route, options.retryBaseSeconds === undefined ? {} : { retryBaseSeconds: options.retryBaseSeconds })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.listen.port, config.listen.host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  ctx.log.info('bot listening', { host: config.listen.host, port, as: ctx.self })
  return {
    ctx,
    port,
    settled: () => worker!.settled(),
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await worker!.stop()
      if (!options.db) await ctx.db.close()
    },
  }
}
