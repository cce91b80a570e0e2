// Commands held for approval: the client is told the request id and where to
// approve on stderr, and waits; approved → it runs once, denied or timed out
// → refused with status 126 and the command never runs.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { getApproval, voteOnApproval } from '../../../store/approvals.js'
import { pendingApprovalId } from '../../helpers/approvals.js'
import { startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => (gw = await startSshGateway({ config: { approvalsUrl: 'https://github.com/acme/policies/issues' } })))
after(async () => gw?.stop())

const db = () => gw.gateway.context.db

const pendingId = () => pendingApprovalId(db())

test('approved: the client is told where to approve, then the command runs once', async () => {
  const target = `${gw.files}/upload/approved`
  const running = gw.ssh('deployer', 'web-1', `touch ${target}`)
  const id = await pendingId()
  const request = await getApproval(db(), id)
  assert.equal(request?.identity, 'deployer')
  assert.equal(request?.resource, 'web-1')
  assert.equal(request?.requestText, `touch ${target}`)
  assert.equal(request?.rule, 'deploy/touch-needs-approval')
  assert.equal(existsSync(target), false, 'nothing ran while held')
  const voted = await voteOnApproval(db(), id, { approver: '@alice', decision: 'approve', source: 'test' })
  assert.ok(voted.ok)
  const run = await running
  assert.equal(run.status, 0, run.stderr)
  assert.match(run.stderr, new RegExp(`^gatehouse: this request is held until it is approved \\(request ${id}\\)$`, 'm'))
  assert.match(run.stderr, /^gatehouse: approve it at https:\/\/github\.com\/acme\/policies\/issues$/m)
  assert.equal(existsSync(target), true)
  assert.equal((await getApproval(db(), id))?.status, 'used')
  const events = await gw.events({ kinds: ['ssh.exec'] })
  assert.equal(events.find((e) => e.data.command === `touch ${target}`)?.data.approval, id)
})

test('denied: status 126, the reason on stderr, and the command never runs', async () => {
  const target = `${gw.files}/upload/denied`
  const running = gw.ssh('deployer', 'web-1', `touch ${target}`)
  const id = await pendingId()
  const voted = await voteOnApproval(db(), id, { approver: '@alice', decision: 'deny', source: 'test', reason: 'not today' })
  assert.ok(voted.ok)
  const run = await running
  assert.equal(run.status, 126)
  assert.match(run.stderr, new RegExp(`^gatehouse: permission denied by gatehouse: approval request ${id} was denied: not today$`, 'm'))
  assert.equal(existsSync(target), false)
})

test('timed out: refused once the approval window closes', async () => {
  const target = `${gw.files}/upload/late`
  const started = Date.now()
  const run = await gw.ssh('deployer', 'web-1', `mkdir ${target}`)
  assert.equal(run.status, 126)
  assert.match(run.stderr, /was not approved in time/)
  assert.ok(Date.now() - started >= 1900, 'it waited for the 2 s window')
  assert.equal(existsSync(target), false)
})

test('a client that gives up withdraws its request', async () => {
  const client = await gw.connect('deployer', 'web-1')
  const waiting = gw.exec(client, `touch ${gw.files}/upload/abandoned`).catch(() => undefined)
  const id = await pendingId()
  client.end()
  await waiting
  for (let i = 0; i < 100 && (await getApproval(db(), id))?.status === 'pending'; i++) await new Promise((r) => setTimeout(r, 50))
  assert.equal((await getApproval(db(), id))?.status, 'cancelled')
})
