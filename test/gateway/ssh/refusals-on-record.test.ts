// What the SSH front refuses whatever the policies say leaves an event, and a
// command's event says both what the client typed and what the host was sent.
// Masking is counted in gatehouse_masked_values_total.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import ssh2 from 'ssh2'
import { startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => {
  gw = await startSshGateway()
})
after(async () => {
  await gw?.stop()
})

test('an environment variable the client sends is refused and recorded by name, never by value', async () => {
  const run = await gw.ssh('deployer', 'web-1', 'echo ok', { args: ['-o', 'SetEnv=GATEHOUSE_PROBE=s3cr3t-value'] })
  assert.equal(run.stdout.toString(), 'ok\n', run.stderr)
  const events = await gw.events({ kinds: ['ssh.request'] })
  const refusal = events.find((e) => String(e.data.request).includes('GATEHOUSE_PROBE'))
  assert.ok(refusal, JSON.stringify(events.map((e) => e.data)))
  assert.equal(refusal.data.decision, 'deny')
  assert.equal(refusal.data.request, 'environment variable `GATEHOUSE_PROBE`')
  assert.ok(!JSON.stringify(events).includes('s3cr3t-value'))
})

test('a Unix-socket forward is refused and recorded', async () => {
  // ssh2's client sends this request only to a server it takes for OpenSSH, unless told not to check.
  const client = await new Promise<ssh2.Client>((resolve, reject) => {
    const c = new ssh2.Client()
    c.once('ready', () => resolve(c)).once('error', reject)
    c.connect({ host: '127.0.0.1', port: gw.port, username: 'web-1', privateKey: readFileSync(gw.keys.deployer!), strictVendor: false })
  })
  try {
    const err = await new Promise<Error | undefined>((resolve) => client.openssh_forwardOutStreamLocal('/run/probe.sock', (e) => resolve(e)))
    assert.ok(err, 'the forward was refused')
    // The connection stays usable.
    const result = await gw.exec(client, 'echo after')
    assert.equal(result.stdout.toString(), 'after\n')
  } finally {
    client.end()
  }
  const events = await gw.events({ kinds: ['ssh.request'] })
  const refusal = events.find((e) => e.data.request === 'Unix-socket forward to `/run/probe.sock`')
  assert.ok(refusal, JSON.stringify(events.map((e) => e.data)))
  assert.equal(refusal.data.decision, 'deny')
})

test("a command's event keeps the client's text and the argv sent upstream after re-quoting", async () => {
  const text = `echo   "two  words" 'it''s'`
  const run = await gw.ssh('deployer', 'web-1', text)
  assert.equal(run.stdout.toString(), 'two  words its\n', run.stderr)
  const event = (await gw.events({ kinds: ['ssh.exec'] })).find((e) => e.data.command === text)
  assert.ok(event)
  assert.deepEqual(event.data.argv, ['echo', 'two  words', 'its'])
  assert.equal(event.data.sent, `echo 'two  words' its`)
})

test('values masked in SSH output are counted by protocol', async () => {
  const metrics = gw.gateway.context.metrics
  const before = metrics.value('gatehouse_masked_values_total', { protocol: 'ssh' })
  const run = await gw.ssh('deployer', 'web-1', 'printf "%s and %s\\n" 4111111111111111 5555555555554444')
  assert.equal(run.stdout.toString(), '[redacted:credit-card] and [redacted:credit-card]\n', run.stderr)
  assert.equal(metrics.value('gatehouse_masked_values_total', { protocol: 'ssh' }) - before, 2)
})
