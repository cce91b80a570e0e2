// Policy pull requests: on opened, synchronize, reopened, edited with a new
// base branch, and a push to the base branch, the pull request is evaluated
// again and its comment and check are brought up to date. The pull request is
// always read from the API (a queued payload may be stale); closed ones are
// left alone.
import type { BotContext } from '../context.js'
import { PermanentError } from '../context.js'
import { webUrl } from '../github/client.js'
import { Membership } from '../github/membership.js'
import { checkRequirement } from '../github/protection.js'
import { enqueueDelivery } from '../queue.js'
import { fullName } from '../webhook/route.js'
import { evaluatePullRequest } from './evaluate.js'
import { publishCheck, publishComment } from './publish.js'
import { renderCheck, renderComment, type RenderContext } from './render.js'
import { listCommands, listPushers, loadPullRequest, recordPusher, savePullRequest, type PullRequestState } from './state.js'
import { computeStatus, standingHolds, standingVotes, UNKNOWN_PUSHER } from './status.js'

export interface PullRequestRef {
  number: number
  state: string
  user: { login: string } | null
  head: { sha: string }
  base: { sha: string; ref: string }
}

export const checkName = (baseRef: string) => `gatehouse/policy: ${baseRef}`
const BASE_MOVED = 'base_moved'

export async function fetchPullRequest(ctx: BotContext, number: number): Promise<PullRequestRef> {
  const { owner, name } = ctx.config.policyRepo
  const { data } = await ctx.github.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo: name, pull_number: number })
  return data
}

/**
 * Who may not approve because they pushed: GitHub's own record only. The
 * `sender` of every opened, reopened and synchronize delivery is stored as it
 * is handled; a push the bot missed (it was down, the delivery failed) is
 * looked for in the timeline, where a force push names its actor. The verified
 * author of a commit (GitHub checked the signature) is excluded too. A name or
 * e-mail address written into an unverified commit proves nothing, so it
 * neither excludes nor admits anyone. When nothing from GitHub says who
 * pushed the head commit, UNKNOWN_PUSHER stands in and no approval counts
 * (see status.ts): that is GitHub's "most recent reviewable push" rule,
 * failing closed.
 */
async function pushersOf(ctx: BotContext, repoName: string, pr: PullRequestRef): Promise<string[]> {
  const { owner, name } = ctx.config.policyRepo
  const where = { owner, repo: name }
  const logins = new Set<string>()
  const commits = await ctx.github.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', { ...where, pull_number: pr.number, per_page: 100 })
  for (const c of commits) if (c.commit.verification?.verified && c.author?.login) logins.add(c.author.login.toLowerCase())
  let recorded = await listPushers(ctx.db, repoName, pr.number)
  if (!recorded.some((p) => p.headSha === pr.head.sha)) {
    const timeline = await ctx.github.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/timeline', { ...where, issue_number: pr.number, per_page: 100 })
    for (const event of timeline as Array<{ event?: string; actor?: { login?: string } | null; commit_id?: string | null }>) {
      if (event.event !== 'head_ref_force_pushed' || !event.actor?.login) continue
      await recordPusher(ctx.db, repoName, pr.number, event.commit_id ?? '', event.actor.login, 'timeline')
    }
    recorded = await listPushers(ctx.db, repoName, pr.number)
  }
  for (const p of recorded) logins.add(p.login)
  if (!recorded.some((p) => p.headSha === pr.head.sha)) logins.add(UNKNOWN_PUSHER)
  return [...logins].sort()
}

/** Renders and publishes the current state: comment first, then the check. */
export async function publishPullRequest(ctx: BotContext, state: PullRequestState): Promise<PullRequestState> {
  const repo = ctx.config.policyRepo
  const commands = await listCommands(ctx.db, state.repo, state.number)
  const status = await computeStatus(state, standingVotes(commands, state.evaluation), standingHolds(commands), new Membership(ctx.github, state.evaluation.organisation))
  const excluded = [...new Set([state.author, ...state.pushers])].filter((l) => l && l !== UNKNOWN_PUSHER)
  const name = checkName(state.baseRef)
  const requirement = await checkRequirement(ctx.github, repo, state.baseRef, name)
  const context: RenderContext = { repoUrl: `${webUrl(ctx.config.github.baseUrl)}/${repo.owner}/${repo.name}`, ...(requirement.required ? {} : { warning: requirement.warning }) }
  const commentId = await publishComment(ctx.github, repo, state.number, renderComment(state.evaluation, status, state.baseRef, excluded, context), state.commentId, ctx.self)
  const checkRunId = await publishCheck(ctx.github, ctx.checkMode, repo, {
    name, headSha: state.evaluation.headSha, passed: status.passed, output: renderCheck(state.evaluation, status, context), knownId: state.checkRunId,
  })
  const next = { ...state, commentId, checkRunId }
  if (commentId !== state.commentId || checkRunId !== state.checkRunId) await savePullRequest(ctx.db, next)
  ctx.log.info('pull request published', { pr: state.number, head: state.evaluation.headSha, green: status.passed })
  return next
}

