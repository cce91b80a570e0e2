// The admin HTTP listener: health and readiness, status, Prometheus metrics,
// `/v1/self` for an identity's bearer token, and approvals, the audit trail,
// sessions and SSH recordings for operators (admin token), for when the store
// is embedded and only this process can open it.
import { Buffer } from 'node:buffer'
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { getApproval, listApprovals, voteOnApproval, type ApprovalStatus } from '../../store/approvals.js'
import { listSessions, queryEvents, verifyAudit } from '../../store/audit-read.js'
import { readRecordingChunks } from '../../store/recordings.js'
import type { AuditWriter } from '../../store/audit-log.js'
import type { Database } from '../../store/database.js'
import type { BundleState } from '../bundle/state.js'
import type { Logger } from '../../runtime/log.js'
import type { Metrics } from '../../runtime/metrics.js'
import type { ReadinessProbe } from '../readiness.js'
import { identityForStaticToken } from '../credentials.js'
import { looksLikeJwt, type WorkloadClaims, type WorkloadVerifier } from '../oidc/verify.js'
import { activityRows, selfDocument } from '../self-reflection.js'
import type { SessionRegistry } from '../sessions.js'

export interface AdminContext {
  state: BundleState
  db: Database
  audit: AuditWriter
  metrics: Metrics
  sessions: SessionRegistry
  log: Logger
  /** SHA-256 of the operators' admin token; without one, the approval endpoints are off. */
  adminTokenDigest?: Buffer
  /** Whether every front is listening. */
  listening: () => boolean
  /** PostgreSQL resources whose upstream account is a superuser. */
  superuserResources: ReadonlySet<string>
  /** The store and upstreams, probed at an interval. */
  probe?: ReadinessProbe
  workloadTokens: WorkloadVerifier
}

const MAX_BODY_BYTES = 16 * 1024
const sha256 = (text: string) => createHash('sha256').update(text).digest()

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body, null, 2) + '\n' : String(body)
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk)
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * Ready when a bundle is in force, the store answers and takes writes, every
 * front listens, and at least one upstream is reachable. Each unreachable
 * upstream is named; one down among several does not make the gateway
 * unready, since it still serves the others.
 */
export function readiness(ctx: AdminContext): { ready: boolean; reasons: string[]; upstreams: Record<string, { ok: boolean; address: string; error?: string }> } {
  const reasons: string[] = []
  const blocking: string[] = []
  if (!ctx.state.current) blocking.push('no valid bundle: everything is denied')
  if (!ctx.audit.healthy) blocking.push('the audit store is unavailable: statements are refused')
  if (ctx.probe?.store && !ctx.probe.store.ok) blocking.push(`the audit store does not answer (${ctx.probe.store.error}): statements will be refused`)
  if (!ctx.listening()) blocking.push('not listening yet')
  const upstreams: Record<string, { ok: boolean; address: string; error?: string }> = {}
  for (const [name, { ok, address, error }] of ctx.probe?.upstreams ?? []) {
    upstreams[name] = { ok, address, ...(error ? { error } : {}) }
    if (!ok) reasons.push(`upstream ${name} (${address}) is unreachable: ${error}`)
  }
  const probed = Object.values(upstreams)
  if (probed.length > 0 && probed.every((u) => !u.ok)) blocking.push('no upstream is reachable')
  return { ready: blocking.length === 0, reasons: [...blocking, ...reasons], upstreams }
}

/** The identity a bearer token proves: a workload identity token (JWT) verified with its issuer, or a static token's digest. */
async function identityForBearer(ctx: AdminContext, token: string): Promise<{ identity?: string; workload?: WorkloadClaims; refusal?: string }> {
  const bundle = ctx.state.current?.bundle
  if (!bundle) return {}
  if (!looksLikeJwt(token)) {
    const identity = identityForStaticToken(bundle, token, new Date())
    return identity ? { identity } : {}
  }
  const check = await ctx.workloadTokens.verify(bundle, token)
  return check.ok ? { identity: check.identity, workload: check.claims } : { refusal: check.reason, ...(check.claims ? { workload: check.claims } : {}) }
}

/** A refused workload token is audited with its reason, as on the other fronts (never the token itself). */
function recordBearerRefusal(ctx: AdminContext, reason: string, workload: WorkloadClaims | undefined): void {
  ctx.log.warn('authentication failed', { protocol: 'http', reason })
  try {
    ctx.audit.append({ kind: 'auth.failure', data: { protocol: 'http', reason, ...(workload ? { workload } : {}) } }, 'async')
  } catch {
    // The refusal stands either way.
  }
}

