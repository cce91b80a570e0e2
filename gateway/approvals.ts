// Holding a statement or command until people decide. The request is stored
// (where the CLI and the GitHub bot decide it), the client is told its id,
// and the gateway waits: approved → the approval is consumed exactly once,
// bound to this identity, session, bundle revision and request digest;
// denied, timed out or abandoned → refused.
import { createHash } from 'node:crypto'
import type { Approval } from '../engine/types.js'
import { cancelApproval, consumeApproval, createApproval, expireApprovals, getApproval, type ApprovalRequest } from '../store/approvals.js'
import type { Database } from '../store/database.js'

export type HoldOutcome = 'approved' | 'denied' | 'expired' | 'cancelled'

export interface HoldRequest {
  identity: string
  owner: string
  resource: string
  sessionId: string
  revision: string
  rule: string
  /** The bundle's organisation: a user approver counts while an active member of it. */
  organisation: string
  approval: Approval
  ownerMayApprove: boolean
  protocol: 'postgres' | 'ssh'
  text: string
  digest: string
}

/** The digest an approval is bound to: the exact request text and its parameters. */
export function requestDigest(text: string, parameters: ReadonlyArray<Buffer | null> = []): string {
  const hash = createHash('sha256').update(text).update('\0')
  for (const p of parameters) {
    // Length-prefix each parameter so no two parameter lists hash alike.
    hash.update(p === null ? '-1:' : `${p.length}:`)
    if (p) hash.update(p)
  }
  return hash.digest('hex')
}

export interface HoldOptions {
  /** Called once the request is stored, to tell the client where to approve it. */
  onCreated(request: ApprovalRequest): void
  /** Aborts the wait (the client went away, the bundle changed). */
  signal?: AbortSignal
  pollMs?: number
}

export async function holdForApproval(db: Database, hold: HoldRequest, options: HoldOptions): Promise<{ outcome: HoldOutcome; request: ApprovalRequest }> {
  const request = await createApproval(db, {
    identity: hold.identity,
    owner: hold.owner,
    resource: hold.resource,
    sessionId: hold.sessionId,
    bundleRevision: hold.revision,
    rule: hold.rule,
    organisation: hold.organisation,
    approvers: hold.approval.approvers,
    required: hold.approval.count,
    ownerMayApprove: hold.ownerMayApprove,
    protocol: hold.protocol,
    requestText: hold.text,
    requestDigest: hold.digest,
    timeoutSeconds: hold.approval.timeout,
  })
  options.onCreated(request)
  const pollMs = options.pollMs ?? 250
  const deadline = new Date(request.expiresAt).getTime()
  for (;;) {
    if (options.signal?.aborted) {
      await cancelApproval(db, request.id, 'the request was abandoned').catch(() => undefined)
      return { outcome: 'cancelled', request }
    }
    const current = await getApproval(db, request.id)
    if (!current) return { outcome: 'cancelled', request }
    if (current.status === 'approved') {
      const consumed = await consumeApproval(db, request.id, { identity: hold.identity, sessionId: hold.sessionId, bundleRevision: hold.revision, requestDigest: hold.digest })
      return { outcome: consumed ? 'approved' : 'denied', request: current }
    }
    if (current.status === 'denied') return { outcome: 'denied', request: current }
    if (current.status === 'expired') return { outcome: 'expired', request: current }
    if (current.status === 'cancelled' || current.status === 'used') return { outcome: 'cancelled', request: current }
    if (Date.now() >= deadline) {
      await expireApprovals(db)
      continue
    }
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', wake)
        resolve()
      }
      const timer = setTimeout(wake, Math.min(pollMs, Math.max(1, deadline - Date.now())))
      options.signal?.addEventListener('abort', wake, { once: true })
    })
  }
}
