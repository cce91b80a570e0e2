// Just-in-time approvals on GitHub. The gateway stores a held request; the
// bot polls the store, opens one issue per pending request, and decides the
// request from `/approve` or `/deny` in a new comment by an eligible approver
// (membership asked of GitHub at decision time; the identity's owner refused
// when the settings or the bot's configuration say so), through the same
// store function as `gatehouse approvals approve`. Decided, expired and
// cancelled requests get their outcome written and their issue closed.
// Approvers are mentioned and assigned so GitHub notifies them; what the
// issue shows is kept intact (integrity.ts), and every reply to `/approve`
// quotes the digest and the first line of what it releases.
// All of it runs one step at a time per bot, so the poller and a comment
// never close the same issue twice.
import { expireApprovals, getApproval, listApprovals, voteOnApproval, type ApprovalRequest } from '../../store/approvals.js'
import { parseCommands } from '../commands/parse.js'
import { isFromBot } from '../commands/reply.js'
import type { BotContext } from '../context.js'
import { PermanentError } from '../context.js'
import { Membership } from '../github/membership.js'
import { fullName } from '../webhook/route.js'
import { issueRecord, postComment, renderIssue, tamperedReason, verifyIssue, type IssueRecord } from './integrity.js'
import { APPROVAL_LABEL, approvalMarker, firstLine, outcomeText, shownWhole } from './render.js'

const chains = new WeakMap<BotContext, Promise<unknown>>()

function exclusive<T>(ctx: BotContext, work: () => Promise<T>): Promise<T> {
  const run = (chains.get(ctx) ?? Promise.resolve()).then(work, work)
  chains.set(ctx, run.catch(() => undefined))
  return run
}

const REASONS = {
  'not-found': 'the request no longer exists',
  'not-pending': 'the request has already been decided',
  expired: 'the request has expired',
  'own-request': "the identity's owner may not decide its requests",
  'already-voted': 'you have already decided this request',
  'not-shown-whole': 'this issue shows only part of the request, so it cannot be approved here: approve it with `gatehouse approvals approve`, which shows it whole',
} as const

async function openIssue(ctx: BotContext, request: ApprovalRequest): Promise<void> {
  const repo = ctx.config.approvalsRepo
  const where = { owner: repo.owner, repo: repo.name }
  const repoName = fullName(repo).toLowerCase()
  const { title, body } = renderIssue(ctx, request)
  // Claim first, with the texts the issue is opened with: a crash after GitHub created the issue is recovered below, by its marker.
  await ctx.db.query(
    'INSERT INTO gatehouse.bot_approval_issues (request_id, repo, created_at, title, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING',
    [request.id, repoName, new Date().toISOString(), title, body],
  )
  const open = await ctx.github.paginate('GET /repos/{owner}/{repo}/issues', { ...where, state: 'open', labels: APPROVAL_LABEL, per_page: 100 })
  const existing = open.find((i) => i.user?.login?.toLowerCase() === ctx.self.toLowerCase() && i.body?.startsWith(approvalMarker(request.id)))
  const number = existing ? existing.number : (await ctx.github.request('POST /repos/{owner}/{repo}/issues', { ...where, title, body, labels: [APPROVAL_LABEL] })).data.number
  await ctx.db.query('UPDATE gatehouse.bot_approval_issues SET issue_number = $2 WHERE request_id = $1', [request.id, number])
  await assignApprovers(ctx, request, number)
  ctx.log.info('approval issue opened', { request: request.id, issue: number })
}

/** GitHub's limit on the assignees of an issue. */
const MAX_ASSIGNEES = 10

/**
 * Assigns the approvers (the members of approver teams), so the issue shows
 * in their assigned list as well as notifying them through the mention.
 * GitHub drops logins it cannot assign; a team it will not list is skipped.
 */
async function assignApprovers(ctx: BotContext, request: ApprovalRequest, number: number): Promise<void> {
  const logins = new Set<string>()
  for (const principal of request.approvers) {
    const [org, team] = principal.replace(/^@/, '').split('/') as [string, string | undefined]
    if (team === undefined) logins.add(org)
    else {
      try {
        for (const m of await ctx.github.paginate('GET /orgs/{org}/teams/{team_slug}/members', { org, team_slug: team, per_page: 100 })) logins.add(m.login)
      } catch (err) {
        ctx.log.warn('cannot list an approver team to assign it', { team: principal, status: (err as { status?: number }).status })
      }
    }
  }
  const assignees = [...logins].slice(0, MAX_ASSIGNEES)
  if (assignees.length === 0) return
  const repo = ctx.config.approvalsRepo
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/assignees', { owner: repo.owner, repo: repo.name, issue_number: number, assignees })
}

