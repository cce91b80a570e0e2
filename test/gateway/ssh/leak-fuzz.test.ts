// The SSH leak fuzzer (test/gateway/ssh/leak-fuzz.ts) with a fixed seed: no
// part of a masked value printed by the host reaches the client, however the
// output is cut and whichever values overlap.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startSshGateway, type SshGateway } from './harness.js'
import { FUZZ_SSH_SETTINGS, fuzzSshOutput, maskEverything } from './leak-fuzz.js'

const SEED = 20261206
const COUNT = 60

let gw: SshGateway
before(async () => {
  gw = await startSshGateway({ config: { ssh: FUZZ_SSH_SETTINGS } })
  await maskEverything(gw)
})
after(async () => {
  await gw?.stop()
})

test(`seed ${SEED}: ${COUNT} outputs full of sensitive values reach the client masked`, { timeout: 300_000 }, async () => {
  const result = await fuzzSshOutput(gw, SEED, COUNT)
  assert.ok(result.secrets > COUNT * 4, `${result.secrets} values`)
})
