// One pull request per identity and kind of change, on the branch
// `gatehouse/sweep/<identity>` (or `gatehouse/rotate/<identity>` for retiring
// expired credentials, which stands beside an access change), kept in step
// with the evidence: created when there is none, brought up to date (files,
// title, description, labels) when what it should say differs, left alone
// otherwise, so a second run changes nothing. A branch carrying a
// commit not made by the bot is a person's work: it is never overwritten, the
// bot comments instead (once per head commit). Blob shas are computed
// locally, so comparing costs one tree listing, not a download.
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { RepoRef } from '../config.js'
import type { BotContext } from '../context.js'
import { readTree } from '../policy/fetch.js'
import type { ProposingAction } from './findings.js'

export interface ProposedChange {
  identity: string
  action: ProposingAction
  title: string
  body: string
  /** Path → new content, or null to delete the file. */
  files: Map<string, string | null>
  reviewers: { users: string[]; teams: string[] }
  labels: string[]
}

/** A sweep pull request as GitHub has it (the newest one per branch). */
export interface SweepPull {
  number: number
  branch: string
  identity: string
  action: string | undefined
  state: 'open' | 'closed'
  merged: boolean
  closedAt: Date | null
  body: string
  title: string
}

export type ProposalOutcome = 'created' | 'updated' | 'reopened' | 'unchanged' | 'human-pushed' | 'would-create' | 'would-update' | 'would-reopen'

export const SWEEP_LABEL = 'gatehouse-sweep'
/** The branch of an identity's proposal, which also keys it: one for access changes, one for retiring expired credentials. */
export const proposalBranch = (identity: string, action: string | undefined) => `gatehouse/${action === 'retire' ? 'rotate' : 'sweep'}/${identity}`
export const sweepMarker = (identity: string, action: string) => `<!-- gatehouse:sweep:${identity}:${action} -->`
const CLOSED_MARKER = '<!-- gatehouse:sweep-closed -->'
const MARKER = /^<!-- gatehouse:sweep:([^:\s]+)(?::([a-z-]+))? -->/

const where = (repo: RepoRef) => ({ owner: repo.owner, repo: repo.name })

const gitBlobSha = (text: string) => {
  const bytes = Buffer.from(text)
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')
}

/** The newest sweep pull request of each branch, open or closed, opened by the bot. */
export async function listSweepPulls(ctx: BotContext): Promise<Map<string, SweepPull>> {
  const pulls = await ctx.github.paginate('GET /repos/{owner}/{repo}/pulls', { ...where(ctx.config.policyRepo), state: 'all', per_page: 100 })
  const found = new Map<string, SweepPull>()
  for (const p of pulls) {
    const marker = MARKER.exec(p.body ?? '')
    if (!marker || p.user?.login?.toLowerCase() !== ctx.self.toLowerCase() || p.head.ref !== proposalBranch(marker[1]!, marker[2])) continue
    const identity = marker[1]!
    const branch = p.head.ref
    if ((found.get(branch)?.number ?? 0) > p.number) continue
    found.set(branch, {
      number: p.number, branch, identity, action: marker[2], state: p.state === 'open' ? 'open' : 'closed', merged: Boolean(p.merged_at),
      closedAt: p.closed_at ? new Date(p.closed_at) : null, body: p.body ?? '', title: p.title,
    })
  }
  return found
}

async function branchHead(ctx: BotContext, branch: string): Promise<string | undefined> {
  try {
    const { data } = await ctx.github.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...where(ctx.config.policyRepo), ref: `heads/${branch}` })
    return data.object.sha
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined
    throw err
  }
}

async function holdsChange(ctx: BotContext, sha: string, files: Map<string, string | null>): Promise<boolean> {
  const { entries } = await readTree(ctx.github, ctx.config.policyRepo, sha, { all: true })
  const blobs = new Map(entries.map((e) => [e.path, e.sha]))
  for (const [path, text] of files) if ((blobs.get(path) ?? null) !== (text === null ? null : gitBlobSha(text))) return false
  return true
}

/** Whether anyone but the bot authored or committed a commit of the pull request (unknown accounts count as someone). */
async function pushedByOthers(ctx: BotContext, number: number): Promise<boolean> {
  const commits = await ctx.github.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', { ...where(ctx.config.policyRepo), pull_number: number, per_page: 100 })
  const self = ctx.self.toLowerCase()
  return commits.some((c) => c.author?.login?.toLowerCase() !== self || c.committer?.login?.toLowerCase() !== self)
}

async function comments(ctx: BotContext, number: number) {
  return ctx.github.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where(ctx.config.policyRepo), issue_number: number, per_page: 100 })
}

async function commentOnce(ctx: BotContext, number: number, marker: string, text: string): Promise<void> {
  if ((await comments(ctx, number)).some((c) => c.user?.login?.toLowerCase() === ctx.self.toLowerCase() && c.body?.startsWith(marker))) return
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where(ctx.config.policyRepo), issue_number: number, body: `${marker}\n${text}` })
}