async function closeIssue(ctx: BotContext, request: ApprovalRequest, number: number): Promise<void> {
  const [row] = await ctx.db.query<{ closed: boolean }>('SELECT closed FROM gatehouse.bot_approval_issues WHERE request_id = $1', [request.id])
  if (!row || row.closed) return
  const where = { owner: ctx.config.approvalsRepo.owner, repo: ctx.config.approvalsRepo.name }
  const full = (await getApproval(ctx.db, request.id)) ?? request
  await postComment(ctx, { requestId: request.id, number }, outcomeText(full))
  const reason = full.status === 'approved' || full.status === 'used' ? 'completed' : 'not_planned'
  await ctx.github.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { ...where, issue_number: number, state: 'closed', state_reason: reason })
  await ctx.db.query('UPDATE gatehouse.bot_approval_issues SET closed = true WHERE request_id = $1', [request.id])
  ctx.log.info('approval issue closed', { request: request.id, issue: number, outcome: full.status })
}

/** One poll: expire what timed out, open issues for new requests, close the issues of finished ones. */
export function syncApprovalIssues(ctx: BotContext): Promise<void> {
  return exclusive(ctx, async () => {
    await expireApprovals(ctx.db)
    const repoName = fullName(ctx.config.approvalsRepo).toLowerCase()
    const tracked = await ctx.db.query<{ request_id: string; issue_number: number | null }>('SELECT request_id, issue_number FROM gatehouse.bot_approval_issues WHERE NOT closed')
    const byRequest = new Map(tracked.map((t) => [t.request_id, t.issue_number]))
    for (const request of await listApprovals(ctx.db, { status: 'pending', limit: 1000 })) {
      if (byRequest.get(request.id) == null) await openIssue(ctx, request)
    }
    const finished = await ctx.db.query<{ id: string; issue_number: number }>(
      `SELECT r.id, i.issue_number FROM gatehouse.bot_approval_issues i JOIN gatehouse.approval_requests r ON r.id = i.request_id
        WHERE i.repo = $1 AND NOT i.closed AND i.issue_number IS NOT NULL AND r.status <> 'pending'`, [repoName],
    )
    for (const f of finished) await closeIssue(ctx, (await getApproval(ctx.db, f.id))!, f.issue_number)
  })
}

const COMMAND_SPELLING = { approve: '/approve', deny: '/deny' } as const

/**
 * The bot's answer to a command: a reaction, and a reply when it did not
 * count or when it is an approval. An approval's reply quotes the digest and
 * the first line of the statement, so the approver sees what was released.
 */
async function answerCommand(
  ctx: BotContext,
  record: IssueRecord,
  on: { commentId: number; login: string; command: 'approve' | 'deny' },
  outcome: { counted: true } | { counted: false; reason: string },
  request: ApprovalRequest | undefined,
): Promise<void> {
  const repo = ctx.config.approvalsRepo
  ctx.metrics.commands.inc({ outcome: outcome.counted ? 'counted' : 'refused' })
  const content = !outcome.counted ? 'confused' : on.command === 'approve' ? '+1' : '-1'
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { owner: repo.owner, repo: repo.name, comment_id: on.commentId, content })
  const what = `@${on.login} your \`${COMMAND_SPELLING[on.command]}\``
  const subject = request ? `request \`${request.id}\`, digest \`${request.requestDigest}\`, ${request.protocol === 'postgres' ? 'statement' : 'command'} ${firstLine(request)}` : undefined
  if (!outcome.counted) await postComment(ctx, record, `${what} did not count: ${outcome.reason}.${on.command === 'approve' && subject ? ` It was for ${subject}.` : ''}`)
  else if (on.command === 'approve') await postComment(ctx, record, `${what} counted. It approves ${subject ?? 'this request'}.`)
}

