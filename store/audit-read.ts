// Reading the audit trail: verification of every chain, queries by
// identity, resource, session and time, and session timelines.
import { createHash } from 'node:crypto'
import type { Database, Queryable } from './database.js'
import { bodyHash, eventHash, GENESIS_HASH, type StoredEvent } from './audit-log.js'
import { readRecordingChunks } from './recordings.js'

export interface ChainProblem {
  chain: string
  seq: number | null
  problem: string
}

export interface VerifyReport {
  chains: number
  events: number
  problems: ChainProblem[]
}

interface EventRow {
  chain: string
  seq: string
  id: string
  time: Date | string
  kind: string
  session_id: string | null
  identity: string | null
  resource: string | null
  /** The data as its hashed text (events written since store version 9), else as jsonb in `data`. */
  body: string | null
  data: Record<string, unknown> | string | null
  prev_hash: string
  hash: string
}

const EVENT_COLUMNS = 'chain, seq::text, id, time, kind, session_id, identity, resource, body, data, prev_hash, hash'

/** An event's fields other than its data, as they are hashed. */
function header(row: EventRow): Omit<StoredEvent, 'data' | 'prevHash' | 'hash'> {
  return {
    chain: row.chain,
    seq: Number(row.seq),
    id: row.id,
    time: (row.time instanceof Date ? row.time : new Date(row.time)).toISOString(),
    kind: row.kind,
    sessionId: row.session_id,
    identity: row.identity,
    resource: row.resource,
  }
}

/** Stored text that no longer parses was altered: readers show that, `audit verify` reports it. */
function parseBody(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body) as Record<string, unknown>
  } catch {
    return { unreadable: 'the stored data is not JSON: it was altered (run `gatehouse audit verify`)' }
  }
}

function dataOf(row: EventRow): Record<string, unknown> {
  if (row.body !== null) return parseBody(row.body)
  return typeof row.data === 'string' ? (JSON.parse(row.data) as Record<string, unknown>) : (row.data ?? {})
}

function toEvent(row: EventRow): StoredEvent {
  return { ...header(row), data: dataOf(row), prevHash: row.prev_hash, hash: row.hash }
}

/** How verification names the table of shared fields where a chain's name would go. */
const SHARED_FIELDS = '(shared fields)'

/** Whether the shared fields an event names (if any) are among those held intact. */
function sharedHeld(row: EventRow, held: ReadonlySet<string>): boolean {
  if (row.body === null || !row.body.includes('"shared":')) return true
  const name = parseBody(row.body).shared
  return typeof name !== 'string' || held.has(name)
}

/** Events with the shared fields they name put back into their data (the name stays, as `shared`). */
async function withShared(db: Queryable, events: StoredEvent[]): Promise<StoredEvent[]> {
  const names = [...new Set(events.map((e) => e.data.shared).filter((name): name is string => typeof name === 'string'))]
  if (names.length === 0) return events
  const rows = await db.query<{ id: string; body: string }>('SELECT id, body FROM gatehouse.audit_shared WHERE id = ANY($1::text[])', [names])
  const fields = new Map(rows.map((r) => [r.id, parseBody(r.body)]))
  const missing = { unreadable: 'the shared fields this event names are missing (run `gatehouse audit verify`)' }
  return events.map((e) => (typeof e.data.shared === 'string' ? { ...e, data: { ...(fields.get(e.data.shared) ?? missing), ...e.data } } : e))
}

/** Whether the stored event hashes to its recorded hash: the stored text itself, or (older events) the jsonb data. */
function intact(row: EventRow): boolean {
  if (row.body !== null) return bodyHash(row.prev_hash, header(row), row.body) === row.hash
  return row.data !== null && eventHash(row.prev_hash, { ...header(row), data: dataOf(row) }) === row.hash
}

const PAGE = 5000
/** Recorded SSH output batches checked at once (each up to a megabyte). */
const RECORDING_PAGE = 64

