// Refusals as the server would make them: decided before the statement
// reaches the server, an ERROR on a connection that stays usable, naming what
// was denied and why; the session shows the identity's side (ParameterStatus);
// a CSV header keeps its column names.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { buildBind, buildExecute, buildParse } from '../../../gateway/postgres/protocol/serialize.js'
import { editYaml, startShop, type Shop } from '../harness.js'
import { recompiled } from '../recompiled.js'
import { postgresFromEnv } from '../../services/env.js'
import { dataRows, errorsOf, withRawClient } from './raw-client.js'

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())


describe('binary COPY of masked data', () => {
  test('is refused before it runs, as an ERROR on a connection that stays usable', async () => {
    await withRawClient(shop, 'reader', async (raw) => {
      for (const sql of ['COPY customers TO STDOUT (FORMAT binary)', 'COPY (SELECT email FROM customers) TO STDOUT BINARY', 'SELECT 1; COPY customers TO STDOUT WITH (FORMAT binary)']) {
        const messages = await raw.query(sql)
        const [error] = errorsOf(messages)
        assert.equal(error?.code, '42501', sql)
        assert.equal(error?.severityName, 'ERROR')
        assert.match(error?.message ?? '', /binary COPY of data with masks is not allowed/)
        assert.equal(messages.some((m) => m.type === 'H'), false, 'no COPY started')
      }
      const parsed = errorsOf(await raw.exchange([buildParse('', 'COPY customers TO STDOUT (FORMAT binary)'), buildBind({}), buildExecute()]))
      assert.equal(parsed[0]?.code, '42501')
      assert.equal(dataRows(await raw.query('SELECT 1')), 1)
      assert.equal(raw.closed, false)
    })
  })

  test('without masks it runs', async () => {
    await withRawClient(shop, 'admin', async (raw) => {
      const messages = await raw.query('COPY orders TO STDOUT (FORMAT binary)')
      assert.deepEqual(errorsOf(messages), [])
      assert.ok(messages.some((m) => m.type === 'H'))
    })
  })
})

test('a CSV header keeps its column names; the values under it are masked', async () => {
  const result = await shop.psql('reader', 'COPY (SELECT id, email, phone FROM customers ORDER BY id) TO STDOUT (FORMAT csv, HEADER)')
  assert.equal(result.status, 0, result.stderr)
  const [header, ...lines] = result.stdout.trim().split('\n')
  assert.equal(header, 'id,email,phone')
  assert.equal(lines.length, 2)
  assert.doesNotMatch(lines.join('\n'), /ada@example\.com|7946 0001/)
})

describe('denial messages name what was denied and why', () => {
  for (const sql of ['DELETE FROM orders', 'SELECT 1; DELETE FROM orders', 'BEGIN; DELETE FROM orders; COMMIT', 'SELECT count(*) FROM orders; DELETE FROM orders; SELECT 2']) {
    test(sql, async () => {
      const result = await shop.psql('reader', sql)
      assert.equal(result.status, 1)
      assert.match(result.stderr, /ERROR: {2}permission denied by gatehouse: no rule allows delete on `public\.orders`/)
    })
  }
  test('a rule that denies is named', async () => {
    await recompiled(shop, (repo) =>
      editYaml(path.join(repo, 'policies', 'read.yaml'), (doc) => (doc.get('rules') as { add(v: unknown): void }).add(doc.createNode({ name: 'no-secrets', effect: 'deny', actions: ['select'], tables: ['public.secrets'] }))),
    )
    const result = await shop.psql('reader', 'SELECT 1; SELECT * FROM secrets')
    assert.match(result.stderr, /permission denied by gatehouse rule read\/no-secrets: rule `read\/no-secrets` denies `select`/)
  })
})

test('ParameterStatus shows the identity, not the upstream account', async () => {
  await withRawClient(shop, 'reader', async (raw) => {
    assert.equal(raw.parameters.get('session_authorization'), 'reader')
    assert.equal(raw.parameters.get('is_superuser'), 'off')
  })
})

test('a superuser upstream account is reported: a warning and /status', async () => {
  const server = postgresFromEnv()
  process.env.GATEHOUSE_TEST_SUPERUSER_PASSWORD = server.superuser.password
  const admin = `http://127.0.0.1:${shop.gateway.addresses.admin!.port}`
  assert.deepEqual(((await (await fetch(`${admin}/status`)).json()) as { upstream: { superuser: string[] } }).upstream.superuser, [])
  await recompiled(shop, (repo) =>
    editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => {
      doc.setIn(['postgres', 'user'], server.superuser.user)
      doc.setIn(['postgres', 'password'], doc.createNode({ env: 'GATEHOUSE_TEST_SUPERUSER_PASSWORD' }))
    }),
  )
  await withRawClient(shop, 'reader', async (raw) => {
    assert.equal(raw.parameters.get('is_superuser'), 'off', 'the client is not told')
    assert.equal(raw.parameters.get('session_authorization'), 'reader')
  })
  const status = (await (await fetch(`${admin}/status`)).json()) as { upstream: { superuser: string[] } }
  assert.deepEqual(status.upstream.superuser, ['shop'])
})

