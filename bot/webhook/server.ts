// The HTTP front: POST /webhook, GET /healthz, GET /metrics. A delivery is
// read up to the size cap (413 beyond), its signature checked over the raw
// bytes before anything parses them (401, and nothing else happens, when it
// is missing or wrong), then parsed, routed and written to the queue. GitHub
// gets its answer as soon as the row is stored; the work happens later.
import { Buffer } from 'node:buffer'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { BotConfig } from '../config.js'
import type { Logger } from '../../runtime/log.js'
import type { BotMetrics } from '../metrics.js'
import { enqueueDelivery, queueDepth } from '../queue.js'
import type { Database } from '../../store/database.js'
import { routeDelivery } from './route.js'
import { verifySignature } from './verify.js'

export interface WebhookServerOptions {
  config: BotConfig
  db: Database
  log: Logger
  metrics: BotMetrics
  /** Called after a delivery is queued, to wake the worker. */
  onQueued(): void
}

const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/
const EVENT_NAME = /^[a-z_]{1,64}$/

class TooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) return reject(new TooLarge())
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new TooLarge())
      } else chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: status === 413 ? 'close' : 'keep-alive' })
  res.end(text)
}

export function createWebhookServer(options: WebhookServerOptions): Server {
  const { config, db, log, metrics } = options
  const repos = [config.policyRepo, config.approvalsRepo]
  const count = (result: string) => metrics.webhooks.inc({ result })

  async function webhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer
    try {
      body = await readBody(req, config.webhook.maxBodyBytes)
    } catch (err) {
      if (err instanceof TooLarge) {
        count('too_large')
        return reply(res, 413, { error: `payload larger than ${config.webhook.maxBodyBytes} bytes` })
      }
      throw err
    }
    const signature = req.headers['x-hub-signature-256']
    if (!verifySignature(config.webhook.secrets, body, typeof signature === 'string' ? signature : undefined)) {
      count('unauthorized')
      log.warn('webhook signature missing or wrong', { delivery: String(req.headers['x-github-delivery'] ?? '').slice(0, 100) })
      return reply(res, 401, { error: 'signature missing or wrong' })
    }
    const id = req.headers['x-github-delivery']
    const event = req.headers['x-github-event']
    if (typeof id !== 'string' || !DELIVERY_ID.test(id) || typeof event !== 'string' || !EVENT_NAME.test(event)) {
      count('malformed')
      return reply(res, 400, { error: 'X-GitHub-Delivery and X-GitHub-Event are required' })
    }
    let payload: unknown
    try {
      payload = JSON.parse(body.toString('utf8'))
    } catch {
      count('malformed')
      return reply(res, 400, { error: 'the payload is not JSON' })
    }
    const route = routeDelivery(event, payload, repos)
    if (!route.queue) {
      count('ignored')
      log.info('delivery ignored', { delivery: id, event, reason: route.reason })
      return reply(res, 202, { ignored: route.reason })
    }
    const queued = await enqueueDelivery(db, { id, event, key: route.key, payload })
    if (!queued) {
      count('duplicate')
      log.info('delivery already received', { delivery: id, event })
      return reply(res, 200, { duplicate: true })
    }
    count('accepted')
    log.info('delivery queued', { delivery: id, event })
    reply(res, 202, { queued: true })
    options.onQueued()
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://bot')
    if (url.pathname === '/webhook' || url.pathname === '/') {
      if (req.method !== 'POST') return reply(res, 405, { error: 'use POST' })
      return webhook(req, res)
    }
    if (req.method !== 'GET') return reply(res, 405, { error: 'use GET' })
    if (url.pathname === '/healthz') {
      await db.query('SELECT 1')
      return reply(res, 200, { ok: true })
    }
    if (url.pathname === '/metrics') {
      metrics.queueDepth.set(await queueDepth(db))
      const text = metrics.registry.render()
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(text)
      return
    }
    reply(res, 404, { error: 'not found' })
  }

  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('request failed', { path: (req.url ?? '').slice(0, 100), error: err as Error })
      reply(res, 503, { error: 'unavailable' })
    })
  })
}
