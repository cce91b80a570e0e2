// Policy pull requests end to end: the bot reads the repository through the
// fake GitHub, publishes one comment and one check run, and counts only the
// approvals that may count.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Database } from '../../store/database.js'
import { commentPayload, example, withHarness, openStore, policyComment, pullRequestPayload, reviewPayload, type Harness } from './helpers.js'

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
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    const comments = policyComment(h.repo, number)
    assert.equal(comments.length, 1)
    const body = comments[0]!.body
    assert.match(body, /insert/)
    assert.match(body, /🔴 high/)
    assert.match(body, /`@acme\/security`/)
    assert.match(body, /default approvers \(high-risk change\)\]\([^)]*\) \| 2 \|/)
    assert.match(body, /owner of identity `ci-deploy`/)
    assert.match(body, /approvers named by policy `app`/)
    assert.match(body, /Cannot approve \(author or pusher\): `eve`\./)
    const run = checkOf(h, number)
    assert.equal(run.name, 'gatehouse/policy: main')
    assert.equal(run.conclusion, 'failure')
    assert.match(run.output.title, /waiting for approval/)

    // The same event again edits the comment and the check, never adds one.
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'reopened'))
    assert.equal(policyComment(h.repo, number).length, 1)
    checkOf(h, number)
    assert.equal(h.github.count('POST', /\/issues\/\d+\/comments$/), 1)
  })
})

test('approvals that may not count do not, and the bot says why', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    // mallory (in no team) pushes a commit to the pull request; she is added to security afterwards for that case.
    h.repo.git.commitFiles('grant-insert', { 'policies/notes.yaml': '# notes\n' }, { login: 'mallory' })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize', 'mallory'))
    h.github.setTeam('acme', 'security', ['alice', 'bob', 'mallory'])

    const author = await comment(h, number, 'eve', '/approve')
    const pusher = await comment(h, number, 'mallory', '/approve')
    const outsider = await comment(h, number, 'nina', '/approve')
    const quoted = await comment(h, number, 'alice', '> /approve\nI would not approve this yet.')
    const fenced = await comment(h, number, 'alice', '```\n/approve\n```')
    const extra = await comment(h, number, 'alice', '/approve please')
    const edited = h.repo.addComment(number, 'bob', 'looks fine')
    edited.body = '/approve'
    await h.send('issue_comment', commentPayload(h.repo, number, edited, 'edited'))

    for (const c of [author, pusher, outsider, edited]) assert.deepEqual(c.reactions, ['confused'], `reaction to ${c.user}`)
    for (const c of [quoted, fenced, extra]) assert.deepEqual(c.reactions, [], 'text that is not a command is not answered')
    const replies = h.repo.comments(number).filter((c) => c.user === 'gatehouse-test[bot]' && !c.body.startsWith('<!--')).map((c) => c.body)
    assert.equal(replies.length, 4)
    assert.match(replies[0]!, /@eve .*author/)
    assert.match(replies[1]!, /@mallory .*pushed to a pull request/)
    assert.match(replies[2]!, /@nina .*not an approver/)
    assert.match(replies[3]!, /@bob .*edited comment/)
    assert.match(policyComment(h.repo, number)[0]!.body, /\| — \| ⏳ 0 of 2 \|/)
    assert.equal(checkOf(h, number).conclusion, 'failure')

    // A native review for an older commit does not count either.
    const oldSha = h.repo.git.commits.get(h.repo.git.resolve('grant-insert')!)!.parents[0]!
    await h.send('pull_request_review', reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: oldSha }))
    assert.match(h.repo.comments(number).at(-1)!.body, /@bob .*review is for commit/)
  })
})

test('a push the bot has no record of makes who pushed unknown, so no approval counts until its delivery arrives', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    // Pushed while the bot was away: its synchronize delivery never arrived, and the timeline names no force push.
    h.repo.git.commitFiles('grant-insert', { 'policies/notes.yaml': '# notes\n' }, { login: '' })
    await comment(h, number, 'nina', '/approve') // the bot reads the pull request again, and finds the new head
    const a = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(a.reactions, ['confused'])
    assert.match(h.repo.comments(number).at(-1)!.body, /@alice .*no record from GitHub of who pushed/)
    assert.equal(checkOf(h, number).conclusion, 'failure')
    // The redelivered synchronize names the pusher; a new approval counts.
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize', 'eve'))
    const b = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(b.reactions, ['+1'])
  })
})

