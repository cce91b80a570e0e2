// A client that stops reading: psql, stopped with SIGSTOP while a query
// streams gigabytes of rows. The gateway pauses the upstream instead of
// buffering, holds at most the session's cap, closes the session once it has
// been stalled past the timeout (with an audit event and a metric), gives the
// memory back, and serves other sessions throughout.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { postgresFromEnv } from '../../services/env.js'
import { startShop, type Shop } from '../harness.js'
import { until } from '../../helpers/until.js'
import { heldBytes } from '../../helpers/memory.js'

const SESSION_CAP = 256 * 1024
/** What may arrive past the cap before the pause takes effect: one socket read. */
const ONE_READ = 64 * 1024

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres', audit: 'async', config: { limits: { sessionBufferBytes: SESSION_CAP, stallTimeoutMs: 1500 } } })
})
after(() => shop?.stop())


test('a client that stops reading: the upstream is paused, memory stays under the cap, and the session is closed after the timeout', async () => {
  const server = postgresFromEnv()
  const ctx = shop.gateway.context
  const unsent = () => Number(/gatehouse_postgres_unsent_bytes (\d+)/.exec(ctx.metrics.render())?.[1])
  const stalledCount = () => Number(/gatehouse_postgres_limited_total\{reason="stalled"\} (\d+)/.exec(ctx.metrics.render())?.[1] ?? 0)
  const heldBefore = heldBytes()
  const marker = `slow_reader_${Date.now()}`
  const psql = spawn(path.join(server.binDir, 'psql'), [`host=127.0.0.1 port=${shop.port} user=admin dbname=shop sslmode=disable`, '-X', '-A', '-t', '-c', `SELECT repeat('x', 1000) AS ${marker} FROM generate_series(1, 3000000)`], {
    env: { ...process.env, PGPASSWORD: shop.tokens.admin },
    stdio: 'ignore',
  })
  const watcher = new pg.Client({ connectionString: shop.adminUrl })
  await watcher.connect()
  const bystander = await shop.connect('reader')
  try {
    await until('the query runs upstream', async () => (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1", [`%AS ${marker}%`])).rows.length > 0)
    psql.kill('SIGSTOP')
    const sessions = ctx.sessions.count('postgres')
    let most = 0
    let bystanderQueries = 0
    let heldMost = 0
    while (ctx.sessions.count('postgres') === sessions) {
      most = Math.max(most, unsent())
      heldMost = Math.max(heldMost, heldBytes())
      assert.equal((await bystander.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 2, 'other sessions are served')
      bystanderQueries++
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(most > 0, 'the gateway did hold unsent bytes for the stopped client')
    assert.ok(most <= SESSION_CAP + ONE_READ, `unsent bytes stayed under the cap (${most})`)
    assert.ok(heldMost - heldBefore < 150 * 1024 * 1024, `memory stayed bounded (${Math.round((heldMost - heldBefore) / 1048576)} MB)`)
    assert.ok(bystanderQueries > 0)
    assert.equal(unsent(), 0, 'the memory is given back when the session ends')
    assert.equal(stalledCount(), 1)
    await ctx.audit.flush()
    const ends = await ctx.db.query<{ reason: string }>("SELECT data->>'reason' AS reason FROM gatehouse.audit_trail WHERE kind = 'session.end' AND identity = 'admin'")
    assert.ok(ends.some((e) => /client stopped reading \(\d+ bytes unsent after \d+ s\)/.test(e.reason)), 'the closing is audited with its reason')
    await until('the upstream query is gone', async () => (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%AS ${marker}%`])).rows.length === 0)
  } finally {
    psql.kill('SIGCONT')
    psql.kill('SIGKILL')
    await watcher.end()
    await bystander.end()
  }
})
