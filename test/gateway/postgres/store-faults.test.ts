// The gateway with its audit store behind a proxy that fails on cue: the
// store commits a batch and its answer is lost while sessions write; the
// store goes away with no traffic (readiness must notice by itself), a bundle
// changes during the outage, and the gateway is stopped before the store is
// back. The gateway survives, recovers by itself, and every statement that
// ran has its event in a trail that verifies.
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { verifyAudit } from '../../../store/audit-read.js'
import { openDatabase, type Database } from '../../../store/database.js'
import { startStoreProxy, type StoreProxy } from '../../helpers/store-proxy.js'
import { postgresFromEnv } from '../../services/env.js'
import { editYaml, startShop, type Shop } from '../harness.js'
import { startTestGateway } from '../start-gateway.js'
import { until } from '../../helpers/until.js'

let proxy: StoreProxy
let shop: Shop
let store: Database
before(async () => {
  const server = postgresFromEnv()
  proxy = await startStoreProxy({ host: server.host, port: server.port })
  shop = await startShop({ store: 'postgres', storeVia: (url) => proxy.url(url), config: { readinessIntervalMs: 100 } })
  store = await openDatabase(server.url(new URL(shop.gateway.context.config.store).pathname.slice(1)))
})
after(async () => {
  await store?.close()
  await shop?.stop()
  await proxy?.close()
})


