// Statements held for approval: the client is told the request id and
// waits; approved → it runs (once), denied or timed out → an error, the
// client's cancel → an error; decided from the CLI and the admin API.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { getApproval, voteOnApproval } from '../../../store/approvals.js'
import { pendingApprovalId } from '../../helpers/approvals.js'
import { gatehouseAsync } from '../../helpers/cli.js'
import { editYaml, startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  process.env.GATEHOUSE_ADMIN_TOKEN = 'admin-secret'
  shop = await startShop({ config: { approvalsUrl: 'https://github.com/acme/policies/issues' } })
})
after(() => shop?.stop())

const db = () => shop.gateway.context.db

const pendingId = () => pendingApprovalId(db())

test('approved: the client is told where to approve, then the statement runs once', async () => {
  const client = await shop.connect('writer')
  const notices: Array<{ message?: string | undefined; hint?: string | undefined }> = []
  client.on('notice', (n) => notices.push(n))
  try {
    await client.query("INSERT INTO orders (customer_id, status, total) VALUES (1, 'to-delete', 1)")
    const deleting = client.query("DELETE FROM orders WHERE status = 'to-delete'")
    const id = await pendingId()
    const request = await getApproval(db(), id)
    assert.equal(request?.identity, 'writer')
    assert.equal(request?.requestText, "DELETE FROM orders WHERE status = 'to-delete'")
    assert.equal(request?.rule, 'write/deletes-need-approval')
    await new Promise((r) => setTimeout(r, 100))
    assert.match(notices[0]?.message ?? '', new RegExp(`held until it is approved \\(request ${id}\\)`))
    assert.match(notices[0]?.hint ?? '', /github\.com\/acme\/policies\/issues/)
    const own = await voteOnApproval(db(), id, { approver: '@acme/app', decision: 'approve', source: 'test', isOwner: true })
    assert.equal(own.ok ? 'ok' : own.reason, 'own-request', 'the identity\'s owner may not approve (gatehouse.yaml)')
    const voted = await voteOnApproval(db(), id, { approver: '@alice', decision: 'approve', source: 'test' })
    assert.ok(voted.ok)
    const result = await deleting
    assert.equal(result.rowCount, 1)
    assert.equal((await getApproval(db(), id))?.status, 'used')
  } finally {
    await client.end()
  }
})

test('denied through the CLI (admin API): the client gets an error naming the request', async () => {
  const client = await shop.connect('writer')
  try {
    // Caught now: the denial may arrive before the assertion below is reached.
    const deleting = client.query('DELETE FROM orders WHERE id = -1').then(() => undefined, (err: pg.DatabaseError) => err)
    const id = await pendingId()
    const admin = `http://127.0.0.1:${shop.gateway.addresses.admin!.port}`
    const cli = await gatehouseAsync(['approvals', 'deny', id, '--as', '@bob', '--reason', 'not during the freeze', '--admin', admin], { env: { GATEHOUSE_ADMIN_TOKEN: 'admin-secret' } })
    assert.equal(cli.status, 0, cli.stderr + cli.stdout)
    const err = await deleting
    assert.equal(err?.code, '42501')
    assert.match(err.message, new RegExp(`approval request ${id} was denied: not during the freeze`))
    assert.equal((await client.query('SELECT 1 AS ok')).rows[0].ok, 1, 'the connection is still usable')
  } finally {
    await client.end()
  }
})

test('cancelled by the client while waiting (psql, Ctrl-C)', async () => {
  const running = shop.psql('writer', 'DELETE FROM orders WHERE id = -2')
  const id = await pendingId()
  // psql answers SIGINT with a CancelRequest on a new connection, as libpq does.
  const { execFileSync } = await import('node:child_process')
  execFileSync('pkill', ['-INT', '-f', `port=${shop.port} user=writer`])
  const result = await running
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, /canceling statement due to user request/)
  for (let i = 0; i < 50 && (await getApproval(db(), id))?.status === 'pending'; i++) await new Promise((r) => setTimeout(r, 50))
  assert.equal((await getApproval(db(), id))?.status, 'cancelled')
})

test('a request nobody decides times out', async () => {
  const before = shop.gateway.context.state.current!.digest
  await shop.recompile((repo) => editYaml(`${repo}/policies/write.yaml`, (doc) => doc.setIn(['rules', 1, 'approval', 'timeout'], '2s')))
  for (let i = 0; i < 200 && shop.gateway.context.state.current!.digest === before; i++) await new Promise((r) => setTimeout(r, 50))
  assert.notEqual(shop.gateway.context.state.current!.digest, before, 'the new bundle was loaded')
  const client = await shop.connect('writer')
  try {
    await assert.rejects(client.query('DELETE FROM orders WHERE id = -3'), (err: pg.DatabaseError) => err.code === '42501' && /not approved in time/.test(err.message))
  } finally {
    await client.end()
  }
})
