// Recompiles a test repository and waits until the gateway has loaded the
// new bundle (it watches the file, so the load happens on its own time).
import assert from 'node:assert/strict'
import type { RunningGateway } from '../../gateway/gateway.js'

export async function recompileAndWait(target: { gateway: RunningGateway; recompile(edit: (repo: string) => void): Promise<void> }, edit: (repo: string) => void): Promise<void> {
  const state = target.gateway.context.state
  const before = state.current?.digest
  await target.recompile(edit)
  for (let i = 0; i < 400 && state.current?.digest === before; i++) await new Promise((r) => setTimeout(r, 25))
  assert.notEqual(state.current?.digest, before, 'the new bundle was loaded')
}