/** Whether the bot closed the pull request itself (it always says why, with a marker); otherwise a person did. */
export async function closedByBot(ctx: BotContext, number: number): Promise<boolean> {
  return (await comments(ctx, number)).some((c) => c.user?.login?.toLowerCase() === ctx.self.toLowerCase() && c.body?.startsWith(CLOSED_MARKER))
}

export async function closeProposal(ctx: BotContext, pull: SweepPull, why: string): Promise<void> {
  const repo = where(ctx.config.policyRepo)
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...repo, issue_number: pull.number, body: `${CLOSED_MARKER}\nClosed by the sweep: ${why}` })
  await ctx.github.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...repo, pull_number: pull.number, state: 'closed' })
}

async function pushBranch(ctx: BotContext, base: { sha: string; treeSha: string }, change: ProposedChange, head: string | undefined): Promise<void> {
  const repo = where(ctx.config.policyRepo)
  const branch = proposalBranch(change.identity, change.action)
  const tree = [...change.files].map(([path, text]) => (text === null ? { path, mode: '100644' as const, type: 'blob' as const, sha: null } : { path, mode: '100644' as const, type: 'blob' as const, content: text }))
  const { data: newTree } = await ctx.github.request('POST /repos/{owner}/{repo}/git/trees', { ...repo, base_tree: base.treeSha, tree })
  const { data: commit } = await ctx.github.request('POST /repos/{owner}/{repo}/git/commits', { ...repo, message: change.title, tree: newTree.sha, parents: [base.sha] })
  // invariant: forced only over the bot's own commits (checked by the caller).
  if (head) await ctx.github.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ...repo, ref: `heads/${branch}`, sha: commit.sha, force: true })
  else await ctx.github.request('POST /repos/{owner}/{repo}/git/refs', { ...repo, ref: `refs/heads/${branch}`, sha: commit.sha })
}

async function refresh(ctx: BotContext, number: number, change: ProposedChange, state?: 'open'): Promise<void> {
  const repo = where(ctx.config.policyRepo)
  await ctx.github.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...repo, pull_number: number, title: change.title, body: change.body, ...(state ? { state } : {}) })
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { ...repo, issue_number: number, labels: change.labels })
}

/**
 * Brings the proposal of `change.identity` in line with `change`. `existing`
 * is its newest pull request; a closed one is reopened (its discussion kept)
 * only when the caller decided the evidence changed enough.
 */
export async function proposeChange(
  ctx: BotContext,
  base: { branch: string; sha: string; treeSha: string },
  change: ProposedChange,
  existing: SweepPull | undefined,
  dryRun: boolean,
): Promise<{ outcome: ProposalOutcome; number?: number }> {
  const repo = where(ctx.config.policyRepo)
  const branch = proposalBranch(change.identity, change.action)
  const head = await branchHead(ctx, branch)
  const reuse = existing && !existing.merged && (existing.state === 'open' || head) ? existing : undefined
  if (reuse) {
    const number = reuse.number
    if (head && (await pushedByOthers(ctx, number))) {
      if (!dryRun) {
        await commentOnce(ctx, number, `<!-- gatehouse:sweep-human:${head} -->`, `This branch has commits the bot did not make, so the bot does not update it. What the sweep would propose now:\n\n${change.body}`)
      }
      return { outcome: 'human-pushed', number }
    }
    const same = head !== undefined && (await holdsChange(ctx, head, change.files)) && reuse.body === change.body && reuse.title === change.title
    if (same && reuse.state === 'open') return { outcome: 'unchanged', number }
    if (dryRun) return { outcome: reuse.state === 'open' ? 'would-update' : 'would-reopen', number }
    if (!head || !(await holdsChange(ctx, head, change.files))) await pushBranch(ctx, base, change, head)
    if (reuse.state === 'open') {
      await refresh(ctx, number, change)
      return { outcome: 'updated', number }
    }
    await refresh(ctx, number, change, 'open')
    await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...repo, issue_number: number, body: 'Reopened by the sweep: the evidence changed since this was closed (see the description).' })
    return { outcome: 'reopened', number }
  }
  if (dryRun) return { outcome: 'would-create' }
  // A branch without a pull request (a run interrupted after pushing it, or a merged proposal) is reset to the new commit.
  await pushBranch(ctx, base, change, head)
  const { data: pr } = await ctx.github.request('POST /repos/{owner}/{repo}/pulls', { ...repo, title: change.title, head: branch, base: base.branch, body: change.body })
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { ...repo, issue_number: pr.number, labels: change.labels })
  try {
    await ctx.github.request('POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers', { ...repo, pull_number: pr.number, reviewers: change.reviewers.users, team_reviewers: change.reviewers.teams })
  } catch (err) {
    // A reviewer GitHub will not accept (not a collaborator) must not undo the proposal; the body names the owner too.
    if ((err as { status?: number }).status !== 422) throw err
    ctx.log.warn('review request refused', { pr: pr.number })
  }
  return { outcome: 'created', number: pr.number }
}
