// What the policy comment and check tell: a finding's `help:` line, each
// approval rule linked to the file and line it comes from, a new owner asked
// to accept an identity, and a warning first when the base branch does not
// require the check (read from branch protection and from rulesets).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Database } from '../../store/database.js'
import { commentPayload, openStore, policyComment, pullRequestPayload, withHarness, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

async function open(h: Harness, branch: string, files: Record<string, string>): Promise<number> {
  h.repo.git.commitFiles(branch, files, { from: 'main', login: 'eve' })
  const number = h.repo.openPullRequest({ head: branch, author: 'eve' })
  await h.send('pull_request', pullRequestPayload(h.repo, number))
  return number
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1
const checkOf = (h: Harness, number: number) => h.repo.checkRunsFor(h.repo.git.resolve(h.repo.issues.get(number)!.pull!.head)!).at(-1)!

test("a finding keeps its help line, and each approval rule links to the file and line it comes from", async () => {
  await withHarness(store.db, async (h) => {
    const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
    const broken = await open(h, 'broken', { 'policies/app.yaml': app.replace('identities: [old-export]', 'identities: [old-exprt]') })
    assert.match(policyComment(h.repo, broken)[0]!.body, /- `policies\/app\.yaml:7` error\[ref\.unknown_identity\]: [^\n]*\n {2}help: [^\n]*old-export/)

    const number = await open(h, 'grant', { 'policies/app.yaml': app.replace('actions: [select]', 'actions: [select, insert]') })
    const body = policyComment(h.repo, number)[0]!.body
    const base = h.repo.git.resolve('main')!
    const blob = `${h.github.url}/${h.repo.fullName}/blob/${base}`
    const jobs = h.repo.git.fileAt('main', 'identities/jobs.yaml')!
    const policyLine = lineOf(app, 'apiVersion')
    assert.ok(body.includes(`[default approvers (high-risk change)](${blob}/gatehouse.yaml)`), body)
    assert.ok(body.includes(`[approvers named by policy \`app\`](${blob}/policies/app.yaml#L${policyLine})`), body)
    const exportLink = new RegExp(`\\[owner of identity \`old-export\`\\]\\(${blob.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/identities/jobs\\.yaml#L(\\d+)\\)`).exec(body)
    assert.ok(exportLink, body)
    // The link points into old-export's own document, not the first one of the file.
    const line = Number(exportLink[1])
    assert.ok(line > lineOf(jobs, '---') && line <= lineOf(jobs, 'name: old-export'), `line ${line}`)
  })
})

test('a new owner of an identity must accept it', async () => {
  await withHarness(store.db, async (h) => {
    const ci = h.repo.git.fileAt('main', 'identities/ci.yaml')!
    const number = await open(h, 'handover', { 'identities/ci.yaml': ci.replace('owner: "@acme/platform"', 'owner: "@acme/data"') })
    const body = policyComment(h.repo, number)[0]!.body
    const head = h.repo.git.resolve('handover')!
    assert.ok(body.includes(`[new owner of identity \`ci-deploy\` accepts it](${h.github.url}/${h.repo.fullName}/blob/${head}/identities/ci.yaml#L`), body)
    const row = () => policyComment(h.repo, number)[0]!.body.split('\n').find((l) => l.includes('new owner of identity'))!
    assert.match(row(), /\| 1 \| `@acme\/data` \| — \| ⏳ 0 of 1 \|/)
    const c = h.repo.addComment(number, 'dora', '/approve')
    await h.send('issue_comment', commentPayload(h.repo, number, c))
    assert.deepEqual(c.reactions, ['+1'])
    assert.match(row(), /@dora \| ✅ satisfied/)
  })
})

test('the comment and the check warn first when the base branch does not require the check', async () => {
  await withHarness(store.db, async (h) => {
    const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
    const number = await open(h, 'grant', { 'policies/app.yaml': app.replace('actions: [select]', 'actions: [select, insert]') })
    const warning = /^> \[!WARNING\]\n> `main` does not require this check, so these approvals block nothing[^\n]*Settings → Branches[^\n]*Rulesets/m
    const lines = policyComment(h.repo, number)[0]!.body.split('\n')
    assert.match(lines.slice(3, 5).join('\n'), warning, 'right under the headline')
    assert.match(checkOf(h, number).output.summary, warning)

    // Required by branch protection: no warning.
    h.repo.protectedChecks.set('main', ['gatehouse/policy: main'])
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'reopened'))
    assert.doesNotMatch(policyComment(h.repo, number)[0]!.body, /WARNING/)
    assert.doesNotMatch(checkOf(h, number).output.summary, /WARNING/)

    // Another check required, but this one by a ruleset: no warning either.
    h.repo.protectedChecks.set('main', ['ci/build'])
    h.repo.rulesetChecks.set('main', ['gatehouse/policy: main'])
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'reopened'))
    assert.doesNotMatch(policyComment(h.repo, number)[0]!.body, /WARNING/)

    // Neither, and the protection cannot be read: the warning says why.
    h.repo.rulesetChecks.delete('main')
    h.github.fail({ method: 'GET', path: /\/protection\/required_status_checks$/ }, 403, { times: 1 })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'reopened'))
    assert.match(policyComment(h.repo, number)[0]!.body, /cannot tell whether `main` requires this check: the branch protection of `main` could not be read \(HTTP 403; [^)]*Administration: read/)
    assert.equal(policyComment(h.repo, number).length, 1)
  })
})