test('an approval written before a push that changed the diff does not count, however late it arrives', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    const early = h.repo.addComment(number, 'alice', '/approve')
    // A second later (GitHub's times have whole seconds), the author pushes a wider grant before the bot reads alice's comment.
    await new Promise((r) => setTimeout(r, 1_100))
    h.repo.git.commitFiles('grant-insert', { 'policies/app.yaml': WRITE_GRANT.replace('[select, insert]', '[select, insert, update]') }, { login: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize'))
    await h.send('issue_comment', commentPayload(h.repo, number, early))
    assert.deepEqual(early.reactions, ['confused'])
    assert.match(h.repo.comments(number).at(-1)!.body, /@alice .*written before commit/)
    const late = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(late.reactions, ['+1'], 'a new comment decides on what is there now')
  })
})

test('eligible approvals turn the check green, and a push that changes the diff clears them', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    const a = await comment(h, number, 'alice', 'Checked the tables.\n\n/approve\n')
    assert.deepEqual(a.reactions, ['+1'])
    const headSha = h.repo.git.resolve('grant-insert')!
    await h.send('pull_request_review', reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: headSha }))
    assert.equal(checkOf(h, number).conclusion, 'failure', 'the owners have not approved yet')
    await comment(h, number, 'paula', '/approve')
    assert.equal(checkOf(h, number).conclusion, 'failure', 'the dba rule is still open')
    await comment(h, number, 'dave', '/hold')
    assert.match(checkOf(h, number).output.title, /on hold by @dave/)
    // A hold counts only while its author is an approver.
    h.github.setTeam('acme', 'dba', [])
    await comment(h, number, 'alice', '/approve')
    assert.doesNotMatch(checkOf(h, number).output.title, /on hold/)
    h.github.setTeam('acme', 'dba', ['dave'])
    await comment(h, number, 'dave', '/unhold')
    await comment(h, number, 'dave', '/approve')
    assert.equal(checkOf(h, number).conclusion, 'failure', 'the owner of old-export has not approved')
    await comment(h, number, 'dana', '/approve')
    assert.equal(checkOf(h, number).conclusion, "success", policyComment(h.repo, number)[0]!.body)
    assert.match(policyComment(h.repo, number)[0]!.body, /✅ all approval rules satisfied/)

    // A push that changes the permission diff clears every approval.
    h.repo.git.commitFiles('grant-insert', { 'policies/app.yaml': WRITE_GRANT.replace('[select, insert]', '[select, insert, update]') }, { login: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize'))
    const run = checkOf(h, number)
    assert.equal(run.conclusion, 'failure')
    assert.match(policyComment(h.repo, number)[0]!.body, /⏳ 0 of 2/)
    assert.equal(policyComment(h.repo, number).length, 1)

    // /approve cancel withdraws; /deny blocks.
    await comment(h, number, 'alice', '/approve')
    await comment(h, number, 'alice', '/approve cancel')
    assert.match(policyComment(h.repo, number)[0]!.body, /⏳ 0 of 2/)
    await comment(h, number, 'bob', '/deny')
    assert.match(checkOf(h, number).output.title, /denied by @bob/)
  })
})

