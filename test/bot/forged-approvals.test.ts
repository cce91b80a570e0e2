// Approvals that cannot be forged, replayed or misplaced, driven through
// signed webhook deliveries against the fake GitHub: a forged commit author,
// a former member of the organisation, a replay under a new delivery id,
// deliveries out of the order the comments were written, a review of an
// older diff, and commands hidden or quoted in the markdown. Around them:
// every refusal is answered, also when GitHub refuses a membership lookup or
// a delivery fails for good.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Database } from '../../store/database.js'
import { commentPayload, openStore, policyComment, pullRequestPayload, reviewPayload, withHarness, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

/** Opens a pull request by `eve` that gives ci-deploy a second role, and lets the bot evaluate it. */
async function openChange(h: Harness, branch = 'change', base = 'main'): Promise<number> {
  const ci = h.repo.git.fileAt('main', 'identities/ci.yaml')!
  h.repo.git.commitFiles(branch, { 'identities/ci.yaml': ci.replace('roles: [deployer]', 'roles: [deployer, reader]') }, { from: base, login: 'eve' })
  const number = h.repo.openPullRequest({ head: branch, base, author: 'eve' })
  await h.send('pull_request', pullRequestPayload(h.repo, number))
  return number
}

async function comment(h: Harness, number: number, user: string, body: string, writtenAt?: Date) {
  const c = h.repo.addComment(number, user, body)
  if (writtenAt) c.created_at = writtenAt.toISOString()
  await h.send('issue_comment', commentPayload(h.repo, number, c))
  return c
}

const botReplies = (h: Harness, number: number) => h.repo.comments(number).filter((c) => c.user.endsWith('[bot]') && !c.body.startsWith('<!--'))
const headOf = (h: Harness, number: number) => h.repo.git.resolve(h.repo.issues.get(number)!.pull!.head)!
const conclusion = (h: Harness, number: number) => h.repo.checkRunsFor(headOf(h, number)).at(-1)!.conclusion
/** The row of the approvals table whose rule mentions `rule`. */
const approvalRow = (h: Harness, number: number, rule: RegExp) => policyComment(h.repo, number)[0]!.body.split('\n').find((l) => l.startsWith('|') && rule.test(l)) ?? ''

test('a forged commit author neither excludes the person named nor admits the person who pushed', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    h.github.setTeam('acme', 'security', ['alice', 'bob', 'mallory'])
    // mallory pushes a commit carrying alice's e-mail address (GitHub links it to alice's account, unverified).
    h.repo.git.commitFiles('change', { 'policies/notes.yaml': '# notes\n' }, { login: 'alice' })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize', 'mallory'))
    const mallory = await comment(h, number, 'mallory', '/approve')
    assert.deepEqual(mallory.reactions, ['confused'])
    assert.match(botReplies(h, number).at(-1)!.body, /@mallory .*pushed to a pull request/)
    const alice = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(alice.reactions, ['+1'], 'alice pushed nothing: a name in a commit does not lock her out')
    assert.match(approvalRow(h, number, /default approvers/), /@alice \| ✅ satisfied/)
    assert.doesNotMatch(policyComment(h.repo, number)[0]!.body, /Cannot approve[^\n]*alice/)

    // A verified commit's author is excluded, whoever pushed it.
    h.repo.git.commitFiles('change', { 'policies/notes.yaml': '# more notes\n' }, { login: 'bob', verified: true })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize', 'eve'))
    const bob = await comment(h, number, 'bob', '/approve')
    assert.deepEqual(bob.reactions, ['confused'])
    assert.match(policyComment(h.repo, number)[0]!.body, /Cannot approve \(author or pusher\): [^\n]*`bob`/)
  })
})

