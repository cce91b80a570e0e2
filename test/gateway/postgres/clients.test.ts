// Real clients through the gateway: pgbench (initialisation with COPY, the
// built-in select-only and TPC-B-like scripts, simple, extended and
// prepared protocols), pg_dump of an allowed database, psql over TLS.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { postgresFromEnv } from '../../services/env.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop({ audit: 'async' })
})
after(() => shop?.stop())

function run(program: string, args: string[], identity: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const bin = postgresFromEnv().binDir
  return new Promise((resolve) => {
    const child = spawn(path.join(bin, program), args, { env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(shop.port), PGUSER: identity, PGDATABASE: 'shop', PGPASSWORD: shop.tokens[identity], PGSSLMODE: 'disable' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

test('pgbench initialises through the gateway and runs in every protocol mode', async () => {
  const init = await run('pgbench', ['-i', '-s', '1', '-q'], 'admin')
  assert.equal(init.status, 0, init.stderr)
  for (const mode of ['simple', 'extended', 'prepared']) {
    const bench = await run('pgbench', ['-S', '-M', mode, '-c', '4', '-j', '2', '-t', '200', '-n'], 'admin')
    assert.equal(bench.status, 0, `${mode}: ${bench.stderr}`)
    assert.match(bench.stdout, /number of transactions actually processed: 800\/800/)
  }
  const tpcb = await run('pgbench', ['-c', '2', '-t', '50', '-n'], 'admin')
  assert.equal(tpcb.status, 0, tpcb.stderr)
})

test('pg_dump of an allowed database', async () => {
  const dump = await run('pg_dump', ['--no-owner', '--table=orders', '--table=customers'], 'admin')
  assert.equal(dump.status, 0, dump.stderr)
  assert.match(dump.stdout, /CREATE TABLE public\.orders/)
  assert.match(dump.stdout, /COPY public\.customers/)
})

test('pg_dump as a reader gets masked data, never the real values', async () => {
  const dump = await run('pg_dump', ['--data-only', '--table=customers'], 'reader')
  // The reader may not take locks or set the search path, so pg_dump stops with a permission error, not with data.
  assert.doesNotMatch(dump.stdout, /ada@example\.com|123-45-6789/)
})
