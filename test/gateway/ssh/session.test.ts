// A session over time: `gatehouse whoami` is answered by the gateway, a new
// bundle decides the very next command on an open connection, and removing
// an identity closes its sessions.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => (gw = await startSshGateway()))
after(async () => gw?.stop())

async function reloaded(edit: (repo: string) => void): Promise<void> {
  const before = gw.gateway.context.state.current?.revision
  await gw.recompile(edit)
  await eventually(async () => gw.gateway.context.state.current?.revision, (r) => r !== before)
  assert.notEqual(gw.gateway.context.state.current?.revision, before, 'the new bundle loaded')
}

test('gatehouse whoami answers from the gateway: permissions here and recent activity', async () => {
  await gw.ssh('deployer', 'web-1', 'echo remembered')
  await gw.gateway.context.audit.flush()
  const run = await gw.ssh('deployer', 'web-1', 'gatehouse whoami')
  assert.equal(run.status, 0, run.stderr)
  const text = run.stdout.toString()
  assert.match(text, /^identity {2}deployer$/m)
  assert.match(text, /^resource {2}web-1 /m)
  assert.match(text, /allow {3}deploy\/inspect: exec `echo \*\*`/)
  assert.match(text, /deny {4}deploy\/no-removal/)
  assert.match(text, /approve deploy\/touch-needs-approval: .*\(approval: 1 of @acme\/security within 60s\)/)
  assert.match(text, /ssh\.exec allow by deploy\/inspect .*echo remembered/)
  // web-2's upstream cannot be reached at all (its pinned key is wrong): whoami still answers.
  const offline = await gw.ssh('deployer', 'web-2', 'gatehouse whoami')
  assert.equal(offline.status, 0, offline.stderr)
  assert.match(offline.stdout.toString(), /^resource {2}web-2 /m)
  const session = /^session {3}(\S+)$/m.exec(offline.stdout.toString())?.[1]
  assert.ok(session)
  assert.deepEqual(await gw.events({ sessionId: session, kinds: ['ssh.upstream'] }), [], 'no connection to web-2 was even attempted')
})

test('a new bundle decides the next command on a connection that is already open', async () => {
  const client = await gw.connect('deployer', 'web-1')
  try {
    assert.equal((await gw.exec(client, 'echo before')).stdout.toString(), 'before\n')
    await reloaded((repo) => {
      const file = path.join(repo, 'policies', 'deploy.yaml')
      writeFileSync(file, readFileSync(file, 'utf8').replace('"echo **", ', ''))
    })
    const after = await gw.exec(client, 'echo after')
    assert.equal(after.code, 126)
    assert.match(after.stderr.toString(), /permission denied by gatehouse/)
    assert.equal((await gw.exec(client, 'true')).code, 0, 'other rules still apply')
  } finally {
    client.end()
  }
})

test('removing an identity closes its open sessions', async () => {
  const client = await gw.connect('deployer', 'web-1')
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  const running = gw.exec(client, 'sleep 30')
  await new Promise((r) => setTimeout(r, 300))
  await reloaded((repo) => {
    const file = path.join(repo, 'identities', 'all.yaml')
    const docs = parseAllDocuments(readFileSync(file, 'utf8'))
    if (!Array.isArray(docs)) throw new Error('identities do not parse')
    writeFileSync(file, docs.filter((doc) => doc.get('name') !== 'deployer').map((doc) => doc.toString()).join('---\n'))
    // A role nobody holds is a compile error: the policy moves to another role.
    const policy = path.join(repo, 'policies', 'deploy.yaml')
    writeFileSync(policy, readFileSync(policy, 'utf8').replace('roles: [deployer]', 'roles: [operator]'))
  })
  const result = await running
  assert.match(result.stderr.toString(), /identity `deployer` was removed from the policy bundle/)
  assert.notEqual(result.code, 0)
  await closed
  assert.equal(gw.gateway.context.sessions.count('ssh'), 0)
})
