// Every phase of an SSH connection has a deadline: connections that never send
// a banner, or send it a byte at a time, are closed by the login timeout,
// which starts at the accept; logged-in sessions with no traffic are closed by
// the idle timeout. Meanwhile a real ssh client is served. Nothing here
// measures time: each wait ends when the gateway closes the connection, and
// the test runner's timeout fails a gateway that never does.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, test } from 'node:test'
import { SSH_DEFAULTS } from '../../../gateway/ssh/settings.js'
import { startSshGateway, type SshGateway } from './harness.js'

const LOGIN_TIMEOUT_MS = 4000
const IDLE_TIMEOUT_MS = 3000

let gw: SshGateway
before(async () => {
  gw = await startSshGateway({
    // 340 lingering connections come from one address: above the default per-address cap, which is not what this tests.
    config: { ssh: { ...SSH_DEFAULTS, loginTimeoutMs: LOGIN_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS }, limits: { maxConnectionsPerAddress: 1000 } },
  })
})
after(async () => {
  await gw?.stop()
})

/** A connection that sends `bytes` one at a time every `everyMs` (nothing when empty); resolves once the gateway closes it. */
function lingering(bytes: string, everyMs: number): { opened: Promise<void>; closed: Promise<void> } {
  const socket = net.connect(gw.port, '127.0.0.1')
  socket.on('error', () => undefined)
  socket.on('data', () => undefined)
  let sent = 0
  const timer = setInterval(() => {
    if (sent < bytes.length && socket.writable) socket.write(bytes[sent++]!)
  }, everyMs)
  return {
    opened: new Promise((resolve) => socket.once('connect', () => resolve())),
    closed: new Promise((resolve) => socket.once('close', () => (clearInterval(timer), resolve()))),
  }
}

function timeoutsOf(phase: string): number {
  return gw.gateway.context.metrics.value('gatehouse_ssh_timeouts_total', { phase })
}

test('silent and byte-at-a-time connections are closed by the login timeout while a real ssh is served', { timeout: 120_000 }, async () => {
  const before = timeoutsOf('login')
  const silent = Array.from({ length: 300 }, () => lingering('', 1000))
  // A banner a byte every half second would take two minutes: the deadline started at the accept ends it first.
  const slow = Array.from({ length: 40 }, () => lingering(`SSH-2.0-${'x'.repeat(230)}\r\n`, 500))
  const all = [...silent, ...slow]
  await Promise.all(all.map((c) => c.opened))
  const run = await gw.ssh('deployer', 'web-1', 'echo served')
  assert.equal(run.stdout.toString(), 'served\n', run.stderr)
  await Promise.all(all.map((c) => c.closed))
  assert.ok(timeoutsOf('login') - before >= all.length, `login timeouts: ${timeoutsOf('login') - before}`)
  // And after them.
  const again = await gw.ssh('deployer', 'web-1', 'echo still served')
  assert.equal(again.stdout.toString(), 'still served\n', again.stderr)
})

test('a logged-in session with no traffic is closed by the idle timeout, on record', { timeout: 60_000 }, async () => {
  const before = timeoutsOf('idle')
  const client = await gw.connect('deployer', 'web-1')
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  client.on('error', () => undefined)
  await closed
  assert.equal(timeoutsOf('idle') - before, 1)
  const ends = await gw.events({ kinds: ['session.end'] })
  assert.ok(ends.some((e) => /idle/.test(String(e.data.reason))), JSON.stringify(ends.map((e) => e.data)))
})

test('a session that keeps talking is not idle', { timeout: 60_000 }, async () => {
  // Output every half second for longer than the idle timeout.
  const run = await gw.ssh('deployer', 'web-1', `bash ${gw.writeScript('ticks.sh', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo tick; sleep 0.5; done\n')}`)
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.toString(), 'tick\n'.repeat(10))
})
