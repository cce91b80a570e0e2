// What the approver sees is what gets released: an approval issue (title,
// body) or one of the bot's comments edited by anyone but the bot is put
// back, the request is marked, and only approvals written after the bot's
// restore notice count. Approvers are mentioned and assigned, and every reply
// to `/approve` quotes the digest and the first line of the statement.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { syncApprovalIssues } from '../../bot/jit/issues.js'
import { createApproval, getApproval, type NewApproval } from '../../store/approvals.js'
import type { Database } from '../../store/database.js'
import { seeded } from '../helpers/seeded.js'
import { commentPayload, example, withHarness, openStore, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

const DIGEST = 'a1'.repeat(32)
const held = (overrides: Partial<NewApproval> = {}): NewApproval => ({
  identity: 'ci-deploy',
  owner: '@acme/platform',
  resource: 'orders-db',
  sessionId: 'ses_tamper',
  bundleRevision: 'abc123',
  organisation: 'acme',
  rule: 'app/migrations',
  approvers: ['@acme/dba', '@alice'],
  required: 1,
  ownerMayApprove: false,
  protocol: 'postgres',
  requestText: 'DROP TABLE orders CASCADE;\n-- cleanup',
  requestDigest: DIGEST,
  timeoutSeconds: 600,
  ...overrides,
})

const access = (h: Harness) => h.github.repo(`${h.repo.fullName}-access`)
const botComments = (h: Harness, issue: number) => access(h).comments(issue).filter((c) => c.user.endsWith('[bot]'))

/** A recorded `issues.edited` payload for the approval issue, sent by `editor`. */
function issueEdited(h: Harness, number: number, editor: string): Record<string, any> {
  const payload = example('issues', 'edited')
  const issue = access(h).issues.get(number)!
  payload.repository.full_name = access(h).fullName
  payload.repository.name = access(h).name
  payload.repository.owner.login = access(h).owner
  payload.issue.number = number
  payload.issue.body = issue.body
  payload.issue.title = issue.title
  payload.sender.login = editor
  return payload
}

async function say(h: Harness, issue: number, user: string, body: string, writtenAt?: string) {
  const c = access(h).addComment(issue, user, body)
  if (writtenAt) c.created_at = writtenAt
  await h.send('issue_comment', commentPayload(access(h), issue, c))
  return c
}

async function openOne(h: Harness, overrides: Partial<NewApproval> = {}) {
  const request = await createApproval(store.db, held(overrides))
  await syncApprovalIssues(h.bot.ctx)
  const issue = [...access(h).issues.values()].find((i) => i.body.includes(request.id))!
  return { request, issue, original: { title: issue.title, body: issue.body } }
}

test('an edited issue is put back, and an approval written while it showed something else does not count', async () => {
  await withHarness(store.db, async (h) => {
    const { request, issue, original } = await openOne(h)
    // The identity's owner rewrites what the approver will read.
    const editedAt = new Date().toISOString()
    issue.body = original.body.replace('DROP TABLE orders CASCADE;', 'SELECT count(*) FROM orders;')
    issue.title = 'Approval needed: harmless read'
    await h.send('issues', issueEdited(h, issue.number, 'paula'))
    assert.equal(issue.body, original.body, 'the body is put back')
    assert.equal(issue.title, original.title, 'the title is put back')
    assert.match(botComments(h, issue.number).at(-1)!.body, /this issue was changed by @paula .*Approvals written before this comment do not count/s)

    // Dave read the forged text and approved before the bot's notice.
    const early = await say(h, issue.number, 'dave', '/approve', editedAt)
    assert.deepEqual(early.reactions, ['confused'])
    assert.match(botComments(h, issue.number).at(-1)!.body, /@dave your `\/approve` did not count: .*written before the bot restored it/)
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')

    // The bot's own restore comes back as an edit event: nothing more happens.
    const before = botComments(h, issue.number).length
    await h.send('issues', issueEdited(h, issue.number, 'gatehouse-test[bot]'))
    assert.equal(botComments(h, issue.number).length, before)

    const yes = await say(h, issue.number, 'dave', 'Read it again.\n/approve')
    assert.deepEqual(yes.reactions, ['+1'])
    const reply = botComments(h, issue.number).find((c) => c.body.startsWith('@dave your `/approve` counted'))!
    assert.ok(reply.body.includes(DIGEST), 'the reply quotes the whole digest')
    assert.ok(reply.body.includes('` DROP TABLE orders CASCADE; ` (line 1 of 2)'), 'and the first line of what it releases')
    assert.equal((await getApproval(store.db, request.id))!.status, 'approved')
  })
})

test('an edit GitHub never reported is found when an approval is about to count', async () => {
  await withHarness(store.db, async (h) => {
    const { request, issue, original } = await openOne(h)
    issue.body = original.body.replace('DROP TABLE orders CASCADE;', 'SELECT 1;')
    const forged = await say(h, issue.number, 'alice', '/approve')
    assert.deepEqual(forged.reactions, ['confused'])
    assert.equal(issue.body, original.body)
    assert.match(botComments(h, issue.number).map((c) => c.body).join('\n'), /had been edited: the bot restored it/)
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
    // A denial never releases anything: it counts whatever the issue showed.
    issue.title = 'forged'
    const no = await say(h, issue.number, 'alice', '/deny')
    assert.deepEqual(no.reactions, ['-1'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'denied')
    assert.equal(issue.title, original.title)
  })
})

test('while GitHub refuses the restore, no approval counts; once restored, only a new one does', async () => {
  await withHarness(store.db, async (h) => {
    const { request, issue, original } = await openOne(h)
    issue.body = original.body.replace('DROP TABLE orders CASCADE;', 'SELECT 1;')
    h.github.fail({ method: 'PATCH', path: /\/issues\/\d+$/ }, 403, { times: 1_000_000 })
    const blocked = await say(h, issue.number, 'dave', '/approve')
    // The delivery fails on every attempt (the restore is refused); wait until it has failed for good.
    const statusOf = async () =>
      (
        await store.db.query<{ status: string }>(
          "SELECT status FROM gatehouse.bot_deliveries WHERE event = 'issue_comment' AND payload->'repository'->>'full_name' = $1 AND payload->'comment'->>'id' = $2",
          [access(h).fullName, String(blocked.id)],
        )
      )[0]?.status
    let status = await statusOf()
    for (let i = 0; i < 600 && status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      status = await statusOf()
    }
    assert.equal(status, 'failed')
    assert.equal((await getApproval(store.db, request.id))!.status, 'pending', 'no approval counted while the issue showed something else')
    assert.notEqual(issue.body, original.body)
    h.github.clearFaults()
    const afterwards = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(afterwards.reactions, ['confused'], 'the restore happens now; this approval was written before it')
    assert.equal(issue.body, original.body)
    const yes = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(yes.reactions, ['+1'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'approved')
  })
})

test("an edited bot comment is put back and approvals written before that do not count", async () => {
  await withHarness(store.db, async (h) => {
    const { request, issue } = await openOne(h)
    await say(h, issue.number, 'nina', '/approve')
    const reply = botComments(h, issue.number).at(-1)!
    const text = reply.body
    assert.match(text, /@nina your `\/approve` did not count: you are not an approver.*digest `a1a1/)
    reply.body = 'Update: the statement was changed to `SELECT 1`, safe to approve.'
    const writtenAt = new Date().toISOString()
    const edit = example('issue_comment', 'edited')
    Object.assign(edit, commentPayload(access(h), issue.number, { ...reply, user: reply.user }, 'edited'))
    edit.comment.user.type = 'Bot'
    edit.sender.login = 'mallory'
    await h.send('issue_comment', edit)
    assert.equal(reply.body, text, 'the comment is put back')
    assert.match(botComments(h, issue.number).at(-1)!.body, /a comment of the bot was changed by @mallory/)
    const early = await say(h, issue.number, 'dave', '/approve', writtenAt)
    assert.deepEqual(early.reactions, ['confused'])
    const late = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(late.reactions, ['+1'])
    assert.equal((await getApproval(store.db, request.id))!.status, 'approved')
  })
})

test('approvers are mentioned and assigned so GitHub notifies them; the issue shows identity, resource, rule and digest; line endings are not an edit', async () => {
  await withHarness(store.db, async (h) => {
    const { issue } = await openOne(h, { approvers: ['@acme/dba', '@alice', '`@x`'] })
    assert.match(issue.body, /from @acme\/dba, @alice, `` `@x` ``/, 'mentions, outside code spans; anything else stays inert')
    assert.deepEqual(issue.assignees?.sort(), ['alice', 'dave'])
    for (const fact of ['| identity | `ci-deploy` |', '| resource | `orders-db` |', '| rule | `app/migrations` |', `| request digest | \`${DIGEST}\` |`]) {
      assert.ok(issue.body.includes(fact), fact)
    }
    // A browser saving the body unchanged sends CRLF line endings: that is not tampering.
    issue.body = issue.body.replace(/\n/g, '\r\n')
    const yes = await say(h, issue.number, 'dave', '/approve')
    assert.deepEqual(yes.reactions, ['+1'])
  })
})

test('seeded: whatever is edited and whenever, no approval written before the restore counts, and the texts end as the bot wrote them', async () => {
  const { seed, random } = seeded(17)
  await withHarness(store.db, async (h) => {
    for (let round = 0; round < 6; round++) {
      const { request, issue, original } = await openOne(h, { sessionId: `ses_${round}`, requestText: `DELETE FROM orders WHERE id = ${round}` })
      const replies = botComments(h, issue.number)
      const editedAt = new Date().toISOString()
      const target = random(3)
      if (target === 0) issue.body = `${original.body}\n(edited)`
      if (target === 1) issue.title = `${original.title}!`
      if (target === 2) issue.body = original.body.replace(`id = ${round}`, `id = ${round + 1}`)
      if (random(2) === 0) await h.send('issues', issueEdited(h, issue.number, 'mallory'))
      const early = await say(h, issue.number, 'dave', '/approve', editedAt)
      assert.deepEqual(early.reactions, ['confused'], `seed ${seed} round ${round}`)
      assert.equal(issue.body, original.body)
      assert.equal(issue.title, original.title)
      assert.equal((await getApproval(store.db, request.id))!.status, 'pending')
      assert.ok(replies.every((r) => access(h).comments(issue.number).some((c) => c.id === r.id && c.body === r.body)))
      const late = await say(h, issue.number, 'dave', '/approve')
      assert.deepEqual(late.reactions, ['+1'], `seed ${seed} round ${round}`)
    }
  })
})
