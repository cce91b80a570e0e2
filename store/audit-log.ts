// The audit trail: append-only, hash-chained, written with group commit.
//
// Every append joins a queue; one flush writes everything queued in a single
// transaction, so durability costs one shared commit, not one per event. A
// `sync` append is flushed at once (the caller waits for it before letting a
// statement run); `async` appends are flushed within `flushIntervalMs`.
// When the store fails, the writer reports itself unhealthy, refuses new
// appends (callers fail closed), keeps what it holds and retries until the
// store is back.
import { createHash, randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { canonicalJson } from '../engine/bundle-integrity.js'
import type { Database, Queryable } from './database.js'

export interface AuditEventInput {
  kind: string
  time?: Date
  sessionId?: string
  identity?: string
  resource?: string
  data: Record<string, unknown>
  /** Counts as a use of the identity, and of this rule when given (for stale sweeps). */
  usage?: { rule?: string }
}

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

export class AuditUnavailableError extends Error {
  readonly code = 'audit.unavailable'
}

interface Pending {
  event: Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'>
  usage: AuditEventInput['usage'] | undefined
  settle: { resolve: () => void; reject: (err: Error) => void }
  urgent: boolean
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
}

export const GENESIS_HASH = '0'.repeat(64)

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

export function eventHash(prevHash: string, event: Omit<StoredEvent, 'prevHash' | 'hash'>): string {
  const core = {
    chain: event.chain,
    seq: event.seq,
    id: event.id,
    time: event.time,
    kind: event.kind,
    sessionId: event.sessionId,
    identity: event.identity,
    resource: event.resource,
    data: event.data,
  }
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(core)).digest('hex')
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
  const hash = eventHash(prevHash, event)
  await tx.query(
    'INSERT INTO gatehouse.audit_events (chain, seq, id, time, kind, session_id, identity, resource, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)',
    [chain, event.seq, event.id, event.time, event.kind, event.sessionId, event.identity, event.resource, JSON.stringify(event.data), prevHash, hash],
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
  private flushing = false
  private timer: NodeJS.Timeout | undefined
  private immediate: NodeJS.Immediate | undefined
  private retryDelay = 0
  private closed = false
  private healthyNow = true
  private readonly flushIntervalMs: number
  private readonly maxQueue: number
  private readonly batchSize: number

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

  get healthy(): boolean {
    return this.healthyNow
  }

  get queued(): number {
    return this.queue.length
  }

  /**
   * Queues an event. `durable` settles when the event is committed (or
   * rejects if that flush fails). Throws AuditUnavailableError, without
   * queueing, when the store is failing or the queue is full.
   */
  append(input: AuditEventInput, durability: Durability): { id: string; durable: Promise<void> } {
    if (this.closed) throw new AuditUnavailableError('the audit writer is closed')
    if (!this.healthyNow) throw new AuditUnavailableError('the audit store is unavailable')
    if (this.queue.length >= this.maxQueue) throw new AuditUnavailableError('the audit queue is full')
    const id = nextEventId()
    let settle!: Pending['settle']
    const durable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    // Nobody may be left with an unhandled rejection; callers that care await `durable`.
    durable.catch(() => undefined)
    const pending: Pending = {
      event: storableEvent(this.chain, id, input),
      usage: input.usage,
      settle,
      urgent: durability === 'sync',
      sealed: false,
    }
    this.queue.push(pending)
    this.open.set(id, pending)
    this.schedule(durability === 'sync' ? 0 : this.flushIntervalMs)
    return { id, durable }
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

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    this.timer = undefined
    this.immediate = undefined
    try {
      await this.flush()
    } finally {
      this.closed = true
    }
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
    const batch = this.queue.slice(0, this.batchSize)
    for (const p of batch) {
      p.sealed = true
      this.open.delete(p.event.id)
    }
    const startSeq = this.seq
    const startHead = this.head
    let seq = this.seq
    let head = this.head
    const rows: StoredEvent[] = batch.map(({ event }) => {
      seq += 1
      const withSeq = { ...event, seq }
      const hash = eventHash(head, withSeq)
      const row = { ...withSeq, prevHash: head, hash }
      head = hash
      return row
    })
    try {
      if (this.retryDelay > 0 && (await this.alreadyCommitted(startSeq + rows.length))) {
        // The previous attempt committed but its acknowledgement was lost.
      } else {
        const started = performance.now()
        const sync = batch.some((p) => p.urgent)
        await this.write(rows, batch, startSeq, sync)
        this.options.onCommit?.({ events: rows.length, seconds: (performance.now() - started) / 1000, sync })
      }
      this.seq = seq
      this.head = head
      this.queue.splice(0, batch.length)
      for (const p of batch) p.settle.resolve()
      this.setHealthy(true)
      this.retryDelay = 0
    } catch (err) {
      this.seq = startSeq
      this.head = startHead
      // Waiting callers learn now; the events stay queued and are retried.
      for (const p of batch) p.settle.reject(new AuditUnavailableError(`audit write failed: ${(err as Error).message}`))
      this.setHealthy(false, err as Error)
      this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 200), 5000)
    } finally {
      this.flushing = false
    }
    if (this.queue.length > 0 && !this.closed) {
      if (!this.healthyNow) this.schedule(this.retryDelay)
      else this.schedule(this.queue.some((p) => p.urgent) ? 0 : this.flushIntervalMs)
    } else if (!this.healthyNow && !this.closed) this.probeLater()
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

  private async alreadyCommitted(lastSeq: number): Promise<boolean> {
    const rows = await this.db.query<{ last_seq: string }>('SELECT last_seq::text FROM gatehouse.audit_chains WHERE chain = $1', [this.chain])
    return Number(rows[0]?.last_seq ?? 0) >= lastSeq
  }

  private async write(rows: StoredEvent[], batch: Pending[], startSeq: number, sync: boolean): Promise<void> {
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
      'SELECT gatehouse.append_audit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb[], $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)',
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
        rows.map((r) => JSON.stringify(r.data)),
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
      ],
    )
  }

  private setHealthy(healthy: boolean, error?: Error): void {
    if (healthy === this.healthyNow) return
    this.healthyNow = healthy
    this.options.onHealthChange?.(healthy, error)
  }
}
