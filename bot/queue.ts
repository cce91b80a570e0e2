// The deliveries queue in the store. A webhook is acknowledged only once its
// row is written, so a restart loses nothing; the delivery id is the primary
// key, so a redelivery is recognised and not queued twice. Workers claim rows
// with a short lease that the worker renews while the delivery runs: a
// worker that dies (even by SIGKILL) stops renewing, its lease runs out
// within `leaseSeconds`, and another worker, or the restarted bot, takes it. Deliveries with the same key run one at a time, in order.
// A delivery that failed for good is queued again when GitHub redelivers it
// (an operator pressing "Redeliver" keeps the delivery id); a finished one never is.
import type { Database } from '../store/database.js'

export interface Delivery {
  id: string
  event: string
  key: string
  attempts: number
  payload: unknown
}

export async function enqueueDelivery(db: Database, delivery: { id: string; event: string; key: string; payload: unknown }, now = new Date()): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO gatehouse.bot_deliveries (id, event, key, received_at, status, next_attempt_at, payload)
     VALUES ($1, $2, $3, $4, 'queued', $4, $5::jsonb)
     ON CONFLICT (id) DO UPDATE SET status = 'queued', attempts = 0, next_attempt_at = $4, last_error = NULL, finished_at = NULL
       WHERE gatehouse.bot_deliveries.status = 'failed'
     RETURNING id`,
    [delivery.id, delivery.event, delivery.key, now.toISOString(), JSON.stringify(delivery.payload)],
  )
  return rows.length === 1
}

/**
 * Takes the oldest ready delivery whose key no other delivery is running for
 * and that has no older unfinished delivery with the same key.
 */
export async function claimDelivery(db: Database, leaseSeconds: number, now = new Date()): Promise<Delivery | undefined> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ id: string; event: string; key: string; attempts: number; payload: unknown }>(
      `SELECT d.id, d.event, d.key, d.attempts, d.payload FROM gatehouse.bot_deliveries d
        WHERE ((d.status = 'queued' AND d.next_attempt_at <= $1) OR (d.status = 'running' AND d.lease_until <= $1))
          AND NOT EXISTS (SELECT 1 FROM gatehouse.bot_deliveries o
                           WHERE o.key = d.key AND o.id <> d.id AND o.status IN ('queued', 'running')
                             AND (o.received_at < d.received_at OR (o.status = 'running' AND o.lease_until > $1)))
        ORDER BY d.received_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [now.toISOString()],
    )
    const row = rows[0]
    if (!row) return undefined
    const lease = new Date(now.getTime() + leaseSeconds * 1000)
    await tx.query(`UPDATE gatehouse.bot_deliveries SET status = 'running', attempts = attempts + 1, lease_until = $2 WHERE id = $1`, [row.id, lease.toISOString()])
    return { ...row, attempts: row.attempts + 1, payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload }
  })
}

/**
 * Extends the lease of a delivery this worker still holds: `attempt` is the
 * claim it was given, so a worker whose lease ran out and was taken over
 * does not extend the new holder's lease. False when the claim is lost.
 */
export async function renewLease(db: Database, id: string, attempt: number, leaseSeconds: number, now = new Date()): Promise<boolean> {
  const lease = new Date(now.getTime() + leaseSeconds * 1000)
  const rows = await db.query(`UPDATE gatehouse.bot_deliveries SET lease_until = $3 WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING id`, [id, attempt, lease.toISOString()])
  return rows.length === 1
}

export async function finishDelivery(db: Database, id: string, now = new Date()): Promise<void> {
  await db.query(`UPDATE gatehouse.bot_deliveries SET status = 'done', finished_at = $2, lease_until = NULL, last_error = NULL WHERE id = $1`, [id, now.toISOString()])
}

/** Schedules another attempt after `delaySeconds`, or gives up when `final`. */
export async function failDelivery(db: Database, id: string, error: string, options: { final: boolean; delaySeconds: number }, now = new Date()): Promise<void> {
  const next = new Date(now.getTime() + options.delaySeconds * 1000)
  await db.query(
    `UPDATE gatehouse.bot_deliveries SET status = $2, next_attempt_at = $3, lease_until = NULL, last_error = $4, finished_at = CASE WHEN $2 = 'failed' THEN $5::timestamptz END WHERE id = $1`,
    [id, options.final ? 'failed' : 'queued', next.toISOString(), error.slice(0, 500), now.toISOString()],
  )
}

export async function queueDepth(db: Database): Promise<number> {
  const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM gatehouse.bot_deliveries WHERE status IN ('queued', 'running')`)
  return rows[0]?.n ?? 0
}