test('a push the bot missed is attributed from the timeline; without a record there no approval counts', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    h.github.setTeam('acme', 'security', ['alice', 'bob', 'mallory'])
    // While the bot was away, mallory force-pushed; the timeline records it.
    const head = h.repo.git.commitFiles('change', { 'policies/notes.yaml': '# notes\n' }, { login: 'eve' })
    h.repo.issues.get(number)!.timeline = [{ event: 'head_ref_force_pushed', actor: { login: 'mallory' }, commit_id: head }]
    await comment(h, number, 'nina', '/approve') // makes the bot read the new head
    const mallory = await comment(h, number, 'mallory', '/approve')
    assert.deepEqual(mallory.reactions, ['confused'])
    assert.match(botReplies(h, number).at(-1)!.body, /@mallory .*pushed to a pull request/)
    const alice = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(alice.reactions, ['+1'])
  })
})

test('an owner named as a user counts only while an active member of the organisation', async () => {
  await withHarness(store.db, async (h) => {
    const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
    h.repo.git.commitFiles('export', { 'policies/app.yaml': app.replace('actions: [select]', 'actions: [select, insert]') }, { from: 'main', login: 'eve' })
    const number = h.repo.openPullRequest({ head: 'export', author: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    assert.match(approvalRow(h, number, /owner of identity `old-export`/), /`@dana`/)

    const given = await comment(h, number, 'dana', '/approve')
    assert.deepEqual(given.reactions, ['+1'])
    assert.match(approvalRow(h, number, /owner of identity `old-export`/), /@dana \| ✅ satisfied/)
    // dana leaves the organisation: her approval stops counting at the next evaluation.
    h.github.setOrgMembers('acme', ['alice', 'bob', 'paula', 'eve', 'dora', 'dave', 'mallory', 'nina'])
    await comment(h, number, 'alice', '/approve')
    assert.match(approvalRow(h, number, /owner of identity `old-export`/), /\| — \| ⏳ 0 of 1 \|/)
    const again = await comment(h, number, 'dana', '/approve')
    assert.deepEqual(again.reactions, ['confused'])
    assert.match(botReplies(h, number).at(-1)!.body, /@dana .*not an approver/)
  })
})

test('a captured delivery replayed under a new delivery id changes nothing', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    const approve = h.repo.addComment(number, 'alice', '/approve')
    const captured = JSON.stringify(commentPayload(h.repo, number, approve))
    await h.deliver('issue_comment', captured)
    await h.bot.settled()
    assert.match(approvalRow(h, number, /default approvers/), /@alice \| ✅/)
    await comment(h, number, 'alice', '/approve cancel')
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 1 \|/)
    const replies = botReplies(h, number).length
    // The exact signed body again, under a fresh X-GitHub-Delivery.
    const response = await h.deliver('issue_comment', captured, { id: 'replayed-delivery-1' })
    assert.equal(response.status, 202)
    await h.bot.settled()
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 1 \|/, 'the cancelled approval stays cancelled')
    assert.deepEqual(approve.reactions, ['+1'], 'no second reaction')
    assert.equal(botReplies(h, number).length, replies, 'no reply either')
  })
})

test('the vote a person wrote last stands, whatever order the deliveries arrive in', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    const now = Date.now()
    const approve = h.repo.addComment(number, 'bob', '/approve')
    approve.created_at = new Date(now).toISOString()
    const deny = h.repo.addComment(number, 'bob', '/deny')
    deny.created_at = new Date(now + 2000).toISOString()
    await h.send('issue_comment', commentPayload(h.repo, number, deny))
    await h.send('issue_comment', commentPayload(h.repo, number, approve))
    assert.match(h.repo.checkRunsFor(headOf(h, number))[0]!.output.title, /denied by @bob/)
    // An operator redelivers the old approval later: still denied.
    await h.send('issue_comment', commentPayload(h.repo, number, approve))
    assert.match(h.repo.checkRunsFor(headOf(h, number))[0]!.output.title, /denied by @bob/)
    assert.equal(conclusion(h, number), 'failure')
  })
})

