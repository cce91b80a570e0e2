// Every connection refused at startup is on record (a session.end naming the
// refusal, and a log line), and no refused session, authentication failures
// included, is listed as open.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { listSessions, queryEvents } from '../../../store/audit-read.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())

async function refusedWith(config: Partial<pg.ClientConfig> & { user: string }): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: shop.port, password: shop.tokens[config.user] ?? 'wrong', database: 'shop', ...config })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    return (err as pg.DatabaseError).code ?? ''
  } finally {
    await client.end().catch(() => undefined)
  }
  assert.fail(`the connection was accepted: ${JSON.stringify(config)}`)
}

test('refusals at startup and failed authentications end their sessions on record', async () => {
  const cases: Array<[Partial<pg.ClientConfig> & { user: string }, string, RegExp]> = [
    [{ user: 'reader', options: '-c work_mem=64kB' }, '42501', /startup options are not allowed/],
    [{ user: 'reader', ...({ replication: 'database' } as object) }, '42501', /replication connections are not allowed/],
    [{ user: 'reader', password: 'wrong' }, '28P01', /password authentication failed/],
    [{ user: 'outsider' }, '42501', /outsider/],
  ]
  for (const [config, code] of cases) assert.equal(await refusedWith(config), code, JSON.stringify(config))
  // node-postgres always asks for UTF8: psql asks for what PGCLIENTENCODING says.
  process.env.PGCLIENTENCODING = 'LATIN1'
  try {
    const psql = await shop.psql('reader', 'SELECT 1')
    assert.match(psql.stderr, /gatehouse speaks UTF8 only/)
  } finally {
    delete process.env.PGCLIENTENCODING
  }
  cases.push([{ user: 'reader' }, '22023', /UTF8 only/])
  await shop.gateway.context.audit.flush()
  const ends = (await queryEvents(shop.gateway.context.db, { kinds: ['session.end'], limit: 1000 })).filter((e) => String(e.data.reason).startsWith('refused: '))
  for (const [config, code, reason] of cases) {
    assert.ok(
      ends.some((e) => e.data.code === code && reason.test(String(e.data.reason)) && e.identity === config.user),
      `no record of ${JSON.stringify(config)}: ${JSON.stringify(ends.map((e) => e.data))}`,
    )
  }
  const open = (await listSessions(shop.gateway.context.db, { limit: 1000 })).filter((s) => s.ended === null)
  assert.deepEqual(open, [], 'no refused session is listed as open')
})
