// Evaluates a policy pull request with the compiler's own functions: the head
// is validated (with lint) and its tests run; the merge base and the head are
// diffed (what the pull request itself changes); the approval rules come from
// the base branch's tip. The permission diff's digest is what approvals are
// bound to, with the head commit.
import { createHash } from 'node:crypto'
import { compileRepository, type ParseCache } from '../../compiler/compile.js'
import type { Diagnostic } from '../../compiler/diagnostics.js'
import { diffBundles, overallRisk, type PermissionDiff, type Risk } from '../../compiler/diff.js'
import { runTests } from '../../compiler/test-runner.js'
import { loadSqlParser } from '../../engine/sql/index.js'
import type { RepoRef } from '../config.js'
import type { GitHub } from '../github/client.js'
import { approvalRules, type ApprovalRule } from './approval-rules.js'
import { loadRevision, type BlobCache } from './fetch.js'

export interface TestFailure {
  file: string
  line: number
  name: string
  message: string
}

export interface Evaluation {
  headSha: string
  baseSha: string
  mergeBaseSha: string
  findings: Diagnostic[]
  testFailures: TestFailure[]
  testsRun: number
  /** Why the change cannot be judged at all (a side does not compile). */
  problems: string[]
  diff?: PermissionDiff
  risk?: Risk
  digest: string
  rules: ApprovalRule[]
  /** The GitHub organisation of the base branch's settings (for team lookups). */
  organisation?: string
}

export function diffDigest(diff: PermissionDiff | undefined, problems: readonly string[]): string {
  const changes = (diff?.changes ?? []).map((c) => JSON.stringify([c.kind, c.identity ?? '', c.resource ?? '', c.detail, c.risk, c.rule ?? ''])).sort()
  return `sha256:${createHash('sha256').update(JSON.stringify({ changes, problems })).digest('hex')}`
}

export async function evaluatePullRequest(
  github: GitHub,
  repo: RepoRef,
  shas: { head: string; base: string },
  blobs: BlobCache,
): Promise<Evaluation> {
  const { data: compare } = await github.request('GET /repos/{owner}/{repo}/compare/{basehead}', { owner: repo.owner, repo: repo.name, basehead: `${shas.base}...${shas.head}` })
  const mergeBaseSha = compare.merge_base_commit.sha
  const cache: ParseCache = new Map()
  const [headRepo, mergeRepo, baseRepo] = await Promise.all([
    loadRevision(github, repo, shas.head, blobs),
    loadRevision(github, repo, mergeBaseSha, blobs),
    mergeBaseSha === shas.base ? undefined : loadRevision(github, repo, shas.base, blobs),
  ])
  const head = await compileRepository(headRepo, { cache })
  const mergeBase = await compileRepository(mergeRepo, { lint: false, cache })
  const base = baseRepo ? await compileRepository(baseRepo, { lint: false, cache }) : mergeBase
  const problems: string[] = []
  if (!head.bundle) problems.push('the pull request does not compile')
  if (!mergeBase.bundle) problems.push('the merge base does not compile, so the change cannot be diffed')
  if (!base.bundle) problems.push('the base branch does not compile, so its approvers cannot be read')

  const testFailures: TestFailure[] = []
  let testsRun = 0
  if (head.bundle && head.model) {
    await loadSqlParser()
    const report = runTests(head.bundle, head.model.tests)
    testsRun = report.results.length
    for (const r of report.results) {
      if (!r.passed) testFailures.push({ file: r.location.file, line: r.location.line, name: `${r.suite} › ${r.name}`, message: r.failures.join('; ') })
    }
  }
  let diff: PermissionDiff | undefined
  if (head.bundle && mergeBase.bundle) {
    const result = diffBundles(mergeBase.bundle, head.bundle)
    if (result.ok) diff = result.diff
    else problems.push(`the diff failed: ${result.errors.join('; ')}`)
  }
  const risk = diff ? overallRisk(diff) : undefined
  const evaluation: Evaluation = {
    headSha: shas.head,
    baseSha: shas.base,
    mergeBaseSha,
    findings: head.diagnostics,
    testFailures,
    testsRun,
    problems,
    digest: diffDigest(diff, problems),
    rules: base.bundle ? approvalRules(base.bundle, diff, head.bundle) : [],
  }
  if (diff) evaluation.diff = diff
  if (risk) evaluation.risk = risk
  if (base.bundle) evaluation.organisation = base.bundle.settings.organisation
  return evaluation
}
