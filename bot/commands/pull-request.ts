// Approval commands on policy pull requests, and native reviews. A command
// counts only when it is in a new comment (edits never count) on an open
// pull request, written after the head commit and permission diff now
// evaluated were first seen, by someone who is neither its author nor one
// of its pushers and who is an approver of at least one of its rules (team
// and organisation membership asked of GitHub now). A review counts the same
// way, for the head commit it names. Each comment and review counts once, by
// GitHub's id of it, whatever delivery brings it; a person's vote is their
// latest by the time GitHub says they wrote it (see status.ts). The bot
// reacts to every command it read and says why when one did not count.
import type { BotContext } from '../context.js'
import { PermanentError } from '../context.js'
import { Membership } from '../github/membership.js'
import { currentState, fetchPullRequest, publishPullRequest } from '../policy/pull-request.js'
import { commandRecorded, recordCommand, type PullRequestState, type RecordedCommand } from '../policy/state.js'
import { exclusion } from '../policy/status.js'
import { commandInLongComment, MAX_PARSED_CHARS, parseCommands } from './parse.js'
import { answer, isFromBot, type Outcome } from './reply.js'

interface Comment {
  id: number
  created_at?: unknown
  body?: unknown
  user?: { login?: string; type?: string } | null
}

/** An HTTP status GitHub answered with that no retry will change (not a rate limit, not a server error). */
const refusedByGitHub = (err: unknown) => {
  const status = (err as { status?: number }).status
  return status !== undefined && status >= 400 && status < 500 && status !== 429
}

/** A vote is for what its author saw: one written before the head and diff now evaluated was about an earlier one. */
function writtenBefore(state: PullRequestState, writtenAt: string): boolean {
  // GitHub's times have whole seconds: the comparison does too.
  const since = Math.floor(Date.parse(state.evaluatedSince) / 1000) * 1000
  return !(Date.parse(writtenAt) >= since)
}

async function applyCommand(ctx: BotContext, state: PullRequestState, login: string, command: RecordedCommand, source: string, writtenAt: string): Promise<Outcome> {
  const excluded = exclusion(state, login)
  if (excluded) return { counted: false, reason: excluded }
  const approvers = [...new Set(state.evaluation.rules.flatMap((r) => r.approvers))]
  let matched: string[]
  try {
    matched = await new Membership(ctx.github, state.evaluation.organisation).matching(login, approvers)
  } catch (err) {
    if (!refusedByGitHub(err)) throw err
    // A permanent refusal (the App lacks a permission): retrying cannot help, and the commenter deserves an answer.
    const status = (err as { status: number }).status
    ctx.log.warn('membership lookup refused', { pr: state.number, status })
    return { counted: false, reason: `GitHub refused to say whether you are one of the approvers (HTTP ${status}), so nothing was counted; the GitHub App needs the organisation permission "Members: read". Comment again once it has it` }
  }
  if (matched.length === 0) {
    return { counted: false, reason: `you are not an approver of this pull request (approvers: ${approvers.map((a) => `\`${a}\``).join(', ') || 'none'})` }
  }
  const { repo, number, evaluation } = state
  await recordCommand(ctx.db, repo, number, { source, login, command, writtenAt, headSha: evaluation.headSha, digest: evaluation.digest })
  return { counted: true }
}

export async function handlePullRequestComment(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const issue = payload.issue as { number?: unknown; state?: unknown; pull_request?: unknown } | undefined
  const comment = payload.comment as Comment | undefined
  if (typeof issue?.number !== 'number' || typeof comment?.id !== 'number') throw new PermanentError('issue_comment event without an issue or comment')
  if (!issue.pull_request || issue.state !== 'open' || isFromBot(ctx, comment.user)) return
  const login = comment.user!.login!.toLowerCase()
  const commands = parseCommands(comment.body)
  const unread = commandInLongComment(comment.body)
  if (unread && payload.action === 'created') {
    const reason = `comments over ${MAX_PARSED_CHARS} characters are not read for commands; write the command in a comment of its own`
    await answer(ctx, ctx.config.policyRepo, { issue: issue.number, commentId: comment.id }, login, unread, { counted: false, reason })
    return
  }
  if (commands.length === 0) return
  if (payload.action === 'edited') {
    await answer(ctx, ctx.config.policyRepo, { issue: issue.number, commentId: comment.id }, login, commands[0]!, { counted: false, reason: 'an edited comment never counts; write a new comment' })
    return
  }
  if (payload.action !== 'created') return
  if (new Set(commands).size > 1) {
    await answer(ctx, ctx.config.policyRepo, { issue: issue.number, commentId: comment.id }, login, commands[0]!, { counted: false, reason: 'a comment may carry one command only' })
    return
  }
  const command = commands[0]!
  const source = `comment:${comment.id}`
  if (typeof comment.created_at !== 'string' || Number.isNaN(Date.parse(comment.created_at))) throw new PermanentError('issue_comment event without a creation time')
  const writtenAt = comment.created_at
  const pr = await fetchPullRequest(ctx, issue.number)
  if (pr.state !== 'open') return
  const state = await currentState(ctx, pr)
  // invariant: a comment counts once; another delivery of it (a replay under a new delivery id, a redelivery) changes nothing.
  if (await commandRecorded(ctx.db, state.repo, state.number, source)) {
    ctx.log.info('command already counted', { pr: issue.number, source })
    return
  }
  // Holds and cancellations are not bound to what was evaluated; approvals and denials are.
  const outcome: Outcome = (command === 'approve' || command === 'deny') && writtenBefore(state, writtenAt)
    ? { counted: false, reason: `the comment was written before commit \`${state.evaluation.headSha.slice(0, 7)}\` and its permission diff were evaluated; comment again to decide on them` }
    : await applyCommand(ctx, state, login, command, source, writtenAt)
  ctx.log.info('command read', { pr: issue.number, command, counted: outcome.counted })
  await answer(ctx, ctx.config.policyRepo, { issue: issue.number, commentId: comment.id }, login, command, outcome)
  if (outcome.counted) await publishPullRequest(ctx, state)
}

