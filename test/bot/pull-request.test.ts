// Policy pull requests end to end: the bot reads the repository through the
// fake GitHub, publishes one comment and one check run, and counts only the
// approvals that may count.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Database } from '../../store/database.js'
import { commentPayload, harness, openStore, policyComment, pullRequestPayload, reviewPayload, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

const WRITE_GRANT = `# Who may touch the orders database.
apiVersion: gatehouse.dev/v1
kind: Policy
name: app
subjects:
  roles: [deployer]
  identities: [old-export]
resources: {names: [orders-db]}
rules:
  - name: read-orders
    effect: allow
    actions: [select, insert]
    tables: [public.orders]
  - name: migrations
    effect: approve
    actions: [create, alter]
    approval: {approvers: ["@acme/dba"], count: 1, timeout: 30m}
---
apiVersion: gatehouse.dev/v1
kind: Policy
name: reports
subjects: {roles: [reader]}
resources: {names: [orders-db]}
rules:
  - name: read-reports
    effect: allow
    actions: [select]
    tables: [public.orders]
`

/** Opens a pull request by `eve` that grants insert, and lets the bot evaluate it. */
async function openWriteGrant(h: Harness): Promise<number> {
  h.repo.git.commitFiles('grant-insert', { 'policies/app.yaml': WRITE_GRANT }, { from: 'main', login: 'eve' })
  const number = h.repo.openPullRequest({ head: 'grant-insert', author: 'eve' })
  const response = await h.send('pull_request', pullRequestPayload(h.repo, number))
  assert.equal(response.status, 202)
  return number
}

async function comment(h: Harness, number: number, user: string, body: string) {
  const c = h.repo.addComment(number, user, body)
  await h.send('issue_comment', commentPayload(h.repo, number, c))
  return c
}

const checkOf = (h: Harness, number: number) => {
  const sha = h.repo.git.resolve(h.repo.issues.get(number)!.pull!.head)!
  const runs = h.repo.checkRunsFor(sha)
  assert.equal(runs.length, 1, 'one check run per head commit')
  return runs[0]!
}

test('a write-granting pull request gets the permission diff, the approval rules and a failing check', async () => {
  const h = await harness(store.db)
  try {
    const number = await openWriteGrant(h)
    const comments = policyComment(h.repo, number)
    assert.equal(comments.length, 1)
    const body = comments[0]!.body
    assert.match(body, /insert/)
    assert.match(body, /🔴 high/)
    assert.match(body, /`@acme\/security`/)
    assert.match(body, /default approvers \(high-risk change\) \| 2 \|/)
    assert.match(body, /owner of identity `ci-deploy`/)
    assert.match(body, /approvers named by policy `app`/)
    const run = checkOf(h, number)
    assert.equal(run.name, 'gatehouse/policy: main')
    assert.equal(run.conclusion, 'failure')
    assert.match(run.output.title, /waiting for approval/)

    // The same event again edits the comment and the check, never adds one.
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'reopened'))
    assert.equal(policyComment(h.repo, number).length, 1)
    checkOf(h, number)
    assert.equal(h.github.count('POST', /\/issues\/\d+\/comments$/), 1)
  } finally {
    await h.close()
  }
})
