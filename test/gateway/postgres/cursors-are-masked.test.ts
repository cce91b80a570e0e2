// Rows read through a cursor, a portal or a prepared statement are masked
// with the plan of the statement that produced them, however the name was
// created and however it is read: psql's FETCH_COUNT, SQL cursors in every
// form, protocol portals read with SQL FETCH, SQL cursors read with Execute,
// and statement names reused across the protocol and SQL.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { buildBind, buildExecute, buildParse } from '../../../gateway/postgres/protocol/serialize.js'
import { queryEvents } from '../../../store/audit-read.js'
import { editYaml, startShop, type Shop } from '../harness.js'
import { recompiled } from '../recompiled.js'
import { dataRows, errorsOf, withRawClient, type RawClient } from './raw-client.js'

const SECRETS = ['ada@example.com', 'grace@example.org', '+44 20 7946 0001', '+1 202 555 0102', '123-45-6789', '234-56-7890', '4111 1111 1111 1111']
const FORMS = SECRETS.flatMap((s) => [s, [...s].reverse().join(''), s.toUpperCase()])

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())

function leaks(bytes: Buffer | string): string[] {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1')
  return FORMS.filter((s) => text.includes(s))
}

/** Runs `body` as `reader`; nothing it received may hold a masked value, and the connection stays open. */
const withRaw = (body: (raw: RawClient) => Promise<void>) =>
  withRawClient(shop, 'reader', async (raw) => {
    await body(raw)
    assert.deepEqual(leaks(Buffer.concat(raw.received)), [])
    assert.equal(raw.closed, false, 'the connection stays open')
  })

const rowsOf = dataRows

describe('cursors are masked', () => {
  for (const fetchCount of [1, 3]) {
    test(`psql -v FETCH_COUNT=${fetchCount} reads through a cursor and sees masked values only`, async () => {
      const result = await shop.psql('reader', 'SELECT id, email, phone, ssn, notes, reverse(email) FROM customers, generate_series(1, 4) ORDER BY id', ['-v', `FETCH_COUNT=${fetchCount}`])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stdout.trim().split('\n').length, 8)
      assert.deepEqual(leaks(result.stdout), [], result.stdout)
    })
  }

  test('DECLARE, FETCH, MOVE and FETCH again, each a query of its own', () =>
    withRaw(async (raw) => {
      await raw.query('BEGIN')
      await raw.query('DECLARE k CURSOR FOR SELECT email, phone, reverse(email), ssn FROM customers ORDER BY id')
      assert.equal(rowsOf(await raw.query('FETCH 1 FROM k')), 1)
      await raw.query('MOVE ABSOLUTE 0 IN k')
      assert.equal(rowsOf(await raw.query('FETCH ALL FROM k')), 2)
      await raw.query('COMMIT')
    }))

  test('a BINARY cursor sends masked values as NULL, not clear bytes', () =>
    withRaw(async (raw) => {
      await raw.query('BEGIN')
      await raw.query('DECLARE b BINARY CURSOR FOR SELECT email, phone, notes FROM customers')
      assert.equal(rowsOf(await raw.query('FETCH ALL FROM b')), 2)
      await raw.query('ROLLBACK')
    }))

  test('a WITH HOLD cursor stays masked after its transaction, FETCH after FETCH', () =>
    withRaw(async (raw) => {
      await raw.query('DECLARE h CURSOR WITH HOLD FOR SELECT email, ssn FROM customers ORDER BY id')
      assert.equal(rowsOf(await raw.query('FETCH 1 FROM h')), 1)
      assert.equal(rowsOf(await raw.query('FETCH 1 FROM h')), 1)
      await raw.query('CLOSE h')
    }))

  test('a protocol portal read with SQL FETCH', () =>
    withRaw(async (raw) => {
      await raw.query('BEGIN')
      const first = await raw.exchange([buildParse('', 'SELECT email, phone FROM customers ORDER BY id'), buildBind({ portal: 'p1' }), buildExecute('p1', 1)])
      assert.equal(rowsOf(first), 1)
      assert.equal(rowsOf(await raw.query('FETCH ALL FROM p1')), 1)
      await raw.query('COMMIT')
    }))

  test('an SQL cursor read with Execute and a row limit', () =>
    withRaw(async (raw) => {
      await raw.query('BEGIN')
      await raw.query('DECLARE c CURSOR FOR SELECT upper(email), phone FROM customers')
      assert.equal(rowsOf(await raw.exchange([buildExecute('c', 1)])), 1)
      assert.equal(rowsOf(await raw.exchange([buildExecute('c', 1)])), 1)
      await raw.query('COMMIT')
    }))

  test('a prepared statement FETCH read with the protocol', () =>
    withRaw(async (raw) => {
      await raw.query('BEGIN')
      await raw.query('DECLARE f CURSOR FOR SELECT email FROM customers')
      assert.equal(rowsOf(await raw.exchange([buildParse('fetcher', 'FETCH ALL FROM f'), buildBind({ statement: 'fetcher' }), buildExecute()])), 2)
      await raw.query('COMMIT')
    }))

  test('a cursor the gateway did not see opened is refused before it is read, and the connection stays usable', () =>
    withRaw(async (raw) => {
      const refused = errorsOf(await raw.query('FETCH ALL FROM nowhere'))
      assert.equal(refused[0]?.code, '42501')
      assert.match(refused[0]?.message ?? '', /cursor `nowhere` was not created through the gateway/)
      const execute = errorsOf(await raw.exchange([buildExecute('nowhere')]))
      assert.equal(execute[0]?.code, '42501')
      assert.equal(rowsOf(await raw.query('SELECT 1')), 1)
    }))
})

