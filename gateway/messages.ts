// What a client is told when a request is refused or held, the same words on
// every front: a PostgreSQL ErrorResponse/NoticeResponse carries them, an SSH
// channel writes them on stderr.
import type { Approval, Decision } from '../engine/types.js'
import type { HoldOutcome } from './approvals.js'

/**
 * Said to every client while no valid bundle is in force: nothing can be
 * authenticated or decided then, and a login failure would send people to
 * check a token that is fine.
 */
export const NO_BUNDLE_MESSAGE = 'gatehouse has no valid policy bundle in force, so it lets nobody in; this is not a problem with your credentials (the operator sees why in the gateway log and on the admin listener at /status)'

/** One line naming the deciding rule (or the default deny) and why. */
export function denialMessage(decision: Decision): string {
  const reason = decision.reasons.find((r) => r.startsWith('rule ') && r.includes(' denies ')) ?? decision.errors[0] ?? decision.reasons.find((r) => !r.includes(' allows ')) ?? decision.reasons[0] ?? 'denied'
  return decision.rule ? `permission denied by gatehouse rule ${decision.rule}: ${reason}` : `permission denied by gatehouse: ${reason}`
}

/** Who must approve a held request, and for how long it waits. */
export function holdDetail(rule: string | null, approval: Approval): string {
  const minutes = Math.round(approval.timeout / 60)
  return `rule ${rule} needs ${approval.count} approval(s) from ${approval.approvers.join(', ')}; it waits up to ${minutes >= 1 ? `${minutes} minute(s)` : `${approval.timeout} seconds`}`
}

/** Where to approve a held request. */
export function approveHint(requestId: string, approvalsUrl: string | undefined): string {
  return approvalsUrl ? `approve it at ${approvalsUrl}` : `an approver runs: gatehouse approvals approve ${requestId} --as @login`
}

/**
 * Why a hold did not end in approval. `reason` is the abort reason of the
 * wait: `policy-changed` (a new bundle), `cancelled` (the client gave up).
 */
export function holdOutcomeMessage(outcome: Exclude<HoldOutcome, 'approved'>, request: { id: string; reason?: string | null }, reason: string, what: string): string {
  if (outcome === 'denied') return `permission denied by gatehouse: approval request ${request.id} was denied${request.reason ? `: ${request.reason}` : ''}`
  if (outcome === 'expired') return `permission denied by gatehouse: approval request ${request.id} was not approved in time`
  if (reason === 'policy-changed') return `gatehouse: the policy changed while approval request ${request.id} waited; send the ${what} again`
  if (reason === 'cancelled') return `canceling ${what} due to user request`
  return `gatehouse: approval request ${request.id} was withdrawn`
}
