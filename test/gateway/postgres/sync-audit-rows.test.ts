// In sync mode each statement's event is written before the statement runs,
// so its outcome cannot go into that row: it rides on the session's next
// event instead, and a session that keeps working costs one row per
// statement. An outcome whose session goes quiet is written on its own.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { outcomesByEvent, queryEvents } from '../../../store/audit-read.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop({ audit: 'sync', config: { auditFlushMs: 50 } })
})
after(() => shop?.stop())

test('one row per statement in sync mode; every outcome is on record, the last one once the session goes quiet', async () => {
  const marker = `sync-rows-${Date.now()}`
  const client = await shop.connect('writer')
  for (let i = 0; i < 20; i++) {
    if (i % 2 === 0) await client.query(`INSERT INTO orders (customer_id, status, total) VALUES (1, '${marker}', ${i})`)
    else await client.query(`SELECT id FROM orders WHERE status = '${marker}'`)
  }
  // Quiet for several flush intervals: the last outcome cannot wait for a next event.
  await new Promise((r) => setTimeout(r, 500))
  await shop.gateway.context.audit.flush()
  const events = await queryEvents(shop.gateway.context.db, { identity: 'writer', limit: 10_000 })
  const statements = events.filter((e) => e.kind === 'statement' && String(e.data.statement).includes(marker))
  assert.equal(statements.length, 20)
  const alone = events.filter((e) => e.kind === 'statement.outcome' && statements.some((s) => s.id === e.data.event))
  assert.deepEqual(alone.map((e) => e.data.event), [statements.at(-1)!.id], 'only the last outcome, which no next event carried, has a row of its own')
  const outcomes = outcomesByEvent(events)
  assert.deepEqual(
    statements.map((s) => s.data.outcome ?? outcomes.get(s.id)),
    statements.map((_, i) => (i % 2 === 0 ? 'INSERT 0 1' : `SELECT ${Math.ceil(i / 2)}`)),
  )
  await client.end()
})
