// Recompiles a test shop's policy repository and waits until the gateway has
// loaded the new bundle, so the next statement is decided under it.
import assert from 'node:assert/strict'
import type { Shop } from './harness.js'

export async function recompiled(shop: Shop, edit: (repo: string) => void): Promise<void> {
  const before = shop.gateway.context.state.current!.digest
  await shop.recompile(edit)
  for (let i = 0; i < 400 && shop.gateway.context.state.current!.digest === before; i++) await new Promise((r) => setTimeout(r, 25))
  assert.notEqual(shop.gateway.context.state.current!.digest, before, 'the new bundle was loaded')
}