describe('reused statement names', () => {
  test('a name parsed with the protocol, then deallocated and prepared again in SQL, runs with the new plan', () =>
    withRaw(async (raw) => {
      await raw.exchange([buildParse('s1', 'SELECT id FROM orders LIMIT 1')])
      await raw.query('DEALLOCATE s1')
      await raw.query('PREPARE s1 AS SELECT reverse(email) AS r, email, phone FROM customers LIMIT 5')
      const rows = await raw.exchange([buildBind({ statement: 's1' }), buildExecute()])
      assert.equal(rowsOf(rows), 2, JSON.stringify(errorsOf(rows)))
      await raw.query('DEALLOCATE s1')
      await raw.exchange([buildParse('s1', 'SELECT upper(email) FROM customers')])
      assert.equal(rowsOf(await raw.query('EXECUTE s1')), 2)
    }))

  test('a failed Parse does not change what a name means', () =>
    withRaw(async (raw) => {
      const failed = errorsOf(await raw.exchange([buildParse('s2', 'SELECT nosuchcolumn FROM customers')]))
      assert.equal(failed[0]?.code, '42703')
      await raw.exchange([buildParse('s2', 'SELECT email, ssn FROM customers')])
      assert.equal(rowsOf(await raw.exchange([buildBind({ statement: 's2' }), buildExecute()])), 2)
    }))
})

test('the audit of a FETCH names the statement behind it and its masks', async () => {
  await withRaw(async (raw) => {
    await raw.query('BEGIN')
    await raw.query('DECLARE audited CURSOR FOR SELECT email FROM customers')
    await raw.query('FETCH 1 FROM audited')
    await raw.query('COMMIT')
  })
  await shop.gateway.context.audit.flush()
  const events = await queryEvents(shop.gateway.context.db, { identity: 'reader', limit: 10_000 })
  const fetch = events.find((e) => e.kind === 'statement' && e.data.statement === 'FETCH 1 FROM audited')
  assert.ok(fetch, 'the FETCH is audited')
  const sources = fetch.data.sources as Array<{ reads: string; statement: string; masks: string[] }>
  assert.equal(sources[0]?.reads, 'audited')
  assert.equal(sources[0]?.statement, 'DECLARE audited CURSOR FOR SELECT email FROM customers')
  assert.ok(sources[0]?.masks.includes('public.customers.email'), JSON.stringify(sources))
})

test('a cursor opened before the bundle changed is read with the masks of the bundle in force', () =>
  withRaw(async (raw) => {
    await raw.query('DECLARE later CURSOR WITH HOLD FOR SELECT name FROM customers ORDER BY id')
    const before = await raw.query('FETCH 1 FROM later')
    assert.match(Buffer.concat(before.map((m) => m.raw)).toString('latin1'), /Ada/)
    await recompiled(shop, (repo) =>
      editYaml(path.join(repo, 'policies', 'read.yaml'), (doc) => (doc.get('masks') as { add(v: unknown): void }).add(doc.createNode({ column: 'public.customers.name', strategy: 'redact' }))),
    )
    const after = await raw.query('FETCH 1 FROM later')
    assert.equal(rowsOf(after), 1)
    assert.doesNotMatch(Buffer.concat(after.map((m) => m.raw)).toString('latin1'), /Grace/)
    await raw.query('CLOSE later')
  }))
