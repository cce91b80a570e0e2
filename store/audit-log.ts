// The audit trail: append-only, hash-chained, written with group commit.
//
// Every append joins a queue; one flush writes everything queued in a single
// transaction, so durability costs one shared commit, not one per event. A
// `sync` append is flushed at once (the caller waits for it before letting a
// statement run); `async` appends are flushed within `flushIntervalMs`.
// That window holds under load: a full batch is written at once, and while
// the oldest queued event has waited its interval, batches follow each other
// back to back. When the store still cannot keep up (the oldest event has
// waited one and a half intervals, or the queue is half full), the writer applies
// backpressure: async appends are marked `hold`, their callers wait for the
// record like sync ones, and intake slows to what the store can commit.
// When the store fails, the writer reports itself unhealthy, refuses new
// appends (callers fail closed), keeps what it holds (and spools it to a
// local file, so a restart does not lose it) and retries until the store is
// back.
//
// A batch is identified by its chain, its sequence range and its digest (the
// hash of its last event, which covers every event before it). After a failed
// write the writer does not know whether the store committed: before trying
// again it reads the chain's head from the store and, when the store holds
// more than the writer knew, checks that the extra events are the first ones
// it queued (same sequence, same hash) and carries on after them. A lost
// acknowledgement therefore never makes the writer insert twice.
import { hash, randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { canonicalJson } from '../engine/bundle-integrity.js'
import type { Database, Queryable } from './database.js'
import type { AuditSpool, SpooledQueue } from './audit-spool.js'

export interface AuditEventInput {
  kind: string
  time?: Date
  sessionId?: string
  identity?: string
  resource?: string
  data: Record<string, unknown>
  /** Counts as a use of the identity, and of this rule when given (for stale sweeps). */
  usage?: { rule?: string }
  /**
   * Fields that repeat across many events (a decision's rule, reasons, masks
   * and bundle revision): stored once, under the SHA-256 of their canonical
   * JSON, and named by it in the event's data as `shared`. Pass the same
   * object for the same fields: its digest is computed once per object.
   */
  shared?: Record<string, unknown>
}

/** Fields stored once for many events: `body`, their canonical JSON, and `id`, its SHA-256. */
export interface SharedFields {
  id: string
  body: string
}

/** Shared fields the writer remembers the store holding; beyond this it forgets them all (they are then sent again, harmlessly). */
const MAX_KNOWN_SHARED = 10_000

export interface StoredEvent {
  chain: string
  seq: number
  id: string
  time: string
  kind: string
  sessionId: string | null
  identity: string | null
  resource: string | null
  data: Record<string, unknown>
  prevHash: string
  hash: string
}

export type Durability = 'sync' | 'async'

/** An event chained for writing, with `body`: its data's canonical JSON, as hashed and as stored. */
type ChainedRow = StoredEvent & { body: string }

export class AuditUnavailableError extends Error {
  readonly code = 'audit.unavailable'
}

interface Carried {
  outcome: Record<string, unknown>
  /** The event written instead when the session has no next event within the flush interval. */
  fallback: AuditEventInput
  due: number
}

interface Pending {
  event: Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'>
  usage: AuditEventInput['usage'] | undefined
  /** The shared fields the event names, written with it unless the store is known to hold them. */
  shared: SharedFields | undefined
  settle: { resolve: () => void; reject: (err: Error) => void }
  urgent: boolean
  /** performance.now() when it was queued: the loss window is measured from here. */
  queuedAt: number
  /** Once an event has been part of a write attempt its content is final: a retry must hash what may already be committed. */
  sealed: boolean
}

export interface AuditWriterOptions {
  /** Chain name; one per writing process. */
  chain?: string
  flushIntervalMs?: number
  /** Events held in memory at most; beyond this, appends are refused. */
  maxQueue?: number
  /** Events per transaction. */
  batchSize?: number
  onHealthChange?: (healthy: boolean, error?: Error) => void
  /** After each batch the store committed: how many events, how long the write took, and whether a statement waited for it. */
  onCommit?: (commit: { events: number; seconds: number; sync: boolean }) => void
  /** Where the queue is kept while the store is failing and at a close that could not flush. */
  spool?: AuditSpool
  onSpoolError?: (error: Error) => void
  /** Backpressure starts (true) or ends (false), with the queue and its oldest event's age when it changed. */
  onBackpressure?: (on: boolean, state: { queued: number; oldestMs: number }) => void
}

export const GENESIS_HASH = '0'.repeat(64)
/** Sessions whose tags are kept (about 300 bytes each). */
const MAX_TAGGED_SESSIONS = 10_000

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(10).toString('base64url')}`
}

/** Event ids: a random prefix per process and a counter, unique without a random draw per event. */
const EVENT_PREFIX = `evt_${randomBytes(8).toString('base64url')}`
let eventCounter = 0
const nextEventId = () => `${EVENT_PREFIX}.${(eventCounter++).toString(36)}`

/** Text PostgreSQL can store: no NUL, no lone surrogates. */
function storable(value: unknown): unknown {
  // Nearly every string is already storable: checking first costs a third of repairing.
  if (typeof value === 'string') return value.isWellFormed() && !value.includes('\0') ? value : value.toWellFormed().replace(/\0/g, '\uFFFD')
  if (Array.isArray(value)) return value.map(storable)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[storable(k) as string] = storable(v)
    return out
  }
  return value
}

/**
 * The text an event's hash covers: the canonical JSON of its fields, with
 * `body`, the canonical JSON of its data, placed as is. The same text as
 * canonicalJson of the whole event (keys in sorted order), built without
 * serialising the data a second time.
 */
function hashedText(event: Omit<StoredEvent, 'data' | 'prevHash' | 'hash'>, body: string): string {
  const text = JSON.stringify
  return `{"chain":${text(event.chain)},"data":${body},"id":${text(event.id)},"identity":${text(event.identity)},"kind":${text(event.kind)},"resource":${text(event.resource)},"seq":${event.seq},"sessionId":${text(event.sessionId)},"time":${text(event.time)}}`
}

/** The hash of an event whose data serialises to `body`, after the event hashed `prevHash`. */
export function bodyHash(prevHash: string, event: Omit<StoredEvent, 'data' | 'prevHash' | 'hash'>, body: string): string {
  // One-shot: a Hash object and its four native calls cost more than the hashing of a few hundred bytes.
  return hash('sha256', `${prevHash}\n${hashedText(event, body)}`, 'hex')
}

export function eventHash(prevHash: string, event: Omit<StoredEvent, 'prevHash' | 'hash'>): string {
  return bodyHash(prevHash, event, canonicalJson(event.data))
}

/** An event as it is hashed and stored: text PostgreSQL can hold, absent fields as null. */
function storableEvent(chain: string, id: string, input: Omit<AuditEventInput, 'usage'>): Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'> {
  return {
    chain,
    id,
    time: (input.time ?? new Date()).toISOString(),
    kind: input.kind,
    sessionId: (storable(input.sessionId) as string | undefined) ?? null,
    identity: (storable(input.identity) as string | undefined) ?? null,
    resource: (storable(input.resource) as string | undefined) ?? null,
    data: storable(input.data) as Record<string, unknown>,
  }
}

/**
 * Appends one event to `chain` inside the caller's transaction, so the event
 * and the change it records commit together or not at all. Every process
 * that writes to such a shared chain (each one recording approval votes)
 * takes its turn on the chain's row lock.
 */
export async function appendInTransaction(tx: Queryable, chain: string, input: Omit<AuditEventInput, 'usage'>): Promise<StoredEvent> {
  await tx.query('INSERT INTO gatehouse.audit_chains (chain, created_at, last_seq, last_hash) VALUES ($1, now(), 0, $2) ON CONFLICT (chain) DO NOTHING', [chain, GENESIS_HASH])
  const rows = await tx.query<{ last_seq: string; last_hash: string }>('SELECT last_seq::text, last_hash FROM gatehouse.audit_chains WHERE chain = $1 FOR UPDATE', [chain])
  const prevHash = rows[0]!.last_hash
  const event = { ...storableEvent(chain, nextEventId(), input), seq: Number(rows[0]!.last_seq) + 1 }
  const body = canonicalJson(event.data)
  const hash = bodyHash(prevHash, event, body)
  await tx.query(
    'INSERT INTO gatehouse.audit_events (chain, seq, id, time, kind, session_id, identity, resource, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
    [chain, event.seq, event.id, event.time, event.kind, event.sessionId, event.identity, event.resource, body, prevHash, hash],
  )
  await tx.query('UPDATE gatehouse.audit_chains SET last_seq = $2, last_hash = $3 WHERE chain = $1', [chain, event.seq, hash])
  return { ...event, prevHash, hash }
}

export class AuditWriter {
  readonly chain: string
  private seq = 0
  private head = GENESIS_HASH
  private queue: Pending[] = []
  /** Queued events that may still be amended, by id. */
  private open = new Map<string, Pending>()
  private readonly sharedOf = new WeakMap<object, SharedFields>()
  private knownShared = new Set<string>()
  /** Outcomes of written events waiting for their session's next event, by session (see settleOutcome). */
  private carried = new Map<string, Carried[]>()
  private carryTimer: NodeJS.Timeout | undefined
  /** Fields added to every event of a session (see tagSession). */
  private readonly sessionTags = new Map<string, Record<string, unknown>>()
  private flushing = false
  private timer: NodeJS.Timeout | undefined
  private immediate: NodeJS.Immediate | undefined
  private retryDelay = 0
  private closed = false
  private healthyNow = true
  /** Set by a failed write: the store may have committed it, so its head is read before writing again. */
  private unsure = false
  private readonly flushIntervalMs: number
  private readonly maxQueue: number
  private readonly batchSize: number
  private pressed = false

  private constructor(
    private readonly db: Database,
    chain: string,
    private readonly options: AuditWriterOptions,
  ) {
    this.chain = chain
    this.flushIntervalMs = options.flushIntervalMs ?? 100
    this.maxQueue = options.maxQueue ?? 100_000
    this.batchSize = options.batchSize ?? 500
  }

  static async open(db: Database, options: AuditWriterOptions = {}): Promise<AuditWriter> {
    const chain = options.chain ?? `${hostname()}/${process.pid}/${Date.now().toString(36)}`
    const writer = new AuditWriter(db, chain, options)
    const rows = await db.query<{ last_seq: string; last_hash: string }>('SELECT last_seq::text, last_hash FROM gatehouse.audit_chains WHERE chain = $1', [chain])
    if (rows[0]) {
      writer.seq = Number(rows[0].last_seq)
      writer.head = rows[0].last_hash
    } else {
      await db.query('INSERT INTO gatehouse.audit_chains (chain, created_at, last_seq, last_hash) VALUES ($1, now(), 0, $2)', [chain, GENESIS_HASH])
    }
    return writer
  }

  /**
   * Writes what an earlier process spooled, continuing its own chain from
   * where that process knew the store stood; events the store already holds
   * (an acknowledgement lost before the process stopped) are recognised, not
   * written twice. Throws if the store fails, leaving the spool in place.
   */
  static async resume(db: Database, spooled: SpooledQueue): Promise<number> {
    const writer = new AuditWriter(db, spooled.chain, {})
    writer.seq = spooled.seq
    writer.head = spooled.head
    writer.unsure = true
    for (const { event, usage, shared } of spooled.events) {
      writer.queue.push({ event, usage, shared, settle: { resolve: () => undefined, reject: () => undefined }, urgent: false, queuedAt: performance.now(), sealed: true })
    }
    try {
      await writer.flush()
    } finally {
      writer.stopTimers()
      writer.closed = true
    }
    return spooled.events.length
  }

  get healthy(): boolean {
    return this.healthyNow
  }

  get queued(): number {
    return this.queue.length
  }

  /** Milliseconds the oldest queued event has waited (0 when none): what an abrupt stop would lose. */
  get oldestQueuedMs(): number {
    const oldest = this.queue[0]
    return oldest ? performance.now() - oldest.queuedAt : 0
  }

  /** True while the writer holds async appends back because the store does not keep up. */
  get backpressure(): boolean {
    return this.pressed
  }

  /**
   * Queues an event. `durable` settles when the event is committed (or
   * rejects if that flush fails). `hold` is true when the caller must wait
   * for `durable` before going on, even in async mode: the writer is
   * applying backpressure. Throws AuditUnavailableError, without queueing,
   * when the store is failing or the queue is full.
   */
  append(input: AuditEventInput, durability: Durability): { id: string; durable: Promise<void>; hold: boolean } {
    if (!this.healthyNow) throw new AuditUnavailableError('the audit store is unavailable')
    return this.enqueue(input, durability)
  }

  /**
   * Queues an event about the gateway itself (a bundle loaded or rejected)
   * even while the store is failing: nothing waits for it, it is spooled with
   * the rest of the queue and written when the store is back. Throws
   * AuditUnavailableError only when the writer is closed or the queue full.
   */
  appendEvenIfUnavailable(input: AuditEventInput): { id: string } {
    const { id } = this.enqueue(input, 'async')
    if (!this.healthyNow) void this.saveSpool()
    return { id }
  }

  private enqueue(input: AuditEventInput, durability: Durability): { id: string; durable: Promise<void>; hold: boolean } {
    if (this.closed) throw new AuditUnavailableError('the audit writer is closed')
    if (this.queue.length >= this.maxQueue) throw new AuditUnavailableError('the audit queue is full')
    this.checkPressure()
    const hold = durability === 'async' && this.pressed
    const id = nextEventId()
    let settle!: Pending['settle']
    const durable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    // Nobody may be left with an unhandled rejection; callers that care await `durable`.
    durable.catch(() => undefined)
    const shared = input.shared && this.share(input.shared)
    const data = this.withCarried(input.sessionId, this.withSessionTags(input))
    const pending: Pending = {
      event: storableEvent(this.chain, id, { ...input, data: shared ? { ...data, shared: shared.id } : data }),
      usage: input.usage,
      shared,
      settle,
      urgent: durability === 'sync' || hold,
      queuedAt: performance.now(),
      sealed: false,
    }
    this.queue.push(pending)
    this.open.set(id, pending)
    // A full batch does not wait: waiting would only let the backlog grow.
    this.schedule(pending.urgent || this.queue.length >= this.batchSize ? 0 : this.flushIntervalMs)
    return { id, durable, hold }
  }

  private share(fields: Record<string, unknown>): SharedFields {
    let shared = this.sharedOf.get(fields)
    if (!shared) {
      const body = canonicalJson(storable(fields))
      shared = { id: hash('sha256', body, 'hex'), body }
      this.sharedOf.set(fields, shared)
    }
    return shared
  }

  /**
   * Backpressure starts when the oldest queued event has waited one and a
   * half flush intervals (an event normally leaves after one, plus the write
   * in progress; held from here, it still leaves inside twice the interval)
   * or the queue is half full, and ends when the backlog is gone.
   */
  private checkPressure(): void {
    const oldestMs = this.oldestQueuedMs
    const on = this.pressed ? oldestMs > this.flushIntervalMs / 2 || this.queue.length > this.maxQueue / 4 : oldestMs >= this.flushIntervalMs * 1.5 || this.queue.length > this.maxQueue / 2
    if (on === this.pressed) return
    this.pressed = on
    this.options.onBackpressure?.(on, { queued: this.queue.length, oldestMs })
  }

  /** How long the writer may wait before its next batch: not at all while a full batch or an event past its interval waits. */
  private nextDelay(): number {
    const oldest = this.queue[0]
    if (!oldest || this.queue.length >= this.batchSize || this.queue.some((p) => p.urgent)) return 0
    return Math.max(0, Math.ceil(oldest.queuedAt + this.flushIntervalMs - performance.now()))
  }

  /**
   * Adds `fields` to the data of every event of the session: who the session
   * is beyond the identity name (a workload's verified claims), so each event
   * says it on its own. Events keep arriving after a session ends (recorded
   * output still being stored), so tags are not removed at the end: the
   * oldest are forgotten beyond MAX_TAGGED_SESSIONS, long after their last event.
   */
  tagSession(sessionId: string, fields: Record<string, unknown>): void {
    this.sessionTags.set(sessionId, fields)
    if (this.sessionTags.size > MAX_TAGGED_SESSIONS) this.sessionTags.delete(this.sessionTags.keys().next().value!)
  }

  private withSessionTags(input: AuditEventInput): Record<string, unknown> {
    const tags = this.sessionTags.size > 0 && input.sessionId !== undefined ? this.sessionTags.get(input.sessionId) : undefined
    return tags ? { ...input.data, ...tags } : input.data
  }

  /**
   * Adds fields to the data of an event that has not been written yet (a
   * statement's outcome, when it completes before its event is flushed), so
   * one event tells the whole story. Returns false when the event is already
   * on its way to the store; the caller then appends a separate event.
   */
  amend(id: string, data: Record<string, unknown>): boolean {
    const pending = this.open.get(id)
    if (!pending || pending.sealed) return false
    Object.assign(pending.event.data, storable(data))
    return true
  }

  /**
   * Records the outcome of event `id`, an event of `about`: in the event
   * itself while it is queued; once it is written (always so in sync mode,
   * where a statement's event is written before it runs), in the `outcomes`
   * of the next event of its session appended within the flush interval, so
   * a session that keeps working costs one row per statement; failing that,
   * as a `statement.outcome` event of its own. Throws AuditUnavailableError
   * only when that event is needed at once and cannot be queued.
   */
  settleOutcome(id: string, outcome: Record<string, unknown>, about: Pick<AuditEventInput, 'sessionId' | 'identity' | 'resource'>): void {
    if (this.amend(id, outcome)) return
    const fallback: AuditEventInput = { kind: 'statement.outcome', ...about, data: { event: id, ...outcome } }
    const sessionId = fallback.sessionId
    if (sessionId === undefined || this.closed) return void this.append(fallback, 'async')
    const list = this.carried.get(sessionId) ?? []
    list.push({ outcome: { event: id, ...(storable(outcome) as Record<string, unknown>) }, fallback, due: performance.now() + this.flushIntervalMs })
    this.carried.set(sessionId, list)
    this.armCarryTimer(this.flushIntervalMs)
  }

  private armCarryTimer(delay: number): void {
    this.carryTimer ??= setTimeout(() => {
      this.carryTimer = undefined
      this.releaseCarried(false)
    }, delay)
  }

  /** The session's carried outcomes join the data of its next event. */
  private withCarried(sessionId: string | undefined, data: Record<string, unknown>): Record<string, unknown> {
    const list = sessionId === undefined ? undefined : this.carried.get(sessionId)
    if (!list) return data
    this.carried.delete(sessionId!)
    return { ...data, outcomes: list.map((c) => c.outcome) }
  }

  /** Outcomes whose session wrote nothing within the interval (or all of them) become events of their own. */
  private releaseCarried(all: boolean): void {
    const now = performance.now()
    let next = Infinity
    for (const [sessionId, list] of this.carried) {
      if (!all && list[0]!.due > now) {
        next = Math.min(next, list[0]!.due)
        continue
      }
      this.carried.delete(sessionId)
      for (const { fallback } of list) {
        try {
          this.enqueue(fallback, 'async')
        } catch {
          // The queue is full or the writer closed: like an outcome appended while the store fails, it is lost, not waited for.
        }
      }
    }
    if (next < Infinity && !this.closed) this.armCarryTimer(Math.max(1, Math.ceil(next - now)))
  }

  /** Flushes everything queued now. */
  async flush(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.flushing) {
        await new Promise((r) => setTimeout(r, 1))
        continue
      }
      await this.flushBatch()
      if (!this.healthyNow) throw new AuditUnavailableError('the audit store is unavailable')
    }
  }

  /** Flushes; if the store fails, the queue is left in the spool (when there is one) for the next start. */
  async close(): Promise<void> {
    this.stopTimers()
    this.releaseCarried(true)
    try {
      await this.flush()
    } catch (err) {
      if (!this.options.spool) throw err
      await this.saveSpool()
      throw new AuditUnavailableError(`${(err as Error).message}; ${this.queue.length} events spooled to ${this.options.spool.file} for the next start`)
    } finally {
      this.stopTimers()
      this.closed = true
      await this.spoolWrites
    }
  }

  private stopTimers(): void {
    if (this.carryTimer) clearTimeout(this.carryTimer)
    this.carryTimer = undefined
    if (this.timer) clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    this.timer = undefined
    this.immediate = undefined
  }

  private schedule(delay: number): void {
    if (this.flushing || this.closed) return
    if (this.timer || this.immediate) {
      if (delay > 0 || this.immediate) return
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (delay === 0) {
      // Everything appended in this turn of the event loop joins the same
      // transaction (setTimeout would wait a millisecond at least).
      this.immediate = setImmediate(() => {
        this.immediate = undefined
        void this.flushBatch()
      })
      return
    }
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flushBatch()
    }, delay)
  }

  private async flushBatch(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return
    this.flushing = true
    const wasHealthy = this.healthyNow
    try {
      if (this.unsure) await this.reconcile()
      if (this.queue.length > 0) await this.writeBatch()
      this.setHealthy(true)
      this.retryDelay = 0
      // After an outage the spool follows the queue until the store holds everything.
      if (this.options.spool?.saved) void (this.queue.length === 0 ? this.dropSpool() : this.saveSpool())
    } catch (err) {
      // The callers of the failed batch learn now. Those queued behind it
      // wait for one retry (a lost acknowledgement is usually over by then);
      // when a retry fails too, the outage lasts and they learn as well,
      // instead of waiting for the store to come back however long it takes.
      // The events stay queued (and spooled) and are retried.
      for (const p of this.queue) if (p.sealed || !wasHealthy) p.settle.reject(new AuditUnavailableError(`audit write failed: ${(err as Error).message}`))
      this.setHealthy(false, err as Error)
      void this.saveSpool()
      this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 200), 5000)
    } finally {
      this.flushing = false
    }
    this.checkPressure()
    if (this.queue.length > 0 && !this.closed) {
      if (!this.healthyNow) this.schedule(this.retryDelay)
      else this.schedule(this.nextDelay())
    } else if (!this.healthyNow && !this.closed) this.probeLater()
  }

  /**
   * Chains the first `count` queued events after the committed head. Their
   * content is final from here on: each one's data is serialised once, and
   * that text is both what is hashed and what is stored.
   */
  private chainRows(count: number): ChainedRow[] {
    let seq = this.seq
    let head = this.head
    return this.queue.slice(0, count).map((p) => {
      p.sealed = true
      this.open.delete(p.event.id)
      seq += 1
      const withSeq = { ...p.event, seq }
      const body = canonicalJson(p.event.data)
      const hash = bodyHash(head, withSeq, body)
      const row = { ...withSeq, body, prevHash: head, hash }
      head = hash
      return row
    })
  }

  /** The first `count` queued events are in the store: they leave the queue and their callers learn. */
  private committed(count: number, rows: ChainedRow[]): void {
    const last = rows[count - 1]!
    this.seq = last.seq
    this.head = last.hash
    for (const p of this.queue.splice(0, count)) p.settle.resolve()
  }

  private async writeBatch(): Promise<void> {
    const rows = this.chainRows(this.batchSize)
    const batch = this.queue.slice(0, rows.length)
    const started = performance.now()
    const sync = batch.some((p) => p.urgent)
    // From the moment the write is sent until its answer, the store may commit it unseen.
    this.unsure = true
    const shared = new Map<string, string>()
    for (const p of batch) if (p.shared && !this.knownShared.has(p.shared.id)) shared.set(p.shared.id, p.shared.body)
    await this.write(rows, batch, shared, this.seq, sync)
    this.unsure = false
    if (this.knownShared.size + shared.size > MAX_KNOWN_SHARED) this.knownShared = new Set()
    for (const id of shared.keys()) this.knownShared.add(id)
    this.options.onCommit?.({ events: rows.length, seconds: (performance.now() - started) / 1000, sync })
    this.committed(rows.length, rows)
  }

  /**
   * After a write whose outcome is unknown: reads the chain's head in the
   * store. Events the store holds beyond the writer's own head must be the
   * first ones queued (sealed when they were sent), same sequence and same
   * hash; they count as committed.
   */
  private async reconcile(): Promise<void> {
    const found = await this.db.query<{ last_seq: string; last_hash: string }>('SELECT last_seq::text, last_hash FROM gatehouse.audit_chains WHERE chain = $1', [this.chain])
    const storedSeq = Number(found[0]?.last_seq ?? 0)
    const storedHash = found[0]?.last_hash ?? GENESIS_HASH
    const ahead = storedSeq - this.seq
    if (ahead === 0 && storedHash === this.head) {
      this.unsure = false
      return
    }
    const unsealed = this.queue.findIndex((p) => !p.sealed)
    const count = Math.min(ahead, unsealed === -1 ? this.queue.length : unsealed)
    const rows = count > 0 ? this.chainRows(count) : []
    const last = rows[count - 1]
    const storedThere = !last ? undefined : count === ahead ? storedHash : await this.storedHash(last.seq)
    // invariant: past this point the store holds exactly the events this writer chained, up to `last`.
    if (!last || last.hash !== storedThere || (ahead > count && this.queue.length > count)) {
      throw new Error(`audit chain ${this.chain} in the store (sequence ${storedSeq}) is not the one this writer holds (sequence ${this.seq}); another process writes it`)
    }
    this.committed(count, rows)
    this.unsure = false
  }

  private async storedHash(seq: number): Promise<string | undefined> {
    const rows = await this.db.query<{ hash: string }>('SELECT hash FROM gatehouse.audit_events WHERE chain = $1 AND seq = $2', [this.chain, seq])
    return rows[0]?.hash
  }

  /** With nothing queued, a failing store is noticed coming back by probing it. */
  private probeLater(): void {
    this.timer = setTimeout(async () => {
      this.timer = undefined
      try {
        await this.db.query('SELECT 1')
        this.setHealthy(true)
        this.retryDelay = 0
      } catch {
        this.retryDelay = Math.min(this.retryDelay * 2, 5000)
        if (!this.closed) this.probeLater()
      }
    }, this.retryDelay)
  }

  private async write(rows: ChainedRow[], batch: Pending[], shared: Map<string, string>, startSeq: number, sync: boolean): Promise<void> {
    // Usage per batch: one row per identity and per rule, whatever the number of events.
    const identities = new Map<string, { first: string; last: string; count: number }>()
    const rules = new Map<string, { rule: string; identity: string; last: string; count: number }>()
    for (const { event, usage } of batch) {
      if (!usage || !event.identity) continue
      const seen = identities.get(event.identity)
      if (seen) (seen.last = event.time), seen.count++
      else identities.set(event.identity, { first: event.time, last: event.time, count: 1 })
      if (!usage.rule) continue
      const key = `${usage.rule}\0${event.identity}`
      const used = rules.get(key)
      if (used) (used.last = event.time), used.count++
      else rules.set(key, { rule: usage.rule, identity: event.identity, last: event.time, count: 1 })
    }
    const ruleList = [...rules.values()]
    await this.db.query(
      'SELECT gatehouse.append_audit_text($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)',
      [
        this.chain,
        startSeq,
        sync,
        rows.map((r) => r.seq),
        rows.map((r) => r.id),
        rows.map((r) => r.time),
        rows.map((r) => r.kind),
        rows.map((r) => r.sessionId),
        rows.map((r) => r.identity),
        rows.map((r) => r.resource),
        rows.map((r) => r.body),
        rows.map((r) => r.prevHash),
        rows.map((r) => r.hash),
        [...identities.keys()],
        [...identities.values()].map((v) => v.first),
        [...identities.values()].map((v) => v.last),
        [...identities.values()].map((v) => v.count),
        ruleList.map((r) => r.rule),
        ruleList.map((r) => r.identity),
        ruleList.map((r) => r.last),
        ruleList.map((r) => r.count),
        [...shared.keys()],
        [...shared.values()],
      ],
    )
  }

  private spoolWrites: Promise<void> = Promise.resolve()

  /** Persists the whole queue (one write after another, never interleaved). */
  private saveSpool(): Promise<void> {
    const spool = this.options.spool
    if (!spool) return this.spoolWrites
    const snapshot: SpooledQueue = { chain: this.chain, seq: this.seq, head: this.head, events: this.queue.map(({ event, usage, shared }) => ({ event, usage, shared })) }
    this.spoolWrites = this.spoolWrites.then(() => spool.save(snapshot)).catch((err: Error) => this.options.onSpoolError?.(err))
    return this.spoolWrites
  }

  private dropSpool(): Promise<void> {
    const spool = this.options.spool
    if (!spool) return this.spoolWrites
    return (this.spoolWrites = this.spoolWrites.then(() => spool.remove()).catch((err: Error) => this.options.onSpoolError?.(err)))
  }

  private setHealthy(healthy: boolean, error?: Error): void {
    if (healthy === this.healthyNow) return
    this.healthyNow = healthy
    this.options.onHealthChange?.(healthy, error)
  }
}
