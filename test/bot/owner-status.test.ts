// Whether an identity's owner left: only GitHub's explicit "not a member"
// (404 for a user) means left; every other answer is unknown, never "left".
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Membership } from '../../bot/github/membership.js'
import type { Database } from '../../store/database.js'
import { openStore, withHarness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

test('owner status: 204 present, 404 left, and 302, 403, 5xx, or a team answering 404 unknown', async () => {
  await withHarness(store.db, async (h) => {
    const membership = new Membership(h.bot.ctx.github)
    const state = async (owner: string) => (await membership.ownerStatus(owner, 'acme')).state
    assert.equal(await state('@alice'), 'present')
    assert.equal(await state('@acme/security'), 'present')
    assert.equal(await state('@ghost'), 'left')
    assert.equal(await state('@acme/renamed'), 'unknown')
    // Once each (a 5xx every time the client retries it), so each answer is the one judged.
    for (const status of [302, 403, 500]) {
      h.github.fail({ path: /^\/orgs\/acme\/members\/alice$/ }, status, { times: status === 500 ? 4 : 1 })
      assert.equal(await state('@alice'), 'unknown', `GitHub answered ${status}`)
    }
    assert.equal(await state('@alice'), 'present', 'every fault was used')
  })
})
