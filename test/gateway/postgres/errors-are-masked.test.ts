// Errors and notices are results too: what the server quotes from masked
// columns (casts that fail, JSON that does not parse, constraint violations,
// a function's RAISE) is masked before it leaves, for any statement that
// touches a table with masked columns; detectors run on every error and
// notice.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { editYaml, SEED, startShop, type Shop } from '../harness.js'
import { recompiled } from '../recompiled.js'
import { dataRows, errorsOf, withRawClient } from './raw-client.js'

const SECRETS = ['ada@example.com', 'grace@example.org', '7946 0001', '123-45-6789', '4111 1111 1111 1111', '4111111111111111']
const FORMS = SECRETS.flatMap((s) => [s, [...s].reverse().join(''), s.toUpperCase(), s.slice(0, 6)])

let shop: Shop
before(async () => {
  shop = await startShop({
    seed: `${SEED}
      ALTER TABLE customers ADD UNIQUE (email);
      ALTER TABLE customers ALTER name SET NOT NULL;
      CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'saw %', t; RETURN 'ok'; END $$;
      CREATE FUNCTION fail(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'failed on %', t USING DETAIL = t, HINT = t; END $$;`,
  })
  // The writer may also update customers, whose email it reads masked.
  await recompiled(shop, (repo) => editYaml(path.join(repo, 'policies', 'write.yaml'), (doc) => doc.setIn(['rules', 0, 'tables'], doc.createNode(['public.orders', 'public.customers']))))
})
after(() => shop?.stop())

const leaks = (bytes: Buffer) => FORMS.filter((s) => bytes.toString('latin1').includes(s))

test('errors and notices quote no masked value, and keep their SQLSTATE', async () => {
  const cases: Array<[string, string, string]> = [
    ['reader', 'SELECT email::int FROM customers WHERE id = 1', '22P02'],
    ['reader', 'SELECT reverse(email)::int FROM customers WHERE id = 1', '22P02'],
    ['reader', 'SELECT ssn::inet FROM customers', '22P02'],
    ['reader', 'SELECT email::jsonb FROM customers', '22P02'],
    ['reader', "SELECT replace(ssn, '-', '')::int2 FROM customers", '22003'],
    ['reader', 'SELECT email::date FROM customers', '22007'],
    ['reader', 'SELECT fail(email) FROM customers', 'P0001'],
    ['reader', "SELECT notes::int FROM customers WHERE id = 2", '22P02'],
    ['writer', 'UPDATE customers SET email = (SELECT email FROM customers WHERE id = 2) WHERE id = 1', '23505'],
    ['writer', 'UPDATE customers SET name = NULL WHERE id = 1', '23502'],
  ]
  for (const [identity, sql, code] of cases) {
    await withRawClient(shop, identity, async (raw) => {
      const errors = errorsOf(await raw.query(sql))
      assert.equal(errors[0]?.code, code, `${sql}: ${JSON.stringify(errors)}`)
      assert.deepEqual(leaks(Buffer.concat(raw.received)), [], `${sql}: ${JSON.stringify(errors)}`)
      assert.equal(dataRows(await raw.query('SELECT 1')), 1, 'the connection stays usable')
    })
  }
})

test("a function's notices about masked values are masked", async () => {
  await withRawClient(shop, 'reader', async (raw) => {
    const messages = await raw.query('SELECT shout(email) FROM customers')
    assert.equal(messages.filter((m) => m.type === 'N').length, 2)
    assert.deepEqual(leaks(Buffer.concat(raw.received)), [])
  })
})

test('detectors run on errors of statements that read no masked column', async () => {
  await withRawClient(shop, 'reader', async (raw) => {
    const errors = errorsOf(await raw.query("SELECT '4111 1111 1111 1111'::int"))
    assert.equal(errors[0]?.code, '22P02')
    assert.deepEqual(leaks(Buffer.concat(raw.received)), [])
  })
})
