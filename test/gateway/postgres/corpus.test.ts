// The corpora of test/cases/gateway against a real server through the
// gateway: bypass attempts on a read-only grant are all refused and change
// nothing; legitimate reads work; no masked value leaks in any form.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { parse } from 'yaml'
import { ROOT } from '../../helpers/repo.js'
import { startShop, type Shop } from '../harness.js'

const cases = (name: string) => parse(readFileSync(path.join(ROOT, 'test', 'cases', 'gateway', name), 'utf8')) as unknown
const bypass = cases('bypass.yaml') as { simple: string[]; extended: string[] }
const legitimate = cases('legitimate.yaml') as string[]
const masking = cases('masking.yaml') as { secrets: string[]; queries: string[]; extended: string[] }

let shop: Shop
let snapshot: string
const state = async () => {
  const admin = new pg.Client({ connectionString: shop.adminUrl })
  await admin.connect()
  const rows = await admin.query(`SELECT (SELECT json_agg(o ORDER BY id) FROM orders o)::text AS orders, (SELECT json_agg(s) FROM secrets s)::text AS secrets,
    (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')::int AS tables, (SELECT last_value FROM orders_id_seq) AS seq`)
  await admin.end()
  return JSON.stringify(rows.rows[0])
}

before(async () => {
  shop = await startShop()
  snapshot = await state()
})
after(() => shop?.stop())

describe('bypass attempts on a read-only grant', () => {
  for (const sql of bypass.simple) {
    test(`refused: ${sql}`, async () => {
      const result = await shop.psql('reader', sql)
      assert.notEqual(result.status, 0, `ran: ${result.stdout}`)
      assert.match(result.stderr, /permission denied by gatehouse|ERROR:  42501/)
    })
  }
  test('extended protocol attempts are refused', async () => {
    const client = await shop.connect('reader')
    try {
      for (const sql of bypass.extended) {
        const values = sql.includes('$1') ? ['1'] : []
        await assert.rejects(client.query(sql, values), (err: pg.DatabaseError) => err.code === '42501', sql)
      }
    } finally {
      await client.end()
    }
  })
  test('nothing changed', async () => {
    assert.equal(await state(), snapshot)
  })
})

describe('legitimate reads', () => {
  for (const sql of legitimate) {
    test(`works: ${sql}`, async () => {
      const result = await shop.psql('reader', sql)
      assert.equal(result.status, 0, result.stderr)
    })
  }
  test("psql's \\d works", async () => {
    const result = await shop.psql('reader', '\\d orders')
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /customer_id/)
  })
})

describe('masked data does not leak', () => {
  const leaks = (text: string) => masking.secrets.filter((s) => text.includes(s))
  for (const sql of masking.queries) {
    test(`masked: ${sql}`, async () => {
      const result = await shop.psql('reader', sql)
      assert.equal(result.status, 0, result.stderr)
      assert.ok(result.stdout.length > 0, 'returned rows (masked to NULL, a row is an empty line)')
      assert.deepEqual(leaks(result.stdout), [], result.stdout)
    })
  }
  test('extended protocol, text and binary results', async () => {
    const client = await shop.connect('reader')
    try {
      for (const sql of masking.extended) {
        for (const binary of [false, true]) {
          const result = await client.query({ text: sql, values: sql.includes('$1') ? ['1'] : [], ...(binary ? { binary: true } : {}) })
          const text = JSON.stringify(result.rows, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))
          assert.deepEqual(leaks(text), [], `${sql} (${binary ? 'binary' : 'text'}): ${text}`)
        }
      }
    } finally {
      await client.end()
    }
  })
  test('the admin, with no masks, sees the data', async () => {
    const result = await shop.psql('admin', 'SELECT email FROM customers WHERE id = 1')
    assert.equal(result.stdout.trim(), 'ada@example.com')
  })
})