test('a review of the head before the base was retargeted does not count for the new diff', async () => {
  await withHarness(store.db, async (h) => {
    // Branched from `next`, which drops old-export's direct subject line; opened against next, then retargeted to main.
    const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
    h.repo.git.commitFiles('next', { 'policies/app.yaml': app.replace('  identities: [old-export]\n', '') }, { from: 'main', login: 'admin' })
    h.repo.git.commitFiles('feature', { 'policies/app.yaml': app.replace('  identities: [old-export]\n', '').replace('actions: [select]', 'actions: [select, insert]') }, { from: 'next', login: 'eve' })
    const number = h.repo.openPullRequest({ head: 'feature', base: 'next', author: 'eve' })
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const head = headOf(h, number)
    const review = reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: head })
    await new Promise((resolve) => setTimeout(resolve, 1_100)) // GitHub's times have whole seconds
    h.repo.issues.get(number)!.pull!.base = 'main'
    const retarget = pullRequestPayload(h.repo, number, 'edited')
    retarget.changes = { base: { ref: { from: 'next' }, sha: { from: 'x' } } }
    await h.send('pull_request', retarget)
    assert.match(policyComment(h.repo, number)[0]!.body, /old-export/, 'the diff against main is wider')
    await h.send('pull_request_review', review)
    assert.match(botReplies(h, number).at(-1)!.body, /@bob .*review was submitted before commit/)
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 2 \|/)
    // A review written now, of the same head, decides on the new diff.
    await h.send('pull_request_review', reviewPayload(h.repo, number, { user: 'bob', state: 'approved', commitId: head }))
    assert.match(approvalRow(h, number, /default approvers/), /@bob \| ⏳ 1 of 2 \|/)
  })
})

test('commands inside quotes, HTML comments and HTML blocks are not commands', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    const hidden = [
      await comment(h, number, 'alice', '> I would not approve this yet.\n/approve'),
      await comment(h, number, 'alice', '<!--\n/approve\n-->'),
      await comment(h, number, 'alice', '<pre>\n/approve\n</pre>'),
      await comment(h, number, 'alice', 'Looks fine <!--\n/approve\n-->'),
    ]
    for (const c of hidden) assert.deepEqual(c.reactions, [], JSON.stringify(c.body))
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 1 \|/)
    const escaped = await comment(h, number, 'alice', '&#47;approve')
    assert.deepEqual(escaped.reactions, [], 'renders as a command, but is not written as one')
    const long = await comment(h, number, 'alice', `${'A long review. '.repeat(300)}\n\n/approve`)
    assert.deepEqual(long.reactions, ['confused'])
    assert.match(botReplies(h, number).at(-1)!.body, /@alice .*comments over 4096 characters are not read for commands/)
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 1 \|/)
    const plain = await comment(h, number, 'alice', '> I would not approve this yet.\n\nI do now.\n/approve')
    assert.deepEqual(plain.reactions, ['+1'])
  })
})

test('a membership lookup GitHub refuses is answered on the pull request, and nothing counts', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    h.github.fail({ method: 'GET', path: /^\/orgs\/acme\/teams\/[^/]+\/memberships\// }, 403, { times: 1 })
    const c = await comment(h, number, 'alice', '/approve')
    assert.deepEqual(c.reactions, ['confused'])
    assert.match(botReplies(h, number).at(-1)!.body, /@alice .*GitHub refused to say whether you are one of the approvers \(HTTP 403\).*Members: read/)
    assert.match(approvalRow(h, number, /default approvers/), /\| — \| ⏳ 0 of 1 \|/)
  })
})

test('a delivery that fails for good is answered on its pull request', async () => {
  await withHarness(store.db, async (h) => {
    const number = await openChange(h)
    h.github.fail({ method: 'GET', path: new RegExp(`/pulls/${number}$`) }, 502, { times: 1000 })
    const c = h.repo.addComment(number, 'alice', '/approve')
    await h.deliver('issue_comment', commentPayload(h.repo, number, c), { id: 'doomed-delivery' })
    // Retries back off in tens of milliseconds here; wait for the outcome, not for a time.
    for (let i = 0; i < 400 && !botReplies(h, number).some((r) => r.body.includes('doomed-delivery')); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    const reply = botReplies(h, number).find((r) => r.body.includes('doomed-delivery'))
    assert.ok(reply, 'the failure is reported')
    assert.match(reply.body, /could not process a `issue_comment` delivery here \(`doomed-delivery`\) after 5 attempts: GitHub answered HTTP 502\. Nothing in it was counted/)
  })
})
