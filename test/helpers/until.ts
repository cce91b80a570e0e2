// Waiting for a condition the system reaches by itself (a recovery, a
// timeout firing), polling, with a generous bound: a test asserts that it
// happens, never how fast.
import assert from 'node:assert/strict'

export async function until(what: string, check: () => boolean | Promise<boolean>, { attempts = 400, everyMs = 50 } = {}): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, everyMs))
  }
  assert.fail(`timed out waiting until ${what}`)
}
