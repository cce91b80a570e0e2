// Statements through the gateway with real clients: simple and extended
// protocol, pipelines, transactions, multi-statement strings. A denial is a
// 42501 that names the rule, and the connection stays usable with the same
// transaction state the server has.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { queryEvents } from '../../../store/audit-read.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())

const errorOf = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (err) {
    return err as pg.DatabaseError
  }
  assert.fail('expected an error')
}

describe('simple protocol (psql)', () => {
  test('allowed and denied statements', async () => {
    const ok = await shop.psql('reader', 'SELECT count(*) FROM orders')
    assert.equal(ok.stdout.trim(), '2')
    const denied = await shop.psql('reader', 'DELETE FROM orders')
    assert.equal(denied.status, 1)
    assert.match(denied.stderr, /ERROR:  permission denied by gatehouse: no rule allows delete on `public\.orders`/)
    assert.match(denied.stderr, /HINT:  SELECT \* FROM gatehouse\.permissions/)
  })

  test('one denied statement in a string denies the whole string; nothing of it runs', async () => {
    const before = await shop.psql('writer', 'SELECT count(*) FROM orders')
    const result = await shop.psql('writer', "INSERT INTO orders (customer_id, status, total) VALUES (1, 'new', 1); DROP TABLE secrets")
    assert.equal(result.status, 1)
    assert.equal((await shop.psql('writer', 'SELECT count(*) FROM orders')).stdout, before.stdout)
    assert.equal((await shop.psql('admin', 'SELECT count(*) FROM secrets')).stdout.trim(), '1')
  })
})

describe('extended protocol (node-postgres)', () => {
  test('parameters, denial, and the connection stays usable', async () => {
    const client = await shop.connect('writer')
    try {
      const rows = await client.query('SELECT status FROM orders WHERE id = $1', [1])
      assert.deepEqual(rows.rows, [{ status: 'shipped' }])
      const err = await errorOf(client.query('DELETE FROM secrets WHERE id = $1', [1]))
      assert.equal(err.code, '42501')
      assert.match(err.message, /no rule allows delete on `public\.secrets`/)
      const again = await client.query('SELECT count(*)::int AS n FROM orders')
      assert.equal(again.rows[0].n >= 2, true)
    } finally {
      await client.end()
    }
  })

  test('a denial inside a transaction aborts it, as the server would', async () => {
    const client = await shop.connect('writer')
    try {
      await client.query('BEGIN')
      await client.query("UPDATE orders SET status = 'held' WHERE id = 1")
      const err = await errorOf(client.query('TRUNCATE secrets'))
      assert.equal(err.code, '42501')
      const aborted = await errorOf(client.query('SELECT 1'))
      assert.equal(aborted.code, '25P02', 'in a failed transaction, as PostgreSQL does')
      await client.query('ROLLBACK')
      const status = await client.query('SELECT status FROM orders WHERE id = 1')
      assert.equal(status.rows[0].status, 'shipped', 'the update was rolled back')
    } finally {
      await client.end()
    }
  })

  test('prepared statements are decided once and executed many times', async () => {
    const client = await shop.connect('reader')
    try {
      for (let i = 0; i < 5; i++) {
        const r = await client.query({ name: 'by-id', text: 'SELECT status FROM orders WHERE id = $1', values: [1 + (i % 2)] })
        assert.equal(r.rowCount, 1)
      }
      const err = await errorOf(client.query({ name: 'sneaky', text: 'DELETE FROM orders WHERE id = $1', values: [1] }))
      assert.equal(err.code, '42501')
    } finally {
      await client.end()
    }
  })

  test('pipelined requests keep their order, around a denial', async () => {
    const client = await shop.connect('reader')
    try {
      const results = await Promise.allSettled([
        client.query('SELECT 1 AS a'),
        client.query('SELECT id FROM orders WHERE id = $1', [2]),
        client.query('DELETE FROM orders WHERE id = $1', [2]),
        client.query('SELECT 3 AS c'),
      ])
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
      assert.deepEqual((results[3] as PromiseFulfilledResult<pg.QueryResult>).value.rows, [{ c: 3 }])
    } finally {
      await client.end()
    }
  })
})

test('an identity with no access to the resource cannot connect', async () => {
  const result = await shop.psql('outsider', 'SELECT 1')
  assert.equal(result.status, 2)
  assert.match(result.stderr, /permission denied by gatehouse: "outsider" has no access to "shop"/)
})

test('a wrong token fails authentication like an unknown identity', async () => {
  const wrong = await shop.psql('reader', 'SELECT 1', [])
  assert.equal(wrong.status, 0)
  const bad = await new Promise<string>((resolve) => {
    const client = new pg.Client({ host: '127.0.0.1', port: shop.port, user: 'reader', password: 'gth_wrong', database: 'shop' })
    client.connect().then(() => resolve('connected'), (err: pg.DatabaseError) => resolve(`${err.code} ${err.message}`))
  })
  const unknown = await new Promise<string>((resolve) => {
    const client = new pg.Client({ host: '127.0.0.1', port: shop.port, user: 'nobody', password: 'gth_wrong', database: 'shop' })
    client.connect().then(() => resolve('connected'), (err: pg.DatabaseError) => resolve(`${err.code} ${err.message}`))
  })
  assert.equal(bad, '28P01 password authentication failed for user "reader"')
  assert.equal(unknown, '28P01 password authentication failed for user "nobody"')
})

test('each statement is recorded with its outcome: command tag, rows and duration', async () => {
  const marker = `outcome-${Date.now()}`
  const client = await shop.connect('reader')
  await client.query(`SELECT id, '${marker}' FROM orders`)
  await client.query(`SELECT '${marker}' FROM orders WHERE id = $1`, [1])
  await client.end()
  await shop.gateway.context.audit.flush()
  const events = await queryEvents(shop.gateway.context.db, { identity: 'reader', limit: 10_000 })
  const statements = events.filter((e) => e.kind === 'statement' && String(e.data.statement).includes(marker))
  assert.equal(statements.length, 2)
  // The outcome rides on the statement's event when it completes before the flush, else on the session's next event, else on its own.
  const later = events.flatMap((e) => [...(e.kind === 'statement.outcome' ? [e.data] : []), ...((e.data.outcomes as Array<Record<string, unknown>> | undefined) ?? [])])
  const outcomes = statements.map((s) => (s.data.outcome ? s.data : later.find((o) => o.event === s.id)))
  assert.deepEqual(outcomes.map((o) => [o?.outcome, o?.rows, typeof o?.durationMs]), [['SELECT 2', 2, 'number'], ['SELECT 1', 1, 'number']])
})