export function createAdminServer(ctx: AdminContext): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin')
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /healthz') return send(res, 200, 'ok\n', 'text/plain')
    if (route === 'GET /readyz') {
      const { ready, reasons, upstreams } = readiness(ctx)
      return send(res, ready ? 200 : 503, { ready, revision: ctx.state.current?.revision ?? null, reasons, store: ctx.probe?.store ?? null, upstreams })
    }
    if (route === 'GET /status') {
      const current = ctx.state.current
      return send(res, 200, {
        bundle: current
          ? { revision: current.revision, sequence: current.sequence, digest: current.digest, origin: current.origin, loadedAt: current.loadedAt.toISOString(), ageSeconds: Math.round((Date.now() - current.loadedAt.getTime()) / 1000) }
          : null,
        lastRejection: ctx.state.lastRejection ? { ...ctx.state.lastRejection, at: ctx.state.lastRejection.at.toISOString() } : null,
        store: { kind: ctx.db.kind, healthy: ctx.audit.healthy, queuedEvents: ctx.audit.queued },
        sessions: { postgres: ctx.sessions.count('postgres'), ssh: ctx.sessions.count('ssh') },
        // Resources reached with a superuser account: the policies are then the only limit.
        upstream: { superuser: [...ctx.superuserResources].sort() },
      })
    }
    if (route === 'GET /metrics') return send(res, 200, ctx.metrics.render(), 'text/plain; version=0.0.4')
    if (route === 'GET /v1/self') {
      const token = bearer(req)
      const { identity, workload, refusal } = token ? await identityForBearer(ctx, token) : {}
      const engine = ctx.state.current?.engine
      if (refusal) recordBearerRefusal(ctx, refusal, workload)
      if (!identity || !engine) return send(res, 401, { error: 'a valid identity token is required (Authorization: Bearer …)' })
      const activity = await activityRows(ctx.db, identity, 50)
      return send(res, 200, {
        ...selfDocument(engine, identity),
        ...(workload ? { workload } : {}),
        activity: activity.map(([time, session, kind, statement, decision, rule, outcome]) => ({ time, session, kind, statement, decision, rule, outcome })),
      })
    }
    if (/^\/v1\/(approvals|audit|sessions|recordings)(\/|$)/.test(url.pathname)) return operator(req, res, url)
    return send(res, 404, { error: 'not found' })
  }

  /** For operators (admin token): what `gatehouse approvals|audit|sessions --admin URL` asks. */
  const operator = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const token = bearer(req)
    if (!ctx.adminTokenDigest || !token || !timingSafeEqual(sha256(token), ctx.adminTokenDigest)) {
      return send(res, 401, { error: 'an admin token is required' })
    }
    const param = (name: string) => url.searchParams.get(name) ?? undefined
    const date = (name: string) => (param(name) ? new Date(param(name)!) : undefined)
    if (req.method === 'GET' && url.pathname === '/v1/approvals') {
      const id = param('id')
      if (id) return send(res, 200, { approvals: [await getApproval(ctx.db, id)].filter(Boolean) })
      const status = param('status') as ApprovalStatus | undefined
      return send(res, 200, { approvals: await listApprovals(ctx.db, status ? { status } : {}) })
    }
    if (req.method === 'GET' && url.pathname === '/v1/audit/verify') return send(res, 200, await verifyAudit(ctx.db))
    if (req.method === 'GET' && url.pathname === '/v1/audit/events') {
      const since = date('since')
      const until = date('until')
      const events = await queryEvents(ctx.db, {
        ...(param('identity') ? { identity: param('identity')! } : {}),
        ...(param('resource') ? { resource: param('resource')! } : {}),
        ...(param('session') ? { sessionId: param('session')! } : {}),
        ...(param('kinds') ? { kinds: param('kinds')!.split(',') } : {}),
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        limit: Number(param('limit') ?? 1000),
      })
      return send(res, 200, { events })
    }
    if (req.method === 'GET' && url.pathname === '/v1/sessions') {
      const since = date('since')
      return send(res, 200, { sessions: await listSessions(ctx.db, { ...(param('identity') ? { identity: param('identity')! } : {}), ...(since ? { since } : {}), limit: Number(param('limit') ?? 100) }) })
    }
    const recording = /^\/v1\/recordings\/([0-9a-f]{64})$/.exec(url.pathname)
    if (req.method === 'GET' && recording) {
      // Checked against its digest here; the reader checks again against the digest its hash-chained event names.
      const bytes = (await readRecordingChunks(ctx.db, [recording[1]!])).get(recording[1]!)!
      if (typeof bytes === 'string') return send(res, 404, { error: `recorded output ${recording[1]} ${bytes}` })
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length })
      return res.end(bytes)
    }
    const match = /^\/v1\/approvals\/([A-Za-z0-9_-]{1,64})\/(approve|deny)$/.exec(url.pathname)
    if (req.method !== 'POST' || !match) return send(res, 404, { error: 'not found' })
    const body = await readJson(req)
    const approver = typeof body?.approver === 'string' ? body.approver : undefined
    if (!approver || approver.length > 200) return send(res, 400, { error: 'body must be JSON with an `approver`' })
    const result = await voteOnApproval(ctx.db, match[1]!, {
      approver,
      decision: match[2] === 'approve' ? 'approve' : 'deny',
      source: 'admin-api',
      ...(typeof body?.reason === 'string' ? { reason: body.reason.slice(0, 500) } : {}),
    })
    ctx.log.info('approval decided through the admin API', { approval: match[1], approver, decision: match[2], ok: result.ok })
    return send(res, result.ok ? 200 : 409, result)
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      ctx.log.error('admin request failed', { path: req.url, error: err })
      if (!res.headersSent) send(res, 500, { error: 'internal error' })
      else res.destroy()
    })
  })
}
