// A real ssh client that stops reading while the host pours out output: the
// gateway stops reading from the host (backpressure), holds a bounded amount,
// and once the client has read nothing for the stall timeout closes that
// connection, on record; another session is served throughout, and the
// memory comes back once the connection is gone.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SSH_DEFAULTS } from '../../../gateway/ssh/settings.js'
import { heldBytes } from '../../helpers/memory.js'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const STALL_MS = 3000
/** What the host writes: far more than any buffer on the way could hold. */
const OUTPUT_BYTES = 400 * 1024 * 1024

let gw: SshGateway
before(async () => {
  gw = await startSshGateway({ config: { ssh: { ...SSH_DEFAULTS, idleTimeoutMs: 0, channelBufferBytes: 256 * 1024, stallTimeoutMs: STALL_MS } } })
})
after(async () => {
  await gw?.stop()
})


test('a client that stops reading is closed after the stall timeout; memory stays bounded and returns; others are served', { timeout: 120_000 }, async () => {
  gc()
  const baseline = heldBytes()
  let peak = baseline
  const sampler = setInterval(() => (peak = Math.max(peak, heldBytes())), 50)
  const script = gw.writeScript('pour.sh', `head -c ${OUTPUT_BYTES} /dev/zero\n`)
  // stdout is a pipe nobody reads: once it is full, ssh stops reading its connection, and the SSH window closes.
  const child = spawn('ssh', [...gw.sshOptions('deployer'), '-p', String(gw.port), 'web-1@127.0.0.1', `bash ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.pause()
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  // Another session is served while the first one is stalled.
  const other = await gw.ssh('deployer', 'web-1', 'echo served meanwhile')
  assert.equal(other.stdout.toString(), 'served meanwhile\n', other.stderr)

  assert.equal(await exited, 255, stderr)
  clearInterval(sampler)
  child.stdout.destroy()
  // Bounded: a few windows' worth (SSH windows of 2 MiB each way, socket buffers), nowhere near the output.
  assert.ok(peak - baseline < 64 * 1024 * 1024, `held ${Math.round((peak - baseline) / 1048576)} MiB above the baseline`)

  const stalled = await gw.events({ kinds: ['ssh.stalled'] })
  assert.equal(stalled.length, 1)
  assert.ok(Number(stalled[0]!.data.bufferedBytes) > 256 * 1024)
  assert.equal(gw.gateway.context.metrics.value('gatehouse_ssh_timeouts_total', { phase: 'stalled' }), 1)
  const ends = await gw.events({ kinds: ['session.end'] })
  assert.ok(ends.some((e) => e.data.reason === 'the client stopped reading its output'), JSON.stringify(ends.map((e) => e.data)))

  // The memory comes back once the connection is gone (the socket's buffers are freed a moment after it closes).
  const settled = await eventually(
    async () => (gc(), heldBytes() - baseline),
    (extra) => extra < 16 * 1024 * 1024,
    5_000,
  )
  assert.ok(settled < 16 * 1024 * 1024, `still held ${Math.round(settled / 1048576)} MiB`)
  const after = await gw.ssh('deployer', 'web-1', 'echo served after')
  assert.equal(after.stdout.toString(), 'served after\n', after.stderr)
})
