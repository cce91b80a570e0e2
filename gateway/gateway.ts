// The gateway process: the store and its audit writer, the bundle (restored,
// then kept current from its source), the protocol fronts, and the admin
// listener, wired together and stopped in order.
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import path from 'node:path'
import { CLOCK_VARIABLE, clockIsSet, now } from '../cli/clock.js'
import { createSqlClassifier, loadSqlParser, type SqlClassifier } from '../engine/sql/index.js'
import { AuditWriter, type AuditEventInput } from '../store/audit-log.js'
import { AuditSpool } from '../store/audit-spool.js'
import { openDatabase, type Database } from '../store/database.js'
import { createAdminServer } from './admin/server.js'
import { createBundleSource, type BundleSource } from './bundle/sources.js'
import { BundleState } from './bundle/state.js'
import type { GatewayConfig, ListenAddress } from './config.js'
import { createLogger, type Logger } from '../runtime/log.js'
import { Metrics, type Counter } from '../runtime/metrics.js'
import { IssuerKeys } from './oidc/issuer-keys.js'
import { createWorkloadVerifier, DEFAULT_MAX_TOKEN_AGE_SECONDS, type WorkloadVerifier } from './oidc/verify.js'
import { createPostgresFront } from './postgres/front.js'
import { createDecisionCache, type DecisionCache } from './postgres/decision-cache.js'
import { ConnectionLimiter } from './connection-limits.js'
import { resolveLimits } from './limits.js'
import { createReadinessProbe } from './readiness.js'
import { SessionRegistry } from './sessions.js'

/** What every protocol front shares. */
export interface GatewayContext {
  config: GatewayConfig
  log: Logger
  metrics: Metrics
  counters: {
    decisions: Counter
    statements: Counter
    maskedValues: Counter
    auditHeld: Counter
    authFailures: Counter
  }
  state: BundleState
  db: Database
  audit: AuditWriter
  sessions: SessionRegistry
  classifier: SqlClassifier
  decisions: DecisionCache
  /** Key of the `hash` masking strategy: stable across restarts so hashed values stay joinable. */
  maskKey: Buffer
  /** Holds waiting for approval, for the metric. */
  approvalsWaiting: { count: number }
  /** PostgreSQL resources whose upstream account turned out to be a superuser (on /status). */
  superuserResources: Set<string>
  /** Open client connections of both fronts, against their caps. */
  connections: ConnectionLimiter
  /** Verifies workload identity (OIDC) tokens against their issuers' keys. */
  workloadTokens: WorkloadVerifier
}

export interface Front {
  listen(address: ListenAddress): Promise<AddressInfo>
  close(): Promise<void>
}

export interface RunningGateway {
  context: GatewayContext
  addresses: { postgres?: AddressInfo; ssh?: AddressInfo; admin?: AddressInfo }
  stop(): Promise<void>
}

async function loadOrCreateKey(file: string): Promise<Buffer> {
  const existing = await readFile(file).catch(() => undefined)
  if (existing?.length === 32) return existing
  const key = randomBytes(32)
  await writeFile(file, key, { mode: 0o600 })
  return key
}

async function adminTokenDigest(config: GatewayConfig): Promise<Buffer | undefined> {
  const token = config.adminTokenFile ? (await readFile(config.adminTokenFile, 'utf8')).trim() : process.env.GATEHOUSE_ADMIN_TOKEN
  return token ? createHash('sha256').update(token).digest() : undefined
}

function listenHttp(server: Server, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => resolve(server.address() as AddressInfo))
  })
}

/** Writes the audit events earlier runs spooled during a store outage, before this run's own. */
async function resumeSpooledAudit(db: Database, dir: string, log: Logger): Promise<void> {
  for (const { spool, queue } of await AuditSpool.list(dir)) {
    try {
      const events = await AuditWriter.resume(db, queue)
      await spool.remove()
      log.info('wrote audit events spooled by an earlier run', { chain: queue.chain, events })
    } catch (error) {
      // Kept for the next start (or an operator); this run writes its own chain.
      log.error('could not write audit events spooled by an earlier run', { file: spool.file, error: error as Error })
    }
  }
}

/** Events about the gateway itself are recorded even while the store fails; if even that is impossible, the log says so. */
/** The backpressure warning is logged at most this often; the metrics count every episode. */
const BACKPRESSURE_LOG_INTERVAL_MS = 10_000

function recordGatewayEvent(audit: AuditWriter, log: Logger, event: AuditEventInput): void {
  try {
    audit.appendEvenIfUnavailable(event)
  } catch (error) {
    log.error('could not record an audit event', { kind: event.kind, error: error as Error })
  }
}

