// Operator commands reach the store directly (a PostgreSQL store, or an
// embedded one no gateway is running on) or through a running gateway's
// admin API (an embedded store can only be opened by the process that owns
// it). Both paths answer the same questions with the same store functions.
import { Buffer } from 'node:buffer'
import { UsageError } from '../../cli/command.js'
import { getApproval, listApprovals, voteOnApproval, type ApprovalRequest, type ApprovalStatus, type VoteResult } from '../../store/approvals.js'
import type { StoredEvent } from '../../store/audit-log.js'
import { listSessions, queryEvents, verifyAudit, type EventFilter, type SessionSummary, type VerifyReport } from '../../store/audit-read.js'
import { openDatabase, type Database } from '../../store/database.js'
import { chunkDigest, loadRecordingChunks, RecordingIntegrityError } from '../../store/recordings.js'

export interface StoreAccess {
  listApprovals(status?: ApprovalStatus): Promise<ApprovalRequest[]>
  getApproval(id: string): Promise<ApprovalRequest | undefined>
  vote(id: string, approver: string, decision: 'approve' | 'deny', reason?: string): Promise<VoteResult>
  events(filter: EventFilter): Promise<StoredEvent[]>
  verify(): Promise<VerifyReport>
  sessions(filter: { identity?: string; since?: Date; limit?: number }): Promise<SessionSummary[]>
  /** The bytes of SSH recordings, by digest (checked against it). */
  recordingChunks(digests: string[]): Promise<Map<string, Buffer>>
  close(): Promise<void>
}

export const DEFAULT_STORE = '.gatehouse/store'

export async function openStoreAccess(options: { store?: string; admin?: string }): Promise<StoreAccess> {
  if (options.admin) return adminAccess(options.admin, process.env.GATEHOUSE_ADMIN_TOKEN)
  return directAccess(await openDatabase(options.store ?? process.env.GATEHOUSE_STORE ?? DEFAULT_STORE))
}

function directAccess(db: Database): StoreAccess {
  return {
    listApprovals: (status) => listApprovals(db, status ? { status } : {}),
    getApproval: (id) => getApproval(db, id),
    vote: (id, approver, decision, reason) => voteOnApproval(db, id, { approver, decision, source: 'cli', ...(reason ? { reason } : {}) }),
    events: (filter) => queryEvents(db, filter),
    verify: () => verifyAudit(db),
    sessions: (filter) => listSessions(db, filter),
    recordingChunks: (digests) => loadRecordingChunks(db, digests),
    close: () => db.close(),
  }
}

function adminAccess(base: string, token: string | undefined): StoreAccess {
  if (!token) throw new UsageError('--admin needs the admin token in the GATEHOUSE_ADMIN_TOKEN environment variable')
  const call = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const response = await fetch(new URL(path, base), {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      signal: AbortSignal.timeout(30_000),
    })
    if (!response.ok && response.status !== 409) throw new Error(`the gateway answered ${response.status}: ${(await response.text()).slice(0, 300)}`)
    return (await response.json()) as T
  }
  const query = (params: Record<string, string | number | undefined>) =>
    new URLSearchParams(Object.entries(params).flatMap(([k, v]): Array<[string, string]> => (v === undefined ? [] : [[k, String(v)]]))).toString()
  return {
    listApprovals: async (status) => (await call<{ approvals: ApprovalRequest[] }>(`/v1/approvals?${query({ status })}`)).approvals,
    getApproval: async (id) => (await call<{ approvals: ApprovalRequest[] }>(`/v1/approvals?${query({ id })}`)).approvals[0],
    vote: (id, approver, decision, reason) => call<VoteResult>(`/v1/approvals/${encodeURIComponent(id)}/${decision}`, { method: 'POST', body: JSON.stringify({ approver, reason }) }),
    events: async (f) =>
      (await call<{ events: StoredEvent[] }>(`/v1/audit/events?${query({ identity: f.identity, resource: f.resource, session: f.sessionId, kinds: f.kinds?.join(','), since: f.since?.toISOString(), until: f.until?.toISOString(), limit: f.limit })}`)).events,
    verify: () => call<VerifyReport>('/v1/audit/verify'),
    sessions: async (f) => (await call<{ sessions: SessionSummary[] }>(`/v1/sessions?${query({ identity: f.identity, since: f.since?.toISOString(), limit: f.limit })}`)).sessions,
    recordingChunks: async (digests) => {
      const out = new Map<string, Buffer>()
      for (const digest of new Set(digests)) {
        const response = await fetch(new URL(`/v1/recordings/${digest}`, base), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) })
        if (!response.ok) throw new RecordingIntegrityError(`recorded output ${digest}: the gateway answered ${response.status}`)
        const bytes = Buffer.from(await response.arrayBuffer())
        // The digest comes from the hash-chained event: the bytes must match it, whoever served them.
        if (chunkDigest(bytes) !== digest) throw new RecordingIntegrityError(`recorded output ${digest} does not match its digest (altered)`)
        out.set(digest, bytes)
      }
      return out
    },
    close: async () => undefined,
  }
}

/** `7d`, `12h`, `30m` or an ISO date → a Date in the past. */
export function parseSince(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined
  const relative = /^(\d+)([smhd])$/.exec(text)
  if (relative) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[relative[2] as 's' | 'm' | 'h' | 'd']
    return new Date(Date.now() - Number(relative[1]) * unit * 1000)
  }
  const date = new Date(text)
  if (Number.isNaN(date.getTime())) throw new UsageError('--since must be like 7d, 12h, 30m, or an ISO-8601 date')
  return date
}
