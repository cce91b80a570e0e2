// The issue a held request becomes: who wants to do what, where, under which
// rule, the exact statement or command, who may decide it and until when.
import type { ApprovalRequest } from '../../store/approvals.js'

export const APPROVAL_LABEL = 'gatehouse-approval'
export const approvalMarker = (id: string) => `<!-- gatehouse:approval:${id} -->`
/** Room for the request within GitHub's 65,536-character issue body, the rest of the body included. */
const MAX_REQUEST_CHARS = 60_000

/** Whether the issue shows the request whole: only then may it be approved there (an approval is for every character). */
export const shownWhole = (request: ApprovalRequest) => request.requestText.length <= MAX_REQUEST_CHARS

/** A code fence longer than any run of backticks in `text`, so the text cannot close it. */
function fenced(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = '`'.repeat(Math.max(3, longest + 1))
  return `${fence}\n${text}\n${fence}`
}

export function issueTitle(request: ApprovalRequest): string {
  return `Approval needed: ${request.identity} on ${request.resource} (${request.rule})`
}

export function issueBody(request: ApprovalRequest, forbidOwner: boolean): string {
  const text = shownWhole(request)
    ? request.requestText
    : `${request.requestText.slice(0, MAX_REQUEST_CHARS)}\n… (${request.requestText.length - MAX_REQUEST_CHARS} more characters: approve it with \`gatehouse approvals\`, which shows it whole; it can be denied here)`
  const ownerLine = forbidOwner || !request.ownerMayApprove ? `The identity's owner (\`${request.owner}\`) may not decide it.` : `The identity's owner (\`${request.owner}\`) may decide it.`
  return [
    approvalMarker(request.id),
    `**${request.identity}** (owned by \`${request.owner}\`) wants to run this ${request.protocol === 'postgres' ? 'SQL' : 'SSH command'} on **${request.resource}**; rule \`${request.rule}\` holds it for approval.`,
    '',
    fenced(text),
    '',
    `| | |`,
    `| --- | --- |`,
    `| request | \`${request.id}\` |`,
    `| session | \`${request.sessionId}\` |`,
    `| bundle revision | \`${request.bundleRevision}\` |`,
    `| request digest | \`${request.requestDigest.slice(0, 16)}…\` |`,
    `| expires | ${request.expiresAt} |`,
    `| needs | ${request.required} approval${request.required === 1 ? '' : 's'} from ${request.approvers.map((a) => `\`${a}\``).join(', ')} |`,
    '',
    `${ownerLine} Comment \`/approve\` or \`/deny\` on a line of its own. One denial decides. The approval is for exactly this request, once.`,
  ].join('\n')
}

export function outcomeText(request: ApprovalRequest): string {
  const votes = request.votes.map((v) => `${v.approver} (${v.vote})`).join(', ')
  switch (request.status) {
    case 'approved':
    case 'used':
      return `Approved${votes ? ` by ${votes}` : ''}. The gateway runs the request once.`
    case 'denied':
      return `Denied${votes ? ` by ${votes}` : ''}.`
    case 'expired':
      return `Expired at ${request.expiresAt} without a decision; the request was refused.`
    case 'cancelled':
      return `Cancelled${request.reason ? `: ${request.reason}` : ''}.`
    default:
      return `Still ${request.status}.`
  }
}