test('a policy repository with errors fails the check with file:line annotations', async () => {
  await withHarness(store.db, async (h) => {
    h.repo.git.commitFiles('broken', { 'policies/app.yaml': WRITE_GRANT.replace('identities: [old-export]', 'identities: [old-exprt]') }, { from: 'main', login: 'eve' })
    const number = h.repo.openPullRequest({ head: 'broken', author: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const run = checkOf(h, number)
    assert.equal(run.conclusion, 'failure')
    const annotation = run.output.annotations?.find((a) => a.title === 'ref.unknown_identity')
    assert.ok(annotation, 'the unknown identity is annotated')
    assert.equal(annotation.path, 'policies/app.yaml')
    assert.equal(annotation.start_line, 7)
    assert.match(policyComment(h.repo, number)[0]!.body, /does not compile/)
  })
})

test('a base change that changes the diff clears approvals, one that does not keeps them; a dismissed review is withdrawn', async () => {
  await withHarness(store.db, async (h) => {
    // The change was branched from `next`, which drops old-export's direct subject line, but was opened against main.
    const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
    h.repo.git.commitFiles('next', { 'policies/app.yaml': app.replace('  identities: [old-export]\n', '') }, { from: 'main', login: 'admin' })
    h.repo.git.commitFiles('release', { 'resources/db.yaml': `# the orders database\n${h.repo.git.fileAt('main', 'resources/db.yaml')}` }, { from: 'main', login: 'admin' })
    h.repo.git.commitFiles('feature', { 'policies/app.yaml': app.replace('  identities: [old-export]\n', '').replace('actions: [select]', 'actions: [select, insert]') }, { from: 'next', login: 'eve' })
    const number = h.repo.openPullRequest({ head: 'feature', author: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    await comment(h, number, 'alice', '/approve')
    const headSha = h.repo.git.resolve('feature')!
    await h.send('pull_request_review', reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: headSha }))
    assert.match(policyComment(h.repo, number)[0]!.body, /@alice, @bob \| ✅ satisfied/)

    const retarget = async (base: string) => {
      h.repo.issues.get(number)!.pull!.base = base
      const payload = pullRequestPayload(h.repo, number, 'edited')
      payload.changes = { base: { ref: { from: 'main' }, sha: { from: 'x' } } }
      await h.send('pull_request', payload)
    }
    await retarget('release')
    assert.match(policyComment(h.repo, number)[0]!.body, /@alice, @bob \| ✅ satisfied/, 'the same diff keeps its approvals')
    assert.equal(h.repo.checkRunsFor(headSha).filter((r) => r.name === 'gatehouse/policy: release').length, 1)

    await retarget('next')
    const body = policyComment(h.repo, number)[0]!.body
    assert.match(body, /base `next`/)
    assert.doesNotMatch(body, /old-export on orders-db/, 'the diff is now only what the pull request adds to next')
    assert.match(body, /\| — \| ⏳ 0 of 2 \|/, 'a different diff clears the approvals')

    await comment(h, number, 'alice', '/approve')
    const review = reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: headSha })
    await h.send('pull_request_review', review)
    assert.match(policyComment(h.repo, number)[0]!.body, /@alice, @bob \| ✅ satisfied/)
    const dismissed = reviewPayload(h.repo, number, { user: 'bob', state: 'dismissed', commitId: headSha, id: review.review.id })
    dismissed.action = 'dismissed'
    await h.send('pull_request_review', dismissed)
    assert.match(policyComment(h.repo, number)[0]!.body, /@alice \| ⏳ 1 of 2/)
  })
})

test('a push to the base branch re-evaluates the open pull requests onto it', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openWriteGrant(h)
    await comment(h, number, 'alice', '/approve')
    await comment(h, number, 'bob', '/approve')
    assert.match(policyComment(h.repo, number)[0]!.body, /`@acme\/security` \| @alice, @bob \| ✅ satisfied/)

    // The base branch now names another team as default approvers.
    const settings = h.repo.git.fileAt('main', 'gatehouse.yaml')!
    const after = h.repo.git.commitFiles('main', { 'gatehouse.yaml': settings.replace('["@acme/security"]', '["@acme/dba"]') }, { login: 'admin' })
    const push = example('push', undefined)
    push.ref = 'refs/heads/main'
    push.after = after
    push.repository.full_name = h.repo.fullName
    assert.equal((await h.send('push', push)).status, 202)
    const body = policyComment(h.repo, number)[0]!.body
    assert.match(body, /default approvers \(high-risk change\)\]\([^)]*\); \[approvers named by policy `app`\]\([^)]*\) \| 2 \| `@acme\/dba` \| — \| ⏳ 0 of 2/)
    assert.equal(checkOf(h, number).conclusion, 'failure')
    assert.equal((await h.send('push', push)).status, 202, 'a second delivery of the same push')
    assert.equal(h.github.count('GET', new RegExp(`/pulls/${number}$`)), 4, 'opened, two commands, one re-evaluation')
  })
})

test('a pull request cannot name its own approvers', async () => {
  await withHarness(store.db, async (h) => {
    const settings = h.repo.git.fileAt('main', 'gatehouse.yaml')!
    h.repo.git.commitFiles('self-approve', { 'gatehouse.yaml': settings.replace('["@acme/security"]', '["@nina"]').replace('highRisk: 2', 'highRisk: 1') }, { from: 'main', login: 'mallory' })
    const number = h.repo.openPullRequest({ head: 'self-approve', author: 'mallory' })
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const body = policyComment(h.repo, number)[0]!.body
    assert.match(body, /who approves policy changes changed/)
    assert.match(body, /default approvers \(high-risk change\)\]\([^)]*\) \| 2 \| `@acme\/security`/)
    const nina = await comment(h, number, 'nina', '/approve')
    assert.deepEqual(nina.reactions, ['confused'])
    assert.equal(checkOf(h, number).conclusion, 'failure')
  })
})