export async function handleReview(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const pull = payload.pull_request as { number?: unknown } | undefined
  const review = payload.review as { id?: unknown; state?: unknown; commit_id?: unknown; submitted_at?: unknown; user?: { login?: string; type?: string } | null } | undefined
  if (typeof pull?.number !== 'number' || typeof review?.id !== 'number') throw new PermanentError('pull_request_review event without a pull request or review')
  if (isFromBot(ctx, review.user)) return
  const login = review.user!.login!.toLowerCase()
  const approved = String(review.state).toLowerCase() === 'approved'
  if (!((payload.action === 'submitted' && approved) || payload.action === 'dismissed')) return
  const source = `review:${review.id}`
  const writtenAt = typeof review.submitted_at === 'string' && !Number.isNaN(Date.parse(review.submitted_at)) ? review.submitted_at : undefined
  const pr = await fetchPullRequest(ctx, pull.number)
  if (pr.state !== 'open') return
  const state = await currentState(ctx, pr)
  if (payload.action === 'dismissed') {
    // A dismissal only ever takes an approval away, so it is recorded whoever's review it was, and it is final.
    const changed = await recordCommand(ctx.db, state.repo, state.number, { source, login, command: 'dismissed', writtenAt: writtenAt ?? new Date(0).toISOString(), headSha: '', digest: '' })
    if (changed) await publishPullRequest(ctx, state)
    return
  }
  if (!writtenAt) throw new PermanentError('pull_request_review event without a submission time')
  if (await commandRecorded(ctx.db, state.repo, state.number, source)) {
    ctx.log.info('review already counted', { pr: pull.number, source })
    return
  }
  const head = state.evaluation.headSha.slice(0, 7)
  const outcome: Outcome =
    review.commit_id !== state.evaluation.headSha
      ? { counted: false, reason: `the review is for commit \`${String(review.commit_id).slice(0, 7)}\`, not the head \`${head}\`` }
      : writtenBefore(state, writtenAt)
        ? { counted: false, reason: `the review was submitted before commit \`${head}\` and its permission diff (against the base now targeted) were evaluated; review again to decide on them` }
        : await applyCommand(ctx, state, login, 'approve', source, writtenAt)
  await answer(ctx, ctx.config.policyRepo, { issue: pull.number }, login, 'review', outcome)
  if (outcome.counted) await publishPullRequest(ctx, state)
}
