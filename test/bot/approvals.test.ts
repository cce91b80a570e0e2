// Just-in-time approvals: a request held by the gateway (created here through
// store/approvals.ts exactly as the gateway does) becomes an issue, is decided
// by an eligible approver's comment, and the issue is closed with the outcome,
// also when the request expires.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { renderIssue } from '../../bot/jit/integrity.js'
import { syncApprovalIssues } from '../../bot/jit/issues.js'
import { consumeApproval, createApproval, getApproval, type NewApproval } from '../../store/approvals.js'
import type { Database } from '../../store/database.js'
import { commentPayload, withHarness, openStore, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

const held = (overrides: Partial<NewApproval> = {}): NewApproval => ({
  identity: 'ci-deploy',
  owner: '@acme/platform',
  resource: 'orders-db',
  sessionId: 'ses_test',
  bundleRevision: 'abc123',
  organisation: 'acme',
  rule: 'app/migrations',
  approvers: ['@acme/dba', '@acme/platform'],
  required: 1,
  ownerMayApprove: false,
  protocol: 'postgres',
  requestText: 'ALTER TABLE orders ADD COLUMN note text -- ``` tricky',
  requestDigest: 'd'.repeat(64),
  timeoutSeconds: 600,
  ...overrides,
})

function access(h: Harness) {
  return h.github.repo(`${h.repo.fullName}-access`)
}

async function say(h: Harness, issue: number, user: string, body: string, action = 'created') {
  const c = access(h).addComment(issue, user, body)
  await h.send('issue_comment', commentPayload(access(h), issue, c, action))
  return c
}

test('a held statement becomes one issue and is decided by an eligible approver only', async () => {
  await withHarness(store.db, async (h) => {
    const request = await createApproval(store.db, held())
    await syncApprovalIssues(h.bot.ctx)
    await syncApprovalIssues(h.bot.ctx)
    const issues = [...access(h).issues.values()]
    assert.equal(issues.length, 1, 'one issue, however often the store is polled')
    const issue = issues[0]!
    assert.match(issue.title, /ci-deploy on orders-db \(app\/migrations\)/)
    assert.match(issue.body, /ALTER TABLE orders ADD COLUMN note text/)
    assert.match(issue.body, /````\n/, 'the fence is longer than the backticks in the statement')
    assert.match(issue.body, /from @acme\/dba, @acme\/platform/)
    assert.deepEqual(issue.labels, ['gatehouse-approval'])

    const outsider = await say(h, issue.number, 'nina', '/approve')
    assert.deepEqual(outsider.reactions, ['confused'])
    const owner = await say(h, issue.number, 'paula', '/approve')
    assert.deepEqual(owner.reactions, ['confused'], "the owner's team may not approve its own identity's request")
    const quoted = await say(h, issue.number, 'dave', '> /approve')
    assert.deepEqual(quoted.reactions, [])
    const edited = await say(h, issue.number, 'dave', '/approve', 'edited')
    assert.deepEqual(edited.reactions, ['confused'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
    assert.equal(issue.state, 'open')
    const replies = access(h).comments(issue.number).filter((c) => c.user.endsWith('[bot]')).map((c) => c.body)
    assert.match(replies[0]!, /@nina .*not an approver/)
    assert.match(replies[1]!, /@paula .*owner may not/)
    assert.match(replies[2]!, /@dave .*edited/)

    const yes = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(yes.reactions, ['+1'])
    const decided = (await getApproval(store.db, request.id))!
    assert.equal(decided.status, 'approved')
    assert.deepEqual(decided.votes.map((v) => [v.approver, v.vote]), [['@dave', 'approve']])
    assert.match(decided.votes[0]!.source, /^github:/)
    assert.equal(issue.state, 'closed')
    assert.match(access(h).comments(issue.number).at(-1)!.body, /Approved by @dave/)
    // The gateway consumes it once, bound to what was held.
    const binding = { identity: 'ci-deploy', sessionId: 'ses_test', bundleRevision: 'abc123', requestDigest: 'd'.repeat(64) }
    assert.equal(await consumeApproval(store.db, request.id, binding), true)
    assert.equal(await consumeApproval(store.db, request.id, binding), false)
  })
})

test('a request too long to show whole cannot be approved in its issue, only denied', async () => {
  await withHarness(store.db, async (h) => {
    const request = await createApproval(store.db, held({ requestText: `UPDATE orders SET note = '${'x'.repeat(70_000)}'; DROP TABLE orders` }))
    await syncApprovalIssues(h.bot.ctx)
    const issue = [...access(h).issues.values()][0]!
    assert.doesNotMatch(issue.body, /DROP TABLE/, 'the tail is not shown')
    assert.match(issue.body, /more characters: approve it with `gatehouse approvals`/)
    const yes = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(yes.reactions, ['confused'])
    assert.match(access(h).comments(issue.number).at(-1)!.body, /@dave .*shows only part of the request/)
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
    const no = await say(h, issue.number, 'dave', '/deny')
    assert.deepEqual(no.reactions, ['-1'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'denied')
  })
})

test('a denial and an expiry close their issues with the outcome', async () => {
  await withHarness(store.db, async (h) => {
    const denied = await createApproval(store.db, held({ requestText: 'DROP TABLE orders' }))
    const expiring = await createApproval(store.db, held({ requestText: 'TRUNCATE orders' }))
    await syncApprovalIssues(h.bot.ctx)
    const issueOf = (text: string) => [...access(h).issues.values()].find((i) => i.body.includes(text))!
    const no = await say(h, issueOf('DROP TABLE').number, 'dave', 'Not on a Friday.\n/deny')
    assert.deepEqual(no.reactions, ['-1'])
    assert.equal((await getApproval(store.db, denied.id))!.status, 'denied')
    assert.equal(issueOf('DROP TABLE').state, 'closed')
    assert.equal(issueOf('DROP TABLE').stateReason, 'not_planned')

    // Its deadline passes (moved, rather than waited for, so a slow machine cannot expire it before its issue opens).
    await store.db.query(`UPDATE gatehouse.approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id])
    await syncApprovalIssues(h.bot.ctx)
    assert.equal((await getApproval(store.db, expiring.id))!.status, 'expired')
    assert.equal(issueOf('TRUNCATE').state, 'closed')
    assert.match(access(h).comments(issueOf('TRUNCATE').number).at(-1)!.body, /Expired/)
    const late = await say(h, issueOf('TRUNCATE').number, 'dave', '/approve')
    assert.deepEqual(late.reactions, ['confused'])
    assert.equal((await getApproval(store.db, expiring.id))!.status, 'expired')
  })
})

test('forbidOwner refuses the owner even where the settings allow it, and an issue opened before a crash is adopted, not duplicated', async () => {
  await withHarness(store.db, async (h) => {
    await syncApprovalIssues(h.bot.ctx) // after the poll the bot makes when it starts, so nothing runs behind the test
    const request = await createApproval(store.db, held({ ownerMayApprove: true, requestText: 'VACUUM orders' }))
    // A previous run claimed the request and GitHub created the issue, then the process died.
    await store.db.query('INSERT INTO gatehouse.bot_approval_issues (request_id, repo, created_at) VALUES ($1, $2, now())', [request.id, access(h).fullName.toLowerCase()])
    const number = h.github.nextNumber()
    access(h).issues.set(number, { ...renderIssue(h.bot.ctx, request), number, state: 'open', user: 'gatehouse-test[bot]', labels: ['gatehouse-approval'] })
    await syncApprovalIssues(h.bot.ctx)
    assert.equal([...access(h).issues.values()].length, 1, 'the issue was adopted')
    const owner = await say(h, number, 'paula', '/approve')
    assert.deepEqual(owner.reactions, ['confused'])
    assert.match(access(h).comments(number).at(-1)!.body, /owner may not decide/)
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
    await say(h, number, 'dave', '/deny')
    assert.equal((await getApproval(store.db, request.id))!.status, 'denied')
    assert.equal(access(h).issues.get(number)!.state, 'closed')
  }, { approvals: { pollSeconds: 3600, forbidOwner: true } })
})

test("a user approver counts only while an active member of the organisation of the bundle that held the request", async () => {
  await withHarness(store.db, async (h) => {
    h.github.setOrgMembers('globex', ['gina'])
    const request = await createApproval(store.db, held({ approvers: ['@dana', '@gina'], organisation: 'globex' }))
    await syncApprovalIssues(h.bot.ctx)
    const issue = [...access(h).issues.values()][0]!
    // dana is a member of the organisation that owns the repositories, not of the one whose policies held the request.
    const outsider = await say(h, issue.number, 'dana', '/approve')
    assert.deepEqual(outsider.reactions, ['confused'])
    assert.match(access(h).comments(issue.number).at(-1)!.body, /@dana .*not an approver/)
    // gina leaves before she answers.
    h.github.setOrgMembers('globex', [])
    const gone = await say(h, issue.number, 'gina', '/approve')
    assert.deepEqual(gone.reactions, ['confused'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
    h.github.setOrgMembers('globex', ['gina'])
    const member = await say(h, issue.number, 'gina', '/approve')
    assert.deepEqual(member.reactions, ['+1'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'approved')
  })
})
