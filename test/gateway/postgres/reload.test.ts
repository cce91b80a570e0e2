// Bundles change under open sessions: the next statement is decided by the
// new bundle, sessions of removed identities are closed, no other connection
// drops; an invalid bundle is refused and reported while the last good one
// stays; the last good bundle survives a restart. (Rollbacks: bundle-state.test.ts.)
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import type { Bundle } from '../../../engine/types.js'
import { startGateway } from '../../../gateway/gateway.js'
import { createLogger } from '../../../runtime/log.js'
import { editYaml, startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop()
})
after(() => shop?.stop())

async function reloaded(change: () => Promise<void>): Promise<void> {
  const before = shop.gateway.context.state.current!.digest
  await change()
  for (let i = 0; i < 200 && shop.gateway.context.state.current!.digest === before; i++) await new Promise((r) => setTimeout(r, 25))
  assert.notEqual(shop.gateway.context.state.current!.digest, before, 'the new bundle was loaded')
}

const admin = () => `http://127.0.0.1:${shop.gateway.addresses.admin!.port}`

test('a revoked grant applies to the next statement of an open session', async () => {
  const client = await shop.connect('writer')
  try {
    await client.query("UPDATE orders SET status = 'a' WHERE id = 1")
    await reloaded(() => shop.recompile((repo) => editYaml(path.join(repo, 'policies', 'write.yaml'), (doc) => doc.setIn(['rules', 0, 'actions'], doc.createNode(['insert'])))))
    await assert.rejects(client.query("UPDATE orders SET status = 'b' WHERE id = 1"), (err: pg.DatabaseError) => err.code === '42501')
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1, 'the session is still open')
  } finally {
    await client.end()
  }
})

test('a prepared statement is judged again when the bundle changes', async () => {
  const client = await shop.connect('reader')
  try {
    await client.query({ name: 'secret', text: 'SELECT value FROM secrets WHERE id = $1', values: [1] })
    await reloaded(() => shop.recompile((repo) => editYaml(path.join(repo, 'policies', 'read.yaml'), (doc) => doc.setIn(['rules', 0, 'tables'], doc.createNode(['public.orders', 'public.customers', 'pg_catalog.*'])))))
    await assert.rejects(client.query({ name: 'secret', text: 'SELECT value FROM secrets WHERE id = $1', values: [1] }), (err: pg.DatabaseError) => err.code === '42501')
  } finally {
    await client.end()
  }
})

test("removing an identity closes its sessions and no one else's", async () => {
  const admin = await shop.connect('admin')
  const outsider = await shop.connect('writer')
  const closed = new Promise<string>((resolve) => outsider.on('error', (err) => resolve(err.message)))
  try {
    await reloaded(() =>
      shop.recompile((repo) => {
        const file = path.join(repo, 'identities', 'all.yaml')
        writeFileSync(file, readFileSync(file, 'utf8').split('---\n').filter((doc) => !doc.includes('name: writer')).join('---\n'))
        editYaml(path.join(repo, 'policies', 'write.yaml'), (doc) => doc.setIn(['subjects'], doc.createNode({ roles: ['admin'] })))
      }),
    )
    assert.match(await closed, /identity `writer` was removed/)
    assert.equal((await admin.query('SELECT 1 AS one')).rows[0].one, 1, 'other sessions carry on')
  } finally {
    await admin.end()
    await outsider.end().catch(() => undefined)
  }
})

test('an invalid bundle is refused; the bundle in force stays and is reported', async () => {
  const current = shop.gateway.context.state.current!
  writeFileSync(shop.bundlePath, '{"not": "a bundle"}')
  for (let i = 0; i < 200 && !shop.gateway.context.state.lastRejection; i++) await new Promise((r) => setTimeout(r, 25))
  assert.equal(shop.gateway.context.state.lastRejection?.code, 'bundle.schema')
  assert.equal(shop.gateway.context.state.current, current)
  const older = JSON.parse(readFileSync(path.join(shop.dir, 'gateway', 'last-good-bundle.json'), 'utf8')) as Bundle
  assert.equal(older.manifest.digest, current.digest, 'the bundle in force is persisted')

  const status = (await (await fetch(`${admin()}/status`)).json()) as { bundle: { revision: string }; lastRejection: { code: string } }
  assert.equal(status.bundle.revision, current.revision)
  assert.ok(status.lastRejection.code)
  const ready = await fetch(`${admin()}/readyz`)
  assert.equal(ready.status, 200)
  const metrics = await (await fetch(`${admin()}/metrics`)).text()
  assert.match(metrics, /gatehouse_bundle_info\{revision="[^"]+"\} 1/)
  const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1])
  assert.ok(sample('gatehouse_audit_commits_total\\{durability="sync"\\}') > 0, 'statements of sync resources waited for commits')
  assert.ok(sample('gatehouse_audit_commit_seconds_total\\{durability="sync"\\}') > 0)
  assert.ok(sample('gatehouse_audit_events_written_total') >= sample('gatehouse_audit_commits_total\\{durability="sync"\\}'))
})

test('a restart with an unreachable source uses the persisted bundle; with none, everything is denied', async () => {
  const dataDir = path.join(shop.dir, 'gateway')
  const restarted = await startGateway(
    { bundle: 'http://127.0.0.1:9/unreachable.json', dataDir: path.join(shop.dir, 'second'), store: path.join(shop.dir, 'second', 'store'), postgresListen: { host: '127.0.0.1', port: 0 }, requireTls: false, auditFlushMs: 20, logLevel: 'error' },
    createLogger({ level: 'error' }),
  )
  try {
    assert.equal(restarted.context.state.current, undefined, 'no bundle yet: nothing is allowed')
    const client = new pg.Client({ host: '127.0.0.1', port: restarted.addresses.postgres!.port, user: 'admin', password: shop.tokens.admin, database: 'shop' })
    // Said as such (57P03), not as a failed login.
    await assert.rejects(client.connect(), (err: pg.DatabaseError) => err.code === '57P03')
  } finally {
    await restarted.stop()
  }
  // The first gateway's data directory has its last good bundle.
  await shop.gateway.stop()
  const again = await startGateway(
    { bundle: 'http://127.0.0.1:9/unreachable.json', dataDir, store: path.join(shop.dir, 'third-store'), postgresListen: { host: '127.0.0.1', port: 0 }, requireTls: false, auditFlushMs: 20, logLevel: 'error' },
    createLogger({ level: 'error' }),
  )
  try {
    assert.equal(again.context.state.current?.origin, 'persisted')
    const client = new pg.Client({ host: '127.0.0.1', port: again.addresses.postgres!.port, user: 'admin', password: shop.tokens.admin, database: 'shop' })
    await client.connect()
    assert.equal((await client.query('SELECT count(*)::int AS n FROM secrets')).rows[0].n, 1)
    await client.end()
  } finally {
    await again.stop()
    rmSync(path.join(shop.dir, 'third-store'), { recursive: true, force: true })
  }
})
