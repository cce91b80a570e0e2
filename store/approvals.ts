// Approval requests: created by the gateway when a rule holds a statement or
// command, decided by people (CLI or GitHub bot), consumed once by the
// gateway. An approval is bound to the exact request (text and parameters
// digest), the identity, the session and the bundle revision. Every vote is
// stored with who, when, through what and why, and is an audit event
// committed in the same transaction, whichever way it came (CLI, admin API,
// GitHub).
import type { Database, Queryable } from './database.js'
import { appendInTransaction, newId } from './audit-log.js'

/** The audit chain every process records approval votes on. */
export const VOTES_CHAIN = 'approval-votes'
const MAX_REASON_CHARS = 1000

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used' | 'cancelled'

export interface ApprovalRequest {
  id: string
  createdAt: string
  expiresAt: string
  status: ApprovalStatus
  identity: string
  owner: string
  resource: string
  sessionId: string
  bundleRevision: string
  rule: string
  /** The GitHub organisation whose members a user approver (`@login`) must be; null for requests held before it was kept. */
  organisation: string | null
  approvers: string[]
  required: number
  ownerMayApprove: boolean
  protocol: 'postgres' | 'ssh'
  requestText: string
  requestDigest: string
  decidedAt: string | null
  reason: string | null
  usedAt: string | null
  votes: Vote[]
}

export interface Vote {
  approver: string
  vote: 'approve' | 'deny'
  time: string
  /** Through what: `cli`, `admin-api`, `github`. */
  source: string
  reason: string | null
}

interface VoteRow {
  request_id: string
  approver: string
  vote: 'approve' | 'deny'
  time: Date | string
  source: string
  reason: string | null
}

/** The votes on each of `ids`, in the order they were cast. */
async function votesOf(db: Queryable, ids: readonly string[]): Promise<Map<string, Vote[]>> {
  const byRequest = new Map<string, Vote[]>(ids.map((id) => [id, []]))
  if (ids.length === 0) return byRequest
  const rows = await db.query<VoteRow>(
    'SELECT request_id, approver, vote, time, source, reason FROM gatehouse.approval_votes WHERE request_id = ANY($1::text[]) ORDER BY time, approver',
    [ids],
  )
  for (const { request_id, time, ...vote } of rows) byRequest.get(request_id)?.push({ ...vote, time: iso(time) })
  return byRequest
}

export type NewApproval = Pick<
  ApprovalRequest,
  'identity' | 'owner' | 'resource' | 'sessionId' | 'bundleRevision' | 'rule' | 'approvers' | 'required' | 'ownerMayApprove' | 'protocol' | 'requestText' | 'requestDigest'
> & { organisation: string; timeoutSeconds: number }

interface Row {
  id: string
  created_at: Date | string
  expires_at: Date | string
  status: ApprovalStatus
  identity: string
  owner: string
  resource: string
  session_id: string
  bundle_revision: string
  rule: string
  organisation: string | null
  approvers: string[] | string
  required: number
  owner_may_approve: boolean
  protocol: 'postgres' | 'ssh'
  request_text: string
  request_digest: string
  decided_at: Date | string | null
  reason: string | null
  used_at: Date | string | null
}

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString()
const isoOrNull = (v: Date | string | null) => (v === null ? null : iso(v))

function toRequest(row: Row, votes: ApprovalRequest['votes']): ApprovalRequest {
  return {
    id: row.id,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    status: row.status,
    identity: row.identity,
    owner: row.owner,
    resource: row.resource,
    sessionId: row.session_id,
    bundleRevision: row.bundle_revision,
    rule: row.rule,
    organisation: row.organisation,
    approvers: typeof row.approvers === 'string' ? (JSON.parse(row.approvers) as string[]) : row.approvers,
    required: row.required,
    ownerMayApprove: row.owner_may_approve,
    protocol: row.protocol,
    requestText: row.request_text,
    requestDigest: row.request_digest,
    decidedAt: isoOrNull(row.decided_at),
    reason: row.reason,
    usedAt: isoOrNull(row.used_at),
    votes,
  }
}

export async function createApproval(db: Queryable, request: NewApproval, now = new Date()): Promise<ApprovalRequest> {
  const id = newId('apr')
  const expires = new Date(now.getTime() + request.timeoutSeconds * 1000)
  await db.query(
    `INSERT INTO gatehouse.approval_requests (id, created_at, expires_at, status, identity, owner, resource, session_id, bundle_revision, rule,
       approvers, required, owner_may_approve, protocol, request_text, request_digest, organisation)
     VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16)`,
    [id, now.toISOString(), expires.toISOString(), request.identity, request.owner, request.resource, request.sessionId, request.bundleRevision, request.rule,
      JSON.stringify(request.approvers), request.required, request.ownerMayApprove, request.protocol, request.requestText.replace(/\0/g, '\uFFFD'), request.requestDigest,
      request.organisation],
  )
  return (await getApproval(db, id))!
}

export async function getApproval(db: Queryable, id: string): Promise<ApprovalRequest | undefined> {
  const rows = await db.query<Row>('SELECT * FROM gatehouse.approval_requests WHERE id = $1', [id])
  if (!rows[0]) return undefined
  return toRequest(rows[0], (await votesOf(db, [id])).get(id)!)
}

