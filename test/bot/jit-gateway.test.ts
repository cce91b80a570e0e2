// Just-in-time approval end to end through a real gateway: a client's DELETE
// is held by the gateway, the bot opens its issue from the gateway's own
// store, someone rewrites the issue to show a harmless SELECT, the bot puts
// the request back and refuses the approval written meanwhile, and the
// approval written after the restore releases the DELETE, which runs once.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { syncApprovalIssues } from '../../bot/jit/issues.js'
import { getApproval } from '../../store/approvals.js'
import { startShop, type Shop } from '../gateway/harness.js'
import { pendingApprovalId } from '../helpers/approvals.js'
import { commentPayload, example, withHarness, type Harness } from './helpers.js'

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())

const access = (h: Harness) => h.github.repo(`${h.repo.fullName}-access`)

async function say(h: Harness, issue: number, user: string, body: string, writtenAt?: string) {
  const c = access(h).addComment(issue, user, body)
  if (writtenAt) c.created_at = writtenAt
  await h.send('issue_comment', commentPayload(access(h), issue, c))
  return c
}

test('a held DELETE runs once after /approve, and an edited issue cannot pass it off as a SELECT', async () => {
  const db = shop.gateway.context.db
  await withHarness(db, async (h) => {
    const client = await shop.connect('writer')
    try {
      await client.query("INSERT INTO orders (customer_id, status, total) VALUES (1, 'to-delete', 1), (1, 'to-delete', 2)")
      const deleting = client.query("DELETE FROM orders WHERE status = 'to-delete'")
      const id = await pendingApprovalId(db)
      await syncApprovalIssues(h.bot.ctx)
      const issue = [...access(h).issues.values()].find((i) => i.body.includes(id))!
      const original = issue.body
      assert.ok(original.includes("DELETE FROM orders WHERE status = 'to-delete'"))
      assert.match(original, /from @acme\/security/)
      assert.deepEqual(issue.assignees?.sort(), ['alice', 'bob'])

      const editedAt = new Date().toISOString()
      issue.body = original.replace("DELETE FROM orders WHERE status = 'to-delete'", 'SELECT count(*) FROM orders')
      const edited = example('issues', 'edited')
      edited.repository.full_name = access(h).fullName
      edited.issue.number = issue.number
      edited.sender.login = 'mallory'
      await h.send('issues', edited)
      assert.equal(issue.body, original, 'the request is shown again as the gateway holds it')
      const fooled = await say(h, issue.number, 'alice', '/approve', editedAt)
      assert.deepEqual(fooled.reactions, ['confused'])
      assert.equal((await getApproval(db, id))!.status, 'pending')

      const yes = await say(h, issue.number, 'alice', '/approve')
      assert.deepEqual(yes.reactions, ['+1'])
      const reply = access(h).comments(issue.number).find((c) => c.body.startsWith('@alice your `/approve` counted'))!
      const request = (await getApproval(db, id))!
      assert.ok(reply.body.includes(request.requestDigest))
      assert.ok(reply.body.includes("` DELETE FROM orders WHERE status = 'to-delete' `"))
      assert.equal((await deleting).rowCount, 2)
      assert.equal((await getApproval(db, id))!.status, 'used')
      assert.equal((await client.query("SELECT count(*)::int AS n FROM orders WHERE status = 'to-delete'")).rows[0].n, 0)
      assert.equal(issue.state, 'closed')
    } finally {
      await client.end()
    }
  })
})
