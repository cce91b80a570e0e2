// Statements longer than the classifier accepts are refused from the
// message's length field, before the gateway reads them (psql sends 64 MiB);
// statements the gateway accepts but that are longer than the audit keeps
// whole are stored as a prefix with the length and digest of the whole.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { postgresFromEnv } from '../../services/env.js'
import { startShop, type Shop } from '../harness.js'
import { heldBytes } from '../../helpers/memory.js'

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres', config: { limits: { auditStatementBytes: 1024 } } })
})
after(() => shop?.stop())

function psqlFile(file: string): Promise<{ status: number | null; stderr: string }> {
  const server = postgresFromEnv()
  return new Promise((resolve) => {
    const child = spawn(path.join(server.binDir, 'psql'), [`host=127.0.0.1 port=${shop.port} user=admin dbname=shop sslmode=disable`, '-X', '-A', '-t', '-f', file], { env: { ...process.env, PGPASSWORD: shop.tokens.admin }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stderr }))
  })
}

test('a 64 MiB query is refused from its length, without being read, and other sessions carry on', async () => {
  const bystander = await shop.connect('reader')
  try {
    const file = path.join(shop.dir, 'huge.sql')
    writeFileSync(file, `SELECT '${'x'.repeat(64 * 1024 * 1024)}';\n`)
    const heldBefore = heldBytes()
    const { status, stderr } = await psqlFile(file)
    // psql is still sending when the gateway closes: it may see the connection lost rather than the error.
    assert.notEqual(status, 0, stderr)
    assert.ok(heldBytes() - heldBefore < 32 * 1024 * 1024, 'the statement was not buffered')
    assert.equal((await bystander.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 2)
  } finally {
    await bystander.end()
  }
})

test('a client sending a statement over the limit is told why', async () => {
  const client = await shop.connect('admin')
  client.on('error', () => undefined)
  await assert.rejects(client.query(`SELECT '${'x'.repeat(2 * 1024 * 1024)}'`), (err: pg.DatabaseError) => {
    assert.equal(err.code, '08P01')
    assert.match(err.message, /exceeds the limit of \d+ bytes for a statement of at most 1048576 bytes \(limits\.maxStatementBytes\)/)
    return true
  })
  await client.end().catch(() => undefined)
})

test('a statement longer than the audit keeps whole: a bounded prefix, its length and its digest', async () => {
  const sizes = [1000, 1024, 1025, 5000, 300_000]
  const client = await shop.connect('admin')
  try {
    for (const size of sizes) {
      // Multi-byte characters, so the cut can fall inside one.
      const literal = 'é'.repeat(Math.floor(size / 2))
      const text = `SELECT '${literal}' AS l${size}`
      await client.query(text)
      await shop.gateway.context.audit.flush()
      const [event] = await shop.gateway.context.db.query<{ statement: string; bytes: string | null; sha: string | null }>(
        "SELECT data->>'statement' AS statement, data->>'statementBytes' AS bytes, data->>'statementSha256' AS sha FROM gatehouse.audit_trail WHERE kind = 'statement' AND data->>'statement' LIKE $1 ORDER BY time DESC LIMIT 1",
        [`SELECT '${literal.slice(0, 100)}%`],
      )
      assert.ok(event, `the statement of ${size} characters is audited`)
      const whole = Buffer.from(text, 'utf8')
      if (whole.length <= 1024) {
        assert.equal(event.statement, text)
        assert.equal(event.sha, null)
      } else {
        assert.ok(Buffer.byteLength(event.statement) <= 1024, 'the prefix is bounded')
        assert.ok(text.startsWith(event.statement), 'and is the start of the statement')
        assert.equal(Number(event.bytes), whole.length)
        assert.equal(event.sha, createHash('sha256').update(whole).digest('hex'))
      }
    }
  } finally {
    await client.end()
  }
})