export async function listApprovals(db: Queryable, filter: { status?: ApprovalStatus; limit?: number } = {}): Promise<ApprovalRequest[]> {
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000)
  const rows = filter.status
    ? await db.query<Row>(`SELECT * FROM gatehouse.approval_requests WHERE status = $1 ORDER BY created_at DESC LIMIT ${limit}`, [filter.status])
    : await db.query<Row>(`SELECT * FROM gatehouse.approval_requests ORDER BY created_at DESC LIMIT ${limit}`)
  const votes = await votesOf(db, rows.map((r) => r.id))
  return rows.map((r) => toRequest(r, votes.get(r.id)!))
}

export type VoteResult =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; reason: 'not-found' | 'not-pending' | 'expired' | 'own-request' | 'already-voted'; request?: ApprovalRequest }

/**
 * Records one person's decision. Whether the person may decide (an eligible
 * approver) is the caller's check, made at decision time; this enforces what
 * the record itself knows: still pending, not expired, one vote per person,
 * and the identity's owner only when the settings allow it.
 */
export async function voteOnApproval(
  db: Database,
  id: string,
  vote: { approver: string; decision: 'approve' | 'deny'; source: string; reason?: string; isOwner?: boolean },
  now = new Date(),
): Promise<VoteResult> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<Row>('SELECT * FROM gatehouse.approval_requests WHERE id = $1 FOR UPDATE', [id])
    const row = rows[0]
    if (!row) return { ok: false, reason: 'not-found' }
    if (row.status !== 'pending') return { ok: false, reason: 'not-pending', request: toRequest(row, []) }
    if (new Date(iso(row.expires_at)) <= now) {
      await tx.query(`UPDATE gatehouse.approval_requests SET status = 'expired', decided_at = $2 WHERE id = $1`, [id, now.toISOString()])
      return { ok: false, reason: 'expired' }
    }
    if (vote.isOwner && !row.owner_may_approve) return { ok: false, reason: 'own-request', request: toRequest(row, []) }
    const reason = vote.reason === undefined ? null : vote.reason.slice(0, MAX_REASON_CHARS)
    const inserted = await tx.query(
      'INSERT INTO gatehouse.approval_votes (request_id, approver, vote, time, source, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING approver',
      [id, vote.approver, vote.decision, now.toISOString(), vote.source, reason],
    )
    if (inserted.length === 0) return { ok: false, reason: 'already-voted', request: toRequest(row, []) }
    const counts = await tx.query<{ approvals: number; denials: number }>(
      `SELECT count(*) FILTER (WHERE vote = 'approve')::int AS approvals, count(*) FILTER (WHERE vote = 'deny')::int AS denials
         FROM gatehouse.approval_votes WHERE request_id = $1`,
      [id],
    )
    const { approvals, denials } = counts[0]!
    // One denial decides; approvals decide when enough have been given.
    const status: ApprovalStatus = denials > 0 ? 'denied' : approvals >= row.required ? 'approved' : 'pending'
    if (status !== 'pending') {
      await tx.query('UPDATE gatehouse.approval_requests SET status = $2, decided_at = $3, reason = $4 WHERE id = $1', [id, status, now.toISOString(), vote.reason ?? null])
    }
    await appendInTransaction(tx, VOTES_CHAIN, {
      kind: 'approval.vote',
      time: now,
      sessionId: row.session_id,
      identity: row.identity,
      resource: row.resource,
      data: { request: id, rule: row.rule, approver: vote.approver, vote: vote.decision, source: vote.source, reason, status, requestText: row.request_text },
    })
    const updated = await tx.query<Row>('SELECT * FROM gatehouse.approval_requests WHERE id = $1', [id])
    return { ok: true, request: toRequest(updated[0]!, (await votesOf(tx, [id])).get(id)!) }
  })
}

/**
 * Uses an approved request exactly once, and only for what it was granted
 * for. Returns false if it is not approved, was used, or the binding differs.
 */
export async function consumeApproval(
  db: Queryable,
  id: string,
  binding: { identity: string; sessionId: string; bundleRevision: string; requestDigest: string },
  now = new Date(),
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE gatehouse.approval_requests SET status = 'used', used_at = $2
      WHERE id = $1 AND status = 'approved' AND expires_at > $2
        AND identity = $3 AND session_id = $4 AND bundle_revision = $5 AND request_digest = $6
      RETURNING id`,
    [id, now.toISOString(), binding.identity, binding.sessionId, binding.bundleRevision, binding.requestDigest],
  )
  return rows.length === 1
}

/** Marks pending requests past their deadline as expired; returns their ids. */
export async function expireApprovals(db: Queryable, now = new Date()): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `UPDATE gatehouse.approval_requests SET status = 'expired', decided_at = $1 WHERE status = 'pending' AND expires_at <= $1 RETURNING id`,
    [now.toISOString()],
  )
  return rows.map((r) => r.id)
}

export async function cancelApproval(db: Queryable, id: string, reason: string, now = new Date()): Promise<void> {
  await db.query(`UPDATE gatehouse.approval_requests SET status = 'cancelled', decided_at = $2, reason = $3 WHERE id = $1 AND status IN ('pending', 'approved')`, [id, now.toISOString(), reason])
}
