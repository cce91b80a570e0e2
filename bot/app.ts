// The running bot: the store, the GitHub client, the webhook server and the
// worker that processes what the server queued.
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { openDatabase, type Database } from '../store/database.js'
import { handlePullRequestComment, handleReview } from './commands/pull-request.js'
import type { BotConfig } from './config.js'
import type { BotContext } from './context.js'
import { replyDeliveryFailed } from './failed-delivery.js'
import { createGitHub, selfLogin } from './github/client.js'
import { createLogger, type Logger } from '../runtime/log.js'
import { createBotMetrics } from './metrics.js'
import { handleApprovalComment, handleApprovalIssueEvent, syncApprovalIssues } from './jit/issues.js'
import { BlobCache } from './policy/fetch.js'
import { handlePullRequestEvent, handlePush } from './policy/pull-request.js'
import { runSweep } from './sweep/sweep.js'
import type { Delivery } from './queue.js'
import { fullName } from './webhook/route.js'
import { createWebhookServer } from './webhook/server.js'
import { startWorker, type Handler } from './worker.js'

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

/** Pull-request work only for the policy repository (the approvals repository may be another). */
const inPolicyRepo = (handler: Handler): Handler => async (ctx, payload) => {
  const name = (payload.repository as { full_name?: unknown } | undefined)?.full_name
  if (typeof name === 'string' && name.toLowerCase() === fullName(ctx.config.policyRepo).toLowerCase()) await handler(ctx, payload)
}

const handleIssueComment: Handler = async (ctx, payload) => {
  if (!(await handleApprovalComment(ctx, payload))) await inPolicyRepo(handlePullRequestComment)(ctx, payload)
}

function route(delivery: Delivery): Handler | undefined {
  switch (delivery.event) {
    case 'pull_request':
      return inPolicyRepo(handlePullRequestEvent)
    case 'pull_request_review':
      return inPolicyRepo(handleReview)
    case 'issue_comment':
      return handleIssueComment
    case 'push':
      return inPolicyRepo(handlePush)
    case 'issues':
      return handleApprovalIssueEvent
    default:
      return undefined
  }
}

/** Runs `task` now and then every `seconds`, one run at a time, until stopped; failures are logged. */
function every(ctx: BotContext, what: string, seconds: number, task: () => Promise<unknown>): { stop(): Promise<void> } {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let current: Promise<unknown> = Promise.resolve()
  const run = () => {
    current = task()
      .catch((err: unknown) => ctx.log.error(`${what} failed`, { error: err as Error, status: (err as { status?: number }).status }))
      .finally(() => {
        if (!stopped) timer = setTimeout(run, seconds * 1000)
      })
  }
  run()
  return {
    async stop() {
      stopped = true
      clearTimeout(timer)
      await current
    },
  }
}

export async function createContext(config: BotConfig, options: BotOptions = {}): Promise<BotContext> {
  const log = options.log ?? createLogger()
  const metrics = createBotMetrics()
  const github = createGitHub(config.github, metrics, options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs })
  const self = await selfLogin(github, config.github)
  const db = options.db ?? (await openDatabase(config.store))
  return { config, db, github, log, metrics, self, checkMode: config.github.auth.kind === 'app' ? 'check-run' : 'status', blobs: new BlobCache() }
}

export async function startBot(config: BotConfig, options: BotOptions = {}): Promise<Bot> {
  const ctx = await createContext(config, options)
  let nudge = () => undefined as void
  const server: Server = createWebhookServer({ config, db: ctx.db, log: ctx.log, metrics: ctx.metrics, onQueued: () => nudge() })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.listen.port, config.listen.host, () => resolve())
    })
  } catch (err) {
    if (!options.db) await ctx.db.close()
    throw err
  }
  // Started only once the server listens, so a failed start leaves nothing running.
  const worker = startWorker(ctx, route, { onFailed: replyDeliveryFailed, ...(options.retryBaseSeconds === undefined ? {} : { retryBaseSeconds: options.retryBaseSeconds }) })
  nudge = () => worker.nudge()
  const approvals = every(ctx, 'approval issue sync', config.approvals.pollSeconds, () => syncApprovalIssues(ctx))
  const sweep = config.sweep.everySeconds === undefined ? undefined : every(ctx, 'sweep', config.sweep.everySeconds, () => runSweep(ctx))
  const port = (server.address() as AddressInfo).port
  ctx.log.info('bot listening', { host: config.listen.host, port, as: ctx.self })
  return {
    ctx,
    port,
    settled: () => worker.settled(),
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
      await worker.stop()
      await approvals.stop()
      await sweep?.stop()
      if (!options.db) await ctx.db.close()
    },
  }
}
