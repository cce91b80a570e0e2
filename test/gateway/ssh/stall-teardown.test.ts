// A gateway stopped moments after it closed a stalled client leaves nothing
// behind: the stall timer of the closed channel once re-armed itself on the
// shutdown message and kept the process alive for ever.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { SSH_DEFAULTS } from '../../../gateway/ssh/settings.js'
import { startSshGateway } from './harness.js'

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

test('a gateway stopped just after a stall leaves no timer running', async () => {
  const before = timers()
  const gw = await startSshGateway({ config: { ssh: { ...SSH_DEFAULTS, idleTimeoutMs: 0, channelBufferBytes: 256 * 1024, stallTimeoutMs: 500 } } })
  const script = gw.writeScript('pour.sh', 'head -c 400000000 /dev/zero\n')
  const child = spawn('ssh', [...gw.sshOptions('deployer'), '-p', String(gw.port), 'web-1@127.0.0.1', `bash ${script}`], { stdio: ['ignore', 'pipe', 'ignore'] })
  child.stdout.pause()
  assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 255)
  child.stdout.destroy()
  await gw.stop()
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(timers(), before, String(process.getActiveResourcesInfo()))
})