/**
 * Walks every chain from its first event: sequence numbers must be
 * contiguous, each event must link to the previous hash and hash to what it
 * says, and the chain's recorded head must be its last event, so altered,
 * removed, reordered and truncated events are all detected. Recorded SSH
 * output is checked against the digests its events carry.
 */
export function verifyAudit(db: Database): Promise<VerifyReport> {
  // One snapshot for the whole check: a gateway writing meanwhile must not look like a chain extended behind its head.
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    return verifyIn(tx)
  })
}

async function verifyIn(db: Queryable): Promise<VerifyReport> {
  const chains = await db.query<{ chain: string; last_seq: string; last_hash: string }>('SELECT chain, last_seq::text, last_hash FROM gatehouse.audit_chains ORDER BY chain')
  const problems: ChainProblem[] = []
  // Shared fields are named by their digest: one that no longer matches it was altered.
  const shared = new Set<string>()
  for (const { id, body } of await db.query<{ id: string; body: string }>('SELECT id, body FROM gatehouse.audit_shared ORDER BY id')) {
    if (createHash('sha256').update(body).digest('hex') === id) shared.add(id)
    else problems.push({ chain: SHARED_FIELDS, seq: null, problem: `shared fields ${id} do not match their digest (altered)` })
  }
  let events = 0
  for (const { chain, last_seq: lastSeqText, last_hash: lastHash } of chains) {
    let expectedSeq = 1
    let prev = GENESIS_HASH
    for (;;) {
      const rows = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM gatehouse.audit_events WHERE chain = $1 AND seq >= $2 ORDER BY gatehouse.audit_events.seq LIMIT ${PAGE}`, [chain, expectedSeq])
      for (const row of rows) {
        const seq = Number(row.seq)
        events++
        if (seq !== expectedSeq) {
          problems.push({ chain, seq: expectedSeq, problem: `events ${expectedSeq}..${seq - 1} are missing` })
          expectedSeq = seq
        }
        if (row.prev_hash !== prev) problems.push({ chain, seq, problem: 'does not link to the previous event (removed or reordered)' })
        if (!intact(row)) problems.push({ chain, seq, problem: 'content does not match its hash (altered)' })
        else if (!sharedHeld(row, shared)) problems.push({ chain, seq, problem: 'names shared fields the store does not hold intact (removed or altered)' })
        prev = row.hash
        expectedSeq++
      }
      if (rows.length < PAGE) break
      if (problems.length > 1000) break
    }
    const lastSeq = Number(lastSeqText)
    if (expectedSeq - 1 !== lastSeq) problems.push({ chain, seq: null, problem: `chain head says ${lastSeq} events, found ${expectedSeq - 1} (truncated or extended)` })
    else if (prev !== lastHash) problems.push({ chain, seq: null, problem: 'chain head hash does not match the last event' })
  }
  const orphans = await db.query<{ chain: string }>('SELECT DISTINCT e.chain FROM gatehouse.audit_events e LEFT JOIN gatehouse.audit_chains c ON c.chain = e.chain WHERE c.chain IS NULL')
  for (const { chain } of orphans) problems.push({ chain, seq: null, problem: 'events of a chain that has no head' })
  // The chain vouches for each recorded SSH output's digest; the stored bytes must still hash to it.
  const outputs = (
    await db.query<{ chain: string; seq: string; body: string | null; digest: string | null }>(
      "SELECT chain, seq::text, body, data->>'sha256' AS digest FROM gatehouse.audit_events WHERE kind = 'ssh.output' ORDER BY chain, seq",
    )
  ).map((o) => ({ ...o, digest: String((o.body === null ? o.digest : parseBody(o.body).sha256) ?? '') }))
  for (let i = 0; i < outputs.length && problems.length <= 1000; i += RECORDING_PAGE) {
    const page = outputs.slice(i, i + RECORDING_PAGE)
    const chunks = await readRecordingChunks(db, page.map((o) => o.digest))
    for (const o of page) {
      const bytes = chunks.get(o.digest)
      if (typeof bytes === 'string') problems.push({ chain: o.chain, seq: Number(o.seq), problem: `recorded output ${bytes}` })
    }
  }
  return { chains: chains.length, events, problems }
}

export interface EventFilter {
  identity?: string
  resource?: string
  sessionId?: string
  kinds?: string[]
  since?: Date
  until?: Date
  limit?: number
}

export async function queryEvents(db: Queryable, filter: EventFilter): Promise<StoredEvent[]> {
  const where: string[] = []
  const params: unknown[] = []
  const add = (clause: string, value: unknown) => {
    params.push(value)
    where.push(clause.replace('?', `$${params.length}`))
  }
  if (filter.identity) add('identity = ?', filter.identity)
  if (filter.resource) add('resource = ?', filter.resource)
  if (filter.sessionId) add('session_id = ?', filter.sessionId)
  if (filter.kinds?.length) add('kind = ANY(?::text[])', filter.kinds)
  if (filter.since) add('time >= ?', filter.since.toISOString())
  if (filter.until) add('time < ?', filter.until.toISOString())
  const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000)
  const sql = `SELECT ${EVENT_COLUMNS} FROM gatehouse.audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY gatehouse.audit_events.time, gatehouse.audit_events.chain, gatehouse.audit_events.seq LIMIT ${limit}`
  return withShared(db, (await db.query<EventRow>(sql, params)).map(toEvent))
}

export interface SessionSummary {
  sessionId: string
  identity: string | null
  resource: string | null
  started: string
  ended: string | null
  events: number
}

export async function listSessions(db: Queryable, filter: { identity?: string; since?: Date; limit?: number }): Promise<SessionSummary[]> {
  const params: unknown[] = [filter.since?.toISOString() ?? '1970-01-01T00:00:00Z']
  let identityClause = ''
  if (filter.identity) {
    params.push(filter.identity)
    identityClause = `AND identity = $${params.length}`
  }
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000)
  const rows = await db.query<{ session_id: string; identity: string | null; resource: string | null; started: Date | string; ended: Date | string | null; events: number }>(
    `SELECT session_id, max(identity) AS identity, max(resource) AS resource, min(time) AS started,
            max(time) FILTER (WHERE kind = 'session.end') AS ended, count(*)::int AS events
       FROM gatehouse.audit_events
      WHERE session_id IS NOT NULL AND time >= $1 ${identityClause}
      GROUP BY session_id ORDER BY min(time) DESC LIMIT ${limit}`,
    params,
  )
  const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString()
  return rows.map((r) => ({ sessionId: r.session_id, identity: r.identity, resource: r.resource, started: iso(r.started), ended: r.ended ? iso(r.ended) : null, events: r.events }))
}

/**
 * The outcome of each statement whose own event was written before it
 * completed: carried by the session's next event (its `outcomes`) or, when
 * none came soon enough, in a `statement.outcome` event of its own.
 */
export function outcomesByEvent(events: readonly StoredEvent[]): Map<string, string> {
  const outcomes = new Map<string, string>()
  for (const { kind, data } of events) {
    if (kind === 'statement.outcome') outcomes.set(String(data.event), String(data.outcome))
    for (const carried of carriedOutcomes(data)) outcomes.set(carried.event, carried.outcome)
  }
  return outcomes
}

/** The outcomes of a session's earlier statements that an event's data carries (see AuditWriter.settleOutcome). */
export function carriedOutcomes(data: Record<string, unknown>): Array<{ event: string; outcome: string }> {
  if (!Array.isArray(data.outcomes)) return []
  return (data.outcomes as Array<{ event?: unknown; outcome?: unknown }>).map((o) => ({ event: String(o.event), outcome: String(o.outcome) }))
}
