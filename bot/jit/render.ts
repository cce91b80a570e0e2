// The issue a held request becomes: who wants to do what, where, under which
// rule, the exact statement or command, who may decide it and until when.
import type { ApprovalRequest } from '../../store/approvals.js'

export const APPROVAL_LABEL = 'gatehouse-approval'
export const approvalMarker = (id: string) => `<!-- gatehouse:approval:${id} -->`
/** Room for the request within GitHub's 65,536-character issue body, the rest of the body included. */
const MAX_REQUEST_CHARS = 60_000

/** Whether the issue shows the request whole: only then may it be approved there (an approval is for every character). */
export const shownWhole = (request: ApprovalRequest) => request.requestText.length <= MAX_REQUEST_CHARS

const longestTicks = (text: string) => Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))

/** A code fence longer than any run of backticks in `text`, so the text cannot close it. */
function fenced(text: string): string {
  const fence = '`'.repeat(Math.max(3, longestTicks(text) + 1))
  return `${fence}\n${text}\n${fence}`
}

/** An inline code span `text` cannot close (CommonMark §6.1), on one line. */
function codeSpan(text: string): string {
  const ticks = '`'.repeat(longestTicks(text) + 1)
  return `${ticks} ${text} ${ticks}`
}

/** `@login` or `@org/team` as GitHub writes a mention, so the principal is notified; anything else stays inert in a code span. */
const PRINCIPAL = /^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\/[A-Za-z0-9._-]{1,100})?$/
export const mention = (principal: string) => (PRINCIPAL.test(principal) ? principal : codeSpan(principal))

/** The first line of the request, as the approver's reply quotes it: what an approval releases, in a form that cannot be mistaken. */
export function firstLine(request: ApprovalRequest): string {
  const lines = request.requestText.split(/\r?\n/)
  const first = lines[0]!.length > 200 ? `${lines[0]!.slice(0, 200)}…` : lines[0]!
  return `${codeSpan(first)}${lines.length > 1 ? ` (line 1 of ${lines.length})` : ''}`
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
    `| identity | \`${request.identity}\` |`,
    `| resource | \`${request.resource}\` |`,
    `| rule | \`${request.rule}\` |`,
    `| request digest | \`${request.requestDigest}\` |`,
    `| expires | ${request.expiresAt} |`,
    `| needs | ${request.required} approval${request.required === 1 ? '' : 's'} from ${request.approvers.map(mention).join(', ')} |`,
    '',
    `${ownerLine} Comment \`/approve\` or \`/deny\` on a line of its own. One denial decides. The approval is for exactly this request, once.`,
    'The bot keeps the text it wrote here: if this issue or its comments are edited, it puts the text back, and approvals written before that do not count.',
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