export async function evaluateAndPublish(ctx: BotContext, pr: PullRequestRef): Promise<PullRequestState> {
  const repoName = fullName(ctx.config.policyRepo).toLowerCase()
  const [evaluation, pushers, previous] = await Promise.all([
    evaluatePullRequest(ctx.github, ctx.config.policyRepo, { head: pr.head.sha, base: pr.base.sha }, ctx.blobs),
    pushersOf(ctx, repoName, pr),
    loadPullRequest(ctx.db, repoName, pr.number),
  ])
  const state: PullRequestState = {
    repo: repoName,
    number: pr.number,
    baseRef: pr.base.ref,
    author: (pr.user?.login ?? '').toLowerCase(),
    pushers,
    evaluation,
    evaluatedSince: previous && previous.evaluation.headSha === evaluation.headSha && previous.evaluation.digest === evaluation.digest ? previous.evaluatedSince : new Date().toISOString(),
    commentId: previous?.commentId ?? null,
    checkRunId: previous && previous.evaluation.headSha === evaluation.headSha && previous.baseRef === pr.base.ref ? previous.checkRunId : null,
  }
  // Votes for another head or diff stay stored (so a replay of them is still recognised) but no longer count.
  await savePullRequest(ctx.db, state)
  return publishPullRequest(ctx, state)
}

/** The stored evaluation, redone first when the pull request has moved since. */
export async function currentState(ctx: BotContext, pr: PullRequestRef): Promise<PullRequestState> {
  const state = await loadPullRequest(ctx.db, fullName(ctx.config.policyRepo).toLowerCase(), pr.number)
  if (state && state.evaluation.headSha === pr.head.sha && state.evaluation.baseSha === pr.base.sha && state.baseRef === pr.base.ref) return state
  return evaluateAndPublish(ctx, pr)
}

/** `base_moved` is the bot's own: queued by handlePush for each pull request onto a pushed branch. */
const EVALUATED_ACTIONS = new Set(['opened', 'synchronize', 'reopened', BASE_MOVED])
/** The actions whose sender pushed the head commit they carry. */
const PUSH_ACTIONS = new Set(['opened', 'synchronize', 'reopened'])

export async function handlePullRequestEvent(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const action = payload.action
  const pull = payload.pull_request as { number?: unknown } | undefined
  if (typeof pull?.number !== 'number') throw new PermanentError('pull_request event without a pull request number')
  const baseChanged = action === 'edited' && typeof (payload.changes as { base?: unknown } | undefined)?.base === 'object'
  if (typeof action !== 'string' || !(EVALUATED_ACTIONS.has(action) || baseChanged)) return
  const sender = (payload.sender as { login?: unknown } | undefined)?.login
  const pushedHead = (pull as { head?: { sha?: unknown } }).head?.sha
  // GitHub's own word on who pushed: the signed delivery's sender.
  if (PUSH_ACTIONS.has(action) && typeof sender === 'string' && typeof pushedHead === 'string') {
    await recordPusher(ctx.db, fullName(ctx.config.policyRepo).toLowerCase(), pull.number, pushedHead, sender, 'delivery')
  }
  const pr = await fetchPullRequest(ctx, pull.number)
  if (pr.state !== 'open') return
  await evaluateAndPublish(ctx, pr)
}

/**
 * A push to a branch changes the approvers and the diff of every open pull
 * request onto it. Each gets its own queued evaluation, under its own key, so
 * it runs in order with that pull request's other deliveries; the ids are
 * derived from the pushed commit, so running this again queues nothing twice.
 */
export async function handlePush(ctx: BotContext, payload: Record<string, unknown>): Promise<void> {
  const ref = payload.ref
  const after = payload.after
  if (typeof ref !== 'string' || typeof after !== 'string') throw new PermanentError('push event without ref or after')
  const { owner, name } = ctx.config.policyRepo
  const branch = ref.replace(/^refs\/heads\//, '')
  const pulls = await ctx.github.paginate('GET /repos/{owner}/{repo}/pulls', { owner, repo: name, state: 'open', base: branch, per_page: 100 })
  const repoName = fullName(ctx.config.policyRepo).toLowerCase()
  for (const pull of pulls) {
    await enqueueDelivery(ctx.db, {
      id: `gatehouse-base-moved-${after.slice(0, 40)}-${pull.number}`,
      event: 'pull_request',
      key: `${repoName}#${pull.number}`,
      payload: { action: BASE_MOVED, pull_request: { number: pull.number }, repository: { full_name: fullName(ctx.config.policyRepo) } },
    })
  }
  if (pulls.length > 0) ctx.log.info('base branch moved', { branch, pulls: pulls.length })
}
