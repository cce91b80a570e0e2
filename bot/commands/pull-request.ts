// Approval commands on policy pull requests, and native reviews. A command
// counts only when it is in a new comment (edits never count) on an open
// pull request, from someone who is neither its author nor one of its
// committers and who is an approver of at least one of its rules (team
// membership asked of GitHub now). Approvals and denials are bound to the
// head commit and permission diff evaluated at that moment. The bot reacts to
// every command it read and says why when one did not count.
import type { BotContext } from '../context.js'
import { PermanentError } from '../context.js'
import { Membership } from '../github/membership.js'
import { currentState, fetchPullRequest, publishPullRequest } from '../policy/pull-request.js'
import { recordVote, setHold, withdrawVote, type PullRequestState } from '../policy/state.js'
import { exclusion } from '../policy/status.js'
import { parseCommands, type CommandName } from './parse.js'
import { answer, isFromBot, type Outcome } from './reply.js'

interface Comment {
  id: number
  created_at?: unknown
  body?: unknown
  user?: { login?: string; type?: string } | null
}

async function applyCommand(ctx: BotContext, state: PullRequestState, login: string, command: CommandName, source: string): Promise<Outcome> {
  const excluded = exclusion(state, login)
  if (excluded) return { counted: false, reason: excluded }
  const membership = new Membership(ctx.github)
  const approvers = [...new Set(state.evaluation.rules.flatMap((r) => r.approvers))]
  if ((await membership.matching(login, approvers)).length === 0) {
    return { counted: false, reason: `you are not an approver of this pull request (approvers: ${approvers.map((a) => `\`${a}\``).join(', ') || 'none'})` }
  }
  const { repo, number, evaluation } = state
  switch (command) {
    case 'approve':
    case 'deny':
      await recordVote(ctx.db, repo, number, { login, vote: command, headSha: evaluation.headSha, digest: evaluation.digest, source })
      break
    case 'approve-cancel':
      await withdrawVote(ctx.db, repo, number, login, 'approve')
      break
    case 'hold':
    case 'unhold':
      await setHold(ctx.db, repo, number, login, command === 'hold')
      break
  }
  return { counted: true }
}

export async function handlePullRequestComment(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const issue = payload.issue as { number?: unknown; state?: unknown; pull_request?: unknown } | undefined
  const comment = payload.comment as Comment | undefined
  if (typeof issue?.number !== 'number' || typeof comment?.id !== 'number') throw new PermanentError('issue_comment event without an issue or comment')
  if (!issue.pull_request || issue.state !== 'open' || isFromBot(ctx, comment.user)) return
  const login = comment.user!.login!.toLowerCase()
  const commands = parseCommands(comment.body)
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
  const pr = await fetchPullRequest(ctx, issue.number)
  if (pr.state !== 'open') return
  const state = await currentState(ctx, pr)
  // A vote is for what its author saw: a comment older than the head and diff now evaluated was about an earlier one.
  // GitHub's times have whole seconds: the comparison does too.
  const written = typeof comment.created_at === 'string' ? Date.parse(comment.created_at) : NaN
  const since = Math.floor(Date.parse(state.evaluatedSince) / 1000) * 1000
  const outcome: Outcome =
    (command === 'approve' || command === 'deny') && !(written >= since)
      ? { counted: false, reason: `the comment was written before commit \`${state.evaluation.headSha.slice(0, 7)}\` and its permission diff were evaluated; comment again to decide on them` }
      : await applyCommand(ctx, state, login, command, `comment:${comment.id}`)
  ctx.log.info('command read', { pr: issue.number, command, counted: outcome.counted })
  await answer(ctx, ctx.config.policyRepo, { issue: issue.number, commentId: comment.id }, login, command, outcome)
  if (outcome.counted) await publishPullRequest(ctx, state)
}

export async function handleReview(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const pull = payload.pull_request as { number?: unknown } | undefined
  const review = payload.review as { id?: unknown; state?: unknown; commit_id?: unknown; user?: { login?: string; type?: string } | null } | undefined
  if (typeof pull?.number !== 'number' || typeof review?.id !== 'number') throw new PermanentError('pull_request_review event without a pull request or review')
  if (isFromBot(ctx, review.user)) return
  const login = review.user!.login!.toLowerCase()
  const approved = String(review.state).toLowerCase() === 'approved'
  if (!((payload.action === 'submitted' && approved) || payload.action === 'dismissed')) return
  const pr = await fetchPullRequest(ctx, pull.number)
  if (pr.state !== 'open') return
  const state = await currentState(ctx, pr)
  if (payload.action === 'dismissed') {
    if (await withdrawVote(ctx.db, state.repo, state.number, login, 'approve')) await publishPullRequest(ctx, state)
    return
  }
  const outcome: Outcome =
    review.commit_id !== state.evaluation.headSha
      ? { counted: false, reason: `the review is for commit \`${String(review.commit_id).slice(0, 7)}\`, not the head \`${state.evaluation.headSha.slice(0, 7)}\`` }
      : await applyCommand(ctx, state, login, 'approve', `review:${review.id}`)
  await answer(ctx, ctx.config.policyRepo, { issue: pull.number }, login, 'review', outcome)
  if (outcome.counted) await publishPullRequest(ctx, state)
}