async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; reasons: string[]; upstreams: Record<string, { ok: boolean }> } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`)
  return { status: res.status, body: (await res.json()) as never }
}

let edits = 0
/** A routine policy change (a new description on the resource) during an outage; resolves with the revision once it is in force. */
async function changeBundleDuringOutage(): Promise<string> {
  proxy.cut()
  await refusedForTheStore()
  const before = shop.gateway.context.state.current!.digest
  await shop.recompile((repo) => editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => doc.set('description', `edited ${++edits}`)))
  await until('the new bundle is in force', () => shop.gateway.context.state.current!.digest !== before)
  return shop.gateway.context.state.current!.revision
}

test('the store commits and its answer is lost under a write load: the gateway recovers by itself and loses nothing', async () => {
  const marker = `lost-ack-${Date.now()}`
  let stop = false
  let afterDrop = 0
  let dropped = false
  // Connected before the fault, so only statements meet it.
  const clients = await Promise.all(Array.from({ length: 3 }, () => shop.connect('writer')))
  const writers = clients.map(async (client, w) => {
    try {
      for (let n = 0; !stop; n++) {
        const ok = await client.query(`INSERT INTO orders (customer_id, status, total) VALUES (1, '${marker}-${w}-${n}', 1)`).then(
          () => true,
          (err: pg.DatabaseError) => (assert.equal(err.code, '53000', err.message), false),
        )
        if (ok && dropped) afterDrop++
        if (!ok) await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      await client.end()
    }
  })
  // A writer failing before the fault fails the test instead of leaving it waiting for the fault.
  await Promise.race([proxy.dropReplyTo('append_audit'), Promise.all(writers)])
  dropped = true
  await until('statements are accepted again after the lost answer', () => afterDrop >= 20)
  stop = true
  await Promise.all(writers)
  assert.equal(shop.gateway.context.audit.healthy, true)
  const admin = new pg.Client({ connectionString: shop.adminUrl })
  await admin.connect()
  const rows = (await admin.query<{ status: string }>('SELECT status FROM orders WHERE status LIKE $1', [`${marker}-%`])).rows.map((r) => r.status)
  await admin.end()
  await shop.gateway.context.audit.flush()
  const events = await store.query<{ statement: string }>("SELECT data->>'statement' AS statement FROM gatehouse.audit_trail WHERE kind = 'statement' AND data->>'statement' LIKE $1", [`%${marker}%`])
  const audited = new Set(events.map((e) => /'(lost-ack-[^']+)'/.exec(e.statement)?.[1]))
  assert.deepEqual(rows.filter((r) => !audited.has(r)), [], 'every committed row has its audit event')
  assert.deepEqual((await verifyAudit(store)).problems, [])
})

test('with no traffic, /readyz notices the store going away and coming back, and names it', async () => {
  const port = shop.gateway.addresses.admin!.port
  await until('/readyz is ready', async () => (await readyz(port)).status === 200)
  assert.equal((await readyz(port)).body.upstreams.shop?.ok, true, 'the upstream is probed')
  proxy.cut()
  try {
    await until('/readyz says the store is down', async () => (await readyz(port)).status === 503)
    assert.match((await readyz(port)).body.reasons.join('\n'), /audit store does not answer/)
  } finally {
    proxy.restore()
  }
  await until('/readyz is ready again', async () => (await readyz(port)).status === 200)
})

test('/readyz names an unreachable upstream, and is unready when no upstream is reachable', async () => {
  const port = shop.gateway.addresses.admin!.port
  const gateway = shop.gateway
  const before = gateway.context.state.current!.digest
  // Nothing listens on port 9 of the loopback (discard, not served here).
  await shop.recompile((repo) => editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => doc.setIn(['postgres', 'port'], 9)))
  await until('the bundle naming the dead upstream is in force', () => gateway.context.state.current!.digest !== before)
  await until('/readyz reports the upstream', async () => (await readyz(port)).status === 503)
  const { body } = await readyz(port)
  assert.equal(body.upstreams.shop?.ok, false)
  assert.match(body.reasons.join('\n'), /upstream shop \(127\.0\.0\.1:9\) is unreachable/)
  assert.match(body.reasons.join('\n'), /no upstream is reachable/)
  assert.match(gateway.context.metrics.render(), /gatehouse_upstream_up\{resource="shop"\} 0/)
  const broken = gateway.context.state.current!.digest
  await shop.recompile((repo) => editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => doc.setIn(['postgres', 'port'], postgresFromEnv().port)))
  await until('the upstream is back in the bundle', () => gateway.context.state.current!.digest !== broken)
  await until('/readyz is ready again', async () => (await readyz(port)).status === 200)
})

/** Resolves when a connection attempt is refused because the audit store is unavailable (the writer has noticed). */
async function refusedForTheStore(): Promise<void> {
  await until('sessions are refused', () =>
    shop.connect('writer').then(
      (client) => client.query('SELECT 1').then(() => false, (err: pg.DatabaseError) => err.code === '53000').finally(() => client.end().catch(() => undefined)),
      (err: pg.DatabaseError) => err.code === '53000',
    ),
  )
}

async function accepted(): Promise<void> {
  await until('sessions are accepted again', () =>
    shop.connect('writer').then(
      (client) => client.query('SELECT 1').then(() => true, () => false).finally(() => client.end().catch(() => undefined)),
      () => false,
    ),
  )
}

test('a bundle change during a store outage applies, and its event is written when the store is back', async () => {
  try {
    const revision = await changeBundleDuringOutage()
    proxy.restore()
    await accepted()
    await shop.gateway.context.audit.flush()
    const loaded = await store.query("SELECT 1 FROM gatehouse.audit_trail WHERE kind = 'bundle.loaded' AND data->>'revision' = $1", [revision])
    assert.equal(loaded.length, 1, 'the change is in the trail')
    assert.deepEqual((await verifyAudit(store)).problems, [])
  } finally {
    proxy.restore()
  }
})

test('stopped during a store outage: the queued events are spooled and the next start writes them', async () => {
  const revision = await changeBundleDuringOutage()
  const config = shop.gateway.context.config
  await shop.gateway.stop()
  const spoolDir = path.join(config.dataDir, 'audit-spool')
  assert.equal(readdirSync(spoolDir).filter((f) => f.endsWith('.spool.json')).length, 1, 'the queue is on disk')
  proxy.restore()
  const restarted = await startTestGateway({ ...config, postgresListen: { host: '127.0.0.1', port: 0 } })
  try {
    assert.deepEqual(existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => f.endsWith('.spool.json')) : [], [], 'the spool is written and removed')
    const loaded = await store.query("SELECT 1 FROM gatehouse.audit_trail WHERE kind = 'bundle.loaded' AND data->>'revision' = $1", [revision])
    assert.equal(loaded.length, 1, 'the change made during the outage is in the trail')
    assert.deepEqual((await verifyAudit(store)).problems, [])
  } finally {
    await restarted.stop()
  }
})

