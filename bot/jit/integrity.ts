// What an approver reads on an approval issue is what the bot wrote: the
// title and body (the request's statement, identity, resource, rule and
// digest) and the bot's own comments. Anyone with write access to the
// repository can edit any of them, the identity's owner included, so the bot
// keeps the exact texts in the store and compares them with what GitHub
// shows whenever an approval is about to count and whenever GitHub reports an
// edit. A difference is tampering: the bot writes its text back, says so in a
// new comment, and counts only approvals written after that comment, since
// whoever read the issue meanwhile may have approved something else.
import type { ApprovalRequest } from '../../store/approvals.js'
import type { BotContext } from '../context.js'
import { fullName } from '../webhook/route.js'
import { issueBody, issueTitle } from './render.js'

export interface IssueRecord {
  requestId: string
  number: number
  title: string
  body: string
  tamperedAt: Date | null
  restoredAt: Date | null
}

interface Row {
  request_id: string
  issue_number: number
  title: string | null
  body: string | null
  tampered_at: Date | string | null
  restored_at: Date | string | null
}

const where = (ctx: BotContext) => ({ owner: ctx.config.approvalsRepo.owner, repo: ctx.config.approvalsRepo.name })
const repoKey = (ctx: BotContext) => fullName(ctx.config.approvalsRepo).toLowerCase()
const date = (v: Date | string | null) => (v === null ? null : new Date(v))
/** Line endings are not content (a browser's edit box sends CRLF); anything else that differs is. */
const same = (shown: string | null | undefined, written: string) => (shown ?? '').replace(/\r\n/g, '\n') === written.replace(/\r\n/g, '\n')

/** The texts the issue of `request` is opened with, stored before the issue exists. */
export function renderIssue(ctx: BotContext, request: ApprovalRequest): { title: string; body: string } {
  return { title: issueTitle(request), body: issueBody(request, ctx.config.approvals.forbidOwner) }
}

/** The tracked issue `number`, or undefined when it is not an approval issue of this bot. */
export async function issueRecord(ctx: BotContext, number: number, request: () => Promise<ApprovalRequest | undefined>): Promise<IssueRecord | undefined> {
  const [row] = await ctx.db.query<Row>(
    'SELECT request_id, issue_number, title, body, tampered_at, restored_at FROM gatehouse.bot_approval_issues WHERE repo = $1 AND issue_number = $2',
    [repoKey(ctx), number],
  )
  if (!row) return undefined
  let { title, body } = row
  if (title === null || body === null) {
    // An issue opened before the texts were kept: what the bot renders for the request is what it wrote.
    const found = await request()
    if (!found) return undefined
    ;({ title, body } = renderIssue(ctx, found))
    await ctx.db.query('UPDATE gatehouse.bot_approval_issues SET title = $2, body = $3 WHERE request_id = $1', [row.request_id, title, body])
  }
  return { requestId: row.request_id, number, title, body, tamperedAt: date(row.tampered_at), restoredAt: date(row.restored_at) }
}

/** Posts a comment on the approval issue and keeps its text, so an edit of it is recognised. */
export async function postComment(ctx: BotContext, record: Pick<IssueRecord, 'requestId' | 'number'>, body: string): Promise<{ createdAt: Date }> {
  const { data } = await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where(ctx), issue_number: record.number, body })
  await ctx.db.query(
    'INSERT INTO gatehouse.bot_approval_comments (repo, comment_id, request_id, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
    [repoKey(ctx), data.id, record.requestId, body],
  )
  return { createdAt: data.created_at ? new Date(data.created_at) : new Date() }
}

async function markTampered(ctx: BotContext, record: IssueRecord): Promise<void> {
  await ctx.db.query('UPDATE gatehouse.bot_approval_issues SET tampered_at = $2, restored_at = NULL WHERE request_id = $1', [record.requestId, new Date().toISOString()])
  record.tamperedAt = new Date()
  record.restoredAt = null
}

/** Once the texts are back: a comment saying what happened, whose time is the line approvals must be written after. */
async function confirmRestored(ctx: BotContext, record: IssueRecord, what: string, editor: string | undefined): Promise<void> {
  const by = editor ? ` by @${editor}` : ''
  const notice = await postComment(ctx, record, `⚠️ ${what} was changed${by} after the bot wrote it. The bot put back the request as the gateway holds it. Approvals written before this comment do not count: read the request above again, then approve in a new comment.`)
  await ctx.db.query('UPDATE gatehouse.bot_approval_issues SET restored_at = $2 WHERE request_id = $1', [record.requestId, notice.createdAt.toISOString()])
  record.restoredAt = notice.createdAt
  ctx.log.warn('approval issue tampered with and restored', { request: record.requestId, issue: record.number, what })
}

/**
 * Compares what GitHub shows with what the bot wrote and restores whatever
 * differs. Returns true when everything was intact. A tampering whose restore
 * did not finish (GitHub failed midway) is finished here.
 */
export async function verifyIssue(ctx: BotContext, record: IssueRecord, editor?: string): Promise<boolean> {
  const { data: issue } = await ctx.github.request('GET /repos/{owner}/{repo}/issues/{issue_number}', { ...where(ctx), issue_number: record.number })
  const stored = await ctx.db.query<{ comment_id: string | number; body: string }>('SELECT comment_id, body FROM gatehouse.bot_approval_comments WHERE repo = $1 AND request_id = $2', [repoKey(ctx), record.requestId])
  const comments = stored.length === 0 ? [] : await ctx.github.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where(ctx), issue_number: record.number, per_page: 100 })
  const shown = new Map(comments.map((c) => [Number(c.id), c.body ?? '']))
  const changed: string[] = []
  if (issue.title !== record.title || !same(issue.body, record.body)) changed.push('this issue')
  const edited = stored.filter((s) => shown.has(Number(s.comment_id)) && !same(shown.get(Number(s.comment_id)), s.body))
  if (edited.length > 0) changed.push(edited.length === 1 ? 'a comment of the bot' : `${edited.length} comments of the bot`)
  if (changed.length > 0) {
    // invariant: marked before anything is restored, so a failure midway leaves approvals refused.
    await markTampered(ctx, record)
    if (changed[0] === 'this issue') await ctx.github.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { ...where(ctx), issue_number: record.number, title: record.title, body: record.body })
    for (const c of edited) await ctx.github.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...where(ctx), comment_id: Number(c.comment_id), body: c.body })
  }
  if (changed.length > 0 || (record.tamperedAt && !record.restoredAt)) await confirmRestored(ctx, record, changed.join(' and ') || 'this issue', editor)
  return changed.length === 0
}

/** Why an approval written at `writtenAt` cannot count on this issue, or undefined when it can. */
export function tamperedReason(record: IssueRecord, writtenAt: Date): string | undefined {
  if (!record.tamperedAt) return undefined
  if (!record.restoredAt) return 'this issue was edited and is not yet restored; approvals do not count until it is'
  if (writtenAt <= record.restoredAt) return 'this issue was edited after the bot wrote it, and your comment was written before the bot restored it: read the request again and approve in a new comment'
  return undefined
}