export async function startGateway(config: GatewayConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<RunningGateway> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
  // Decisions and identity expiry follow this clock: say so when it is not the machine's.
  if (clockIsSet()) log.warn(`the clock is set by ${CLOCK_VARIABLE}`, { now: now().toISOString() })
  // The SQL parser and an embedded store are both WebAssembly: compile them side by side.
  const parser = loadSqlParser()
  parser.catch(() => undefined)
  const publicKey: KeyObject | undefined = config.publicKey ? createPublicKey(await readFile(config.publicKey)) : undefined
  const db = await openDatabase(config.store)
  try {
    await parser
  } catch (err) {
    await db.close().catch(() => undefined)
    throw err
  }
  const metrics = new Metrics()
  const commits = metrics.counter('gatehouse_audit_commits_total', 'Audit batches committed to the store, by durability: sync when a statement waited for the commit.')
  const commitSeconds = metrics.counter('gatehouse_audit_commit_seconds_total', 'Seconds spent committing audit batches, by durability; over gatehouse_audit_commits_total, the mean commit latency.')
  const backpressureEpisodes = metrics.counter('gatehouse_audit_backpressure_episodes_total', 'Times the audit writer started holding async statements back because the store did not keep up.')
  let lastBackpressureLog = -Infinity
  const eventsWritten = metrics.counter('gatehouse_audit_events_written_total', 'Audit events committed to the store.')
  const spoolDir = path.join(config.dataDir, 'audit-spool')
  await resumeSpooledAudit(db, spoolDir, log)
  const chain = `${hostname()}/${process.pid}/${Date.now().toString(36)}`
  const audit = await AuditWriter.open(db, {
    chain,
    spool: AuditSpool.forChain(spoolDir, chain),
    onSpoolError: (error) => log.error('could not spool audit events to local disk; a restart during this outage would lose them', { error }),
    flushIntervalMs: config.auditFlushMs,
    onCommit: ({ events, seconds, sync }) => {
      const labels = { durability: sync ? 'sync' : 'async' }
      commits.inc(labels)
      commitSeconds.inc(labels, seconds)
      eventsWritten.inc({}, events)
    },
    onBackpressure: (on, { queued, oldestMs }) => {
      if (!on) return
      backpressureEpisodes.inc()
      // At most one line per interval: under a store that barely keeps up, episodes can follow each other quickly.
      if (performance.now() - lastBackpressureLog < BACKPRESSURE_LOG_INTERVAL_MS) return
      lastBackpressureLog = performance.now()
      log.warn('the audit store does not keep up; async statements wait for their audit records until it does', { queued, oldestMs: Math.round(oldestMs), flushMs: config.auditFlushMs })
    },
    onHealthChange: (healthy, error) =>
      healthy ? log.info('audit store is back; accepting statements again') : log.error('audit store unavailable; refusing statements until it is back', { error }),
  })
  const state = new BundleState({ ...(publicKey ? { publicKey } : {}), persistDir: config.dataDir, allowRollback: config.allowBundleRollback === true, log })
  const sessions = new SessionRegistry()
  const limits = resolveLimits(config.limits)
  const context: GatewayContext = {
    config,
    log,
    metrics,
    counters: {
      decisions: metrics.counter('gatehouse_decisions_total', 'Decisions by protocol, effect and whether an observe-mode rule would have decided differently.'),
      statements: metrics.counter('gatehouse_statements_total', 'Statements and commands received, by protocol.'),
      maskedValues: metrics.counter('gatehouse_masked_values_total', 'Values masked before they left the gateway, by protocol.'),
      auditHeld: metrics.counter('gatehouse_audit_held_total', 'Statements of async-audit resources that waited for their audit record because of backpressure, by protocol.'),
      authFailures: metrics.counter('gatehouse_auth_failures_total', 'Failed client authentications, by protocol.'),
    },
    state,
    db,
    audit,
    sessions,
    classifier: createSqlClassifier({ cacheSize: 10_000, maxBytes: limits.maxStatementBytes }),
    decisions: createDecisionCache(10_000),
    maskKey: await loadOrCreateKey(path.join(config.dataDir, 'mask-key')),
    approvalsWaiting: { count: 0 },
    superuserResources: new Set(),
    connections: new ConnectionLimiter(limits, metrics.counter('gatehouse_connections_refused_total', 'Client connections refused at a connection cap, by protocol and cap (total or address).')),
    workloadTokens: createWorkloadVerifier(new IssuerKeys({ log, ...(config.oidcCa ? { ca: await readFile(config.oidcCa, 'utf8') } : {}) }), config.oidcMaxTokenAge ?? DEFAULT_MAX_TOKEN_AGE_SECONDS),
  }
  metrics.gauge('gatehouse_sessions', 'Open client sessions by protocol.', () => [
    { labels: { protocol: 'postgres' }, value: sessions.count('postgres') },
    { labels: { protocol: 'ssh' }, value: sessions.count('ssh') },
  ])
  metrics.gauge('gatehouse_connections', 'Open client connections, both fronts.', () => [{ labels: {}, value: context.connections.count }])
  metrics.gauge('gatehouse_approvals_waiting', 'Requests held until people decide.', () => [{ labels: {}, value: context.approvalsWaiting.count }])
  metrics.gauge('gatehouse_bundle_info', 'The bundle in force (value 1), by revision.', () =>
    state.current ? [{ labels: { revision: state.current.revision }, value: 1 }] : [],
  )
  metrics.gauge('gatehouse_bundle_age_seconds', 'Seconds since the bundle in force was loaded.', () =>
    state.current ? [{ labels: {}, value: Math.round((Date.now() - state.current.loadedAt.getTime()) / 1000) }] : [],
  )
  metrics.gauge('gatehouse_audit_queue', 'Audit events waiting to be written.', () => [{ labels: {}, value: audit.queued }])
  metrics.gauge('gatehouse_audit_oldest_event_seconds', 'Age of the oldest audit event not yet written: what an abrupt stop would lose (kept under twice the flush interval).', () => [
    { labels: {}, value: audit.oldestQueuedMs / 1000 },
  ])
  metrics.gauge('gatehouse_audit_backpressure', '1 while the audit store does not keep up and async statements wait for their records.', () => [{ labels: {}, value: audit.backpressure ? 1 : 0 }])
  metrics.gauge('gatehouse_audit_healthy', '1 while the audit store accepts writes.', () => [{ labels: {}, value: audit.healthy ? 1 : 0 }])

  const probe = createReadinessProbe({
    db,
    state,
    intervalMs: config.readinessIntervalMs,
    onStoreChange: (ok, error) => (ok ? log.info('the store answers the readiness probe') : log.error('the store does not answer the readiness probe', { reason: error ?? '' })),
  })
  metrics.gauge('gatehouse_store_up', '1 while the store answered the last readiness probe.', () => (probe.store ? [{ labels: {}, value: probe.store.ok ? 1 : 0 }] : []))
  metrics.gauge('gatehouse_upstream_up', '1 while the upstream accepted a connection at the last readiness probe, by resource.', () =>
    [...probe.upstreams].map(([resource, { ok }]) => ({ labels: { resource }, value: ok ? 1 : 0 })),
  )

  state.onChange((next, previous) => {
    // Also while the store is failing: the event waits in the spool, the bundle applies.
    recordGatewayEvent(audit, log, { kind: 'bundle.loaded', data: { revision: next.revision, digest: next.digest, previous: previous?.revision ?? null, origin: next.origin } })
    const closed = sessions.closeRemoved((identity) => Object.hasOwn(next.bundle.identities, identity))
    if (closed > 0) log.info('closed sessions of removed identities', { sessions: closed })
  })
  const rejections = metrics.counter('gatehouse_bundle_rejections_total', 'Bundles refused (the one in force stays), by code: bundle.rollback, bundle.not_newer, bundle.bad_signature, ...')
  state.onReject((rejection) => {
    rejections.inc({ code: rejection.code })
    // In the hash chain, so an attempted rollback or a tampered bundle leaves a tamper-evident trace.
    recordGatewayEvent(audit, log, { kind: 'bundle.rejected', data: { code: rejection.code, reason: rejection.reason, origin: rejection.origin, inForce: state.current?.revision ?? null } })
  })
  await state.restore()
  const source: BundleSource = createBundleSource(config.bundle, state, log)
  await source.start()
  await probe.probe()
  if (!state.current) log.error('no valid bundle: every request is denied until one loads', { source: config.bundle })

  const fronts: Front[] = []
  const addresses: RunningGateway['addresses'] = {}
  let listening = false
  let admin: Server | undefined
  try {
    const serve = async (name: 'postgres' | 'ssh', front: Front, at: ListenAddress) => {
      fronts.push(front)
      const address = await front.listen(at)
      addresses[name] = address
      log.info(`${name === 'postgres' ? 'PostgreSQL' : 'SSH'} front listening`, { address: `${address.address}:${address.port}` })
    }
    if (config.postgresListen) await serve('postgres', createPostgresFront(context), config.postgresListen)
    // Loaded only when configured: ssh2 and its crypto are a good part of a PostgreSQL-only gateway's start-up.
    if (config.sshListen) await serve('ssh', (await import('./ssh/front.js')).createSshFront(context), config.sshListen)
    if (config.adminListen) {
      const digest = await adminTokenDigest(config)
      admin = createAdminServer({ state, db, audit, metrics, sessions, log, probe, workloadTokens: context.workloadTokens, listening: () => listening, superuserResources: context.superuserResources, ...(digest ? { adminTokenDigest: digest } : {}) })
      const address = await listenHttp(admin, config.adminListen)
      addresses.admin = address
      log.info('admin listening', { address: `${address.address}:${address.port}` })
    }
    listening = true
  } catch (err) {
    probe.stop()
    source.stop()
    for (const front of fronts) await front.close().catch(() => undefined)
    admin?.close()
    await audit.close().catch(() => undefined)
    await db.close().catch(() => undefined)
    throw err
  }

  let stopping: Promise<void> | undefined
  return {
    context,
    addresses,
    stop() {
      stopping ??= (async () => {
        probe.stop()
        source.stop()
        await Promise.all(fronts.map((f) => f.close()))
        await new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve()))
        await audit.close().catch((err: Error) => log.error('audit events could not be flushed at shutdown', { error: err }))
        await db.close()
      })()
      return stopping
    },
  }
}