/** Handles a comment on an approval issue; false when the issue is not one. */
export async function handleApprovalComment(ctx: BotContext, payload: Record<string, unknown>): Promise<boolean> {
  const issue = payload.issue as { number?: unknown } | undefined
  const comment = payload.comment as { id?: unknown; body?: unknown; created_at?: unknown; user?: { login?: string; type?: string } | null } | undefined
  const repoName = (payload.repository as { full_name?: unknown } | undefined)?.full_name
  if (typeof repoName !== 'string' || repoName.toLowerCase() !== fullName(ctx.config.approvalsRepo).toLowerCase()) return false
  if (typeof issue?.number !== 'number' || typeof comment?.id !== 'number') throw new PermanentError('issue_comment event without an issue or comment')
  const number = issue.number
  const record = await issueRecord(ctx, number, () => requestOfIssue(ctx, number))
  if (!record) return false
  if (isFromBot(ctx, comment.user)) {
    // One of the bot's own comments edited by someone else: put it back.
    const editor = editorOf(ctx, payload)
    if (payload.action === 'edited' && editor !== null) await exclusive(ctx, () => verifyIssue(ctx, record, editor))
    return true
  }
  const commands = parseCommands(comment.body).filter((c): c is 'approve' | 'deny' => c === 'approve' || c === 'deny')
  if (commands.length === 0) return true
  const login = comment.user!.login!.toLowerCase()
  const command = commands[0]!
  const on = { commentId: comment.id, login, command }
  const refuse = async (reason: string) => answerCommand(ctx, record, on, { counted: false, reason }, await getApproval(ctx.db, record.requestId))
  if (payload.action === 'edited') return (await refuse('an edited comment never counts; write a new comment'), true)
  if (payload.action !== 'created') return true
  if (new Set(commands).size > 1) return (await refuse('a comment may carry one command only'), true)
  await exclusive(ctx, async () => {
    const request = await getApproval(ctx.db, record.requestId)
    if (!request) return refuse(REASONS['not-found'])
    // Read again in turn: an edit handled just before this comment changed it.
    const current = (await issueRecord(ctx, number, async () => request))!
    // invariant: what the approver read is checked now, just before the approval counts.
    const intact = await verifyIssue(ctx, current)
    const writtenAt = typeof comment.created_at === 'string' ? new Date(comment.created_at) : new Date(0)
    if (command === 'approve' && !intact) return refuse('this issue had been edited: the bot restored it; read the request again and approve in a new comment')
    const tampered = command === 'approve' ? tamperedReason(current, writtenAt) : undefined
    if (tampered) return refuse(tampered)
    // A user approver counts while an active member of the organisation whose bundle held the request.
    const membership = new Membership(ctx.github, request.organisation ?? ctx.config.policyRepo.owner)
    // invariant: eligibility is checked now, at decision time, not when the issue was opened.
    if ((await membership.matching(login, request.approvers)).length === 0) {
      return refuse(`you are not an approver of this request (approvers: ${request.approvers.map((a) => `\`${a}\``).join(', ')})`)
    }
    const isOwner = (await membership.matching(login, [request.owner])).length > 0
    if (isOwner && ctx.config.approvals.forbidOwner) return refuse(REASONS['own-request'])
    if (command === 'approve' && !shownWhole(request)) return refuse(REASONS['not-shown-whole'])
    const source = `github:${repoName}#${number}/comment/${comment.id}`
    const result = await voteOnApproval(ctx.db, request.id, { approver: `@${login}`, decision: command, source, isOwner })
    ctx.log.info('approval command read', { request: request.id, counted: result.ok })
    // A delivery run again after a GitHub failure finds its own vote already recorded: that is success.
    const recorded = !result.ok && (await getApproval(ctx.db, request.id))?.votes.some((v) => v.source === source)
    await answerCommand(ctx, record, on, !result.ok && !recorded ? { counted: false, reason: REASONS[result.reason] } : { counted: true }, request)
    const now = await getApproval(ctx.db, request.id)
    if (now && now.status !== 'pending') await closeIssue(ctx, now, number)
  })
  return true
}

/**
 * Who made an edit GitHub reports: null for the bot itself (its own restore
 * comes back as an edit; not looked at, so no answer of GitHub's can start a
 * loop), undefined when the payload does not say.
 */
function editorOf(ctx: BotContext, payload: Record<string, unknown>): string | undefined | null {
  const login = (payload.sender as { login?: unknown } | undefined)?.login
  if (typeof login !== 'string') return undefined
  return login.toLowerCase() === ctx.self.toLowerCase() ? null : login
}

async function requestOfIssue(ctx: BotContext, number: number): Promise<ApprovalRequest | undefined> {
  const [row] = await ctx.db.query<{ request_id: string }>('SELECT request_id FROM gatehouse.bot_approval_issues WHERE repo = $1 AND issue_number = $2', [fullName(ctx.config.approvalsRepo).toLowerCase(), number])
  return row ? getApproval(ctx.db, row.request_id) : undefined
}

/** `issues` events on the approvals repository: an edited approval issue is put back and marked. */
export async function handleApprovalIssueEvent(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const repoName = (payload.repository as { full_name?: unknown } | undefined)?.full_name
  if (typeof repoName !== 'string' || repoName.toLowerCase() !== fullName(ctx.config.approvalsRepo).toLowerCase()) return
  if (payload.action !== 'edited') return
  const number = (payload.issue as { number?: unknown } | undefined)?.number
  if (typeof number !== 'number') throw new PermanentError('issues event without an issue')
  const record = await issueRecord(ctx, number, () => requestOfIssue(ctx, number))
  if (!record) return
  const [row] = await ctx.db.query<{ closed: boolean }>('SELECT closed FROM gatehouse.bot_approval_issues WHERE request_id = $1', [record.requestId])
  if (row?.closed) return
  const editor = editorOf(ctx, payload)
  if (editor !== null) await exclusive(ctx, () => verifyIssue(ctx, record, editor))
}
