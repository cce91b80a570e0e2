// Who approved a held statement is on record where people look: `approvals
// list`, the admin API and `sessions show` name each vote with who, when,
// through what and why.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { getApproval } from '../../../store/approvals.js'
import { pendingApprovalId } from '../../helpers/approvals.js'
import { gatehouseAsync } from '../../helpers/cli.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  process.env.GATEHOUSE_ADMIN_TOKEN = 'admin-secret'
  shop = await startShop()
})
after(() => shop?.stop())

test('a vote given through the CLI is listed, served by the admin API and shown in the session', async () => {
  const admin = `http://127.0.0.1:${shop.gateway.addresses.admin!.port}`
  const env = { GATEHOUSE_ADMIN_TOKEN: 'admin-secret' }
  const client = await shop.connect('writer')
  try {
    const deleting = client.query('DELETE FROM orders WHERE id = -1')
    const id = await pendingApprovalId(shop.gateway.context.db)
    const voted = await gatehouseAsync(['approvals', 'approve', id, '--as', '@carol', '--reason', 'cleanup of test rows', '--admin', admin], { env })
    assert.equal(voted.status, 0, voted.stderr + voted.stdout)
    await deleting

    const listed = await gatehouseAsync(['approvals', 'list', '--admin', admin], { env })
    assert.match(listed.stdout, new RegExp(`^    approved by @carol at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z through admin-api: cleanup of test rows$`, 'm'))
    const api = (await (await fetch(`${admin}/v1/approvals`, { headers: { authorization: 'Bearer admin-secret' } })).json()) as { approvals: Array<{ id: string; votes: Array<{ approver: string; source: string; reason: string }> }> }
    assert.deepEqual(api.approvals.find((a) => a.id === id)!.votes.map((v) => [v.approver, v.source, v.reason]), [['@carol', 'admin-api', 'cleanup of test rows']])

    const session = (await getApproval(shop.gateway.context.db, id))!.sessionId
    const shown = await gatehouseAsync(['sessions', 'show', session, '--admin', admin], { env })
    assert.match(shown.stdout, new RegExp(`approval\\.vote\\s+@carol APPROVED ${id} through admin-api \\(request now approved\\)\\n    why: cleanup of test rows`))
  } finally {
    await client.end()
  }
})
