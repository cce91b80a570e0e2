// One pull request per stale identity, on the branch
// `gatehouse/sweep/<identity>`: created when there is none, brought up to
// date when what it should change differs from what its branch holds, left
// alone otherwise (so a second run changes nothing). Blob shas are computed
// locally, so comparing costs one tree listing, not a download.
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { RepoRef } from '../config.js'
import type { BotContext } from '../context.js'
import { readTree } from '../policy/fetch.js'

export interface ProposedChange {
  identity: string
  title: string
  body: string
  /** Path → new content, or null to delete the file. */
  files: Map<string, string | null>
  reviewers: { users: string[]; teams: string[] }
  /** The branch to propose on; `gatehouse/sweep/<identity>` by default. */
  branch?: string
}

export type ProposalOutcome = 'created' | 'updated' | 'unchanged' | 'would-create' | 'would-update'

export const sweepBranch = (identity: string) => `gatehouse/sweep/${identity}`

const gitBlobSha = (text: string) => {
  const bytes = Buffer.from(text)
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')
}

async function branchHead(ctx: BotContext, repo: RepoRef, branch: string): Promise<string | undefined> {
  try {
    const { data } = await ctx.github.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner: repo.owner, repo: repo.name, ref: `heads/${branch}` })
    return data.object.sha
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined
    throw err
  }
}

async function holdsChange(ctx: BotContext, repo: RepoRef, sha: string, files: Map<string, string | null>): Promise<boolean> {
  const { entries } = await readTree(ctx.github, repo, sha, { all: true })
  const blobs = new Map(entries.map((e) => [e.path, e.sha]))
  for (const [path, text] of files) if ((blobs.get(path) ?? null) !== (text === null ? null : gitBlobSha(text))) return false
  return true
}

export async function proposeChange(
  ctx: BotContext,
  base: { branch: string; sha: string; treeSha: string },
  change: ProposedChange,
  dryRun: boolean,
): Promise<{ outcome: ProposalOutcome; number?: number }> {
  const repo = ctx.config.policyRepo
  const where = { owner: repo.owner, repo: repo.name }
  const branch = change.branch ?? sweepBranch(change.identity)
  const [open] = await ctx.github.request('GET /repos/{owner}/{repo}/pulls', { ...where, state: 'open', head: `${repo.owner}:${branch}`, per_page: 10 }).then((r) => r.data)
  const head = await branchHead(ctx, repo, branch)
  if (open && head && (await holdsChange(ctx, repo, head, change.files))) return { outcome: 'unchanged', number: open.number }
  if (dryRun) return open ? { outcome: 'would-update', number: open.number } : { outcome: 'would-create' }

  const tree = [...change.files].map(([path, text]) => (text === null ? { path, mode: '100644' as const, type: 'blob' as const, sha: null } : { path, mode: '100644' as const, type: 'blob' as const, content: text }))
  const { data: newTree } = await ctx.github.request('POST /repos/{owner}/{repo}/git/trees', { ...where, base_tree: base.treeSha, tree })
  const { data: commit } = await ctx.github.request('POST /repos/{owner}/{repo}/git/commits', { ...where, message: change.title, tree: newTree.sha, parents: [base.sha] })
  if (head) await ctx.github.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ...where, ref: `heads/${branch}`, sha: commit.sha, force: true })
  else await ctx.github.request('POST /repos/{owner}/{repo}/git/refs', { ...where, ref: `refs/heads/${branch}`, sha: commit.sha })
  if (open) {
    await ctx.github.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...where, pull_number: open.number, title: change.title, body: change.body })
    return { outcome: 'updated', number: open.number }
  }
  const { data: pr } = await ctx.github.request('POST /repos/{owner}/{repo}/pulls', { ...where, title: change.title, head: branch, base: base.branch, body: change.body })
  try {
    await ctx.github.request('POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers', { ...where, pull_number: pr.number, reviewers: change.reviewers.users, team_reviewers: change.reviewers.teams })
  } catch (err) {
    // A reviewer GitHub will not accept (not a collaborator) must not undo the proposal; the body names the owner too.
    if ((err as { status?: number }).status !== 422) throw err
    ctx.log.warn('review request refused', { pr: pr.number })
  }
  return { outcome: 'created', number: pr.number }
}
