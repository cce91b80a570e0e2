// Publishing without duplicates: the comment is edited in place (by its
// stored id, else found by its hidden marker among the bot's own comments,
// else created), and the check is updated in place (by id, else found by name
// on the head commit, else created). Running the same publication twice,
// after a failure halfway, leaves one comment and one check.
// A GitHub App reports a check run with annotations; a personal access token
// cannot create check runs, so in that mode the result is a commit status
// with the same name.
import type { RepoRef } from '../config.js'
import type { GitHub } from '../github/client.js'
import { COMMENT_MARKER, type CheckOutput } from './render.js'

const notFound = (err: unknown) => (err as { status?: number }).status === 404

export async function publishComment(github: GitHub, repo: RepoRef, number: number, body: string, knownId: number | null, self: string): Promise<number> {
  const where = { owner: repo.owner, repo: repo.name }
  if (knownId !== null) {
    try {
      await github.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...where, comment_id: knownId, body })
      return knownId
    } catch (err) {
      if (!notFound(err)) throw err
    }
  }
  const comments = await github.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where, issue_number: number, per_page: 100 })
  // Only the bot's own comments: anyone can paste the marker into theirs.
  const existing = comments.find((c) => c.user?.login?.toLowerCase() === self.toLowerCase() && c.body?.startsWith(COMMENT_MARKER))
  if (existing) {
    await github.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...where, comment_id: Number(existing.id), body })
    return Number(existing.id)
  }
  const { data } = await github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where, issue_number: number, body })
  return Number(data.id)
}

export type CheckMode = 'check-run' | 'status'

export async function publishCheck(
  github: GitHub,
  mode: CheckMode,
  repo: RepoRef,
  check: { name: string; headSha: string; passed: boolean; output: CheckOutput; knownId: number | null },
): Promise<number | null> {
  const where = { owner: repo.owner, repo: repo.name }
  const conclusion = check.passed ? ('success' as const) : ('failure' as const)
  if (mode === 'status') {
    await github.request('POST /repos/{owner}/{repo}/statuses/{sha}', { ...where, sha: check.headSha, state: conclusion, context: check.name, description: check.output.title.slice(0, 140) })
    return null
  }
  const fields = { status: 'completed' as const, conclusion, output: check.output }
  if (check.knownId !== null) {
    try {
      await github.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', { ...where, check_run_id: check.knownId, ...fields })
      return check.knownId
    } catch (err) {
      if (!notFound(err)) throw err
    }
  }
  const { data: found } = await github.request('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', { ...where, ref: check.headSha, check_name: check.name })
  const existing = found.check_runs[0]
  if (existing) {
    await github.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', { ...where, check_run_id: existing.id, ...fields })
    return Number(existing.id)
  }
  const { data } = await github.request('POST /repos/{owner}/{repo}/check-runs', { ...where, name: check.name, head_sha: check.headSha, ...fields })
  return Number(data.id)
}
