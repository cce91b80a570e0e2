// Faults: hostile protocol input closes only the offending connection, with
// memory bounded; the database dropping a session's connection; the store
// going away and coming back; and the gateway killed under a write load,
// after which every committed row has its audit event and the trail verifies.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { verifyAudit } from '../../../store/audit-read.js'
import { openDatabase } from '../../../store/database.js'
import { buildStartupMessage } from '../../../gateway/postgres/protocol/serialize.js'
import { ROOT } from '../../helpers/repo.js'
import { postgresFromEnv } from '../../services/env.js'
import { startShop, type Shop } from '../harness.js'
import { heldBytes } from '../../helpers/memory.js'

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres' })
})
after(() => shop?.stop())

/** Sends bytes on a fresh connection and resolves with what came back when the gateway closed it. */
function exchange(port: number, chunks: Buffer[], timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    const received: Buffer[] = []
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('the gateway did not close the connection'))), timeoutMs)
    socket.on('data', (d: Buffer) => received.push(d))
    socket.on('error', () => undefined)
    socket.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(received))))
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk)
    })
  })
}

const startup = (user: string) => buildStartupMessage({ user, database: 'shop' })

test('malformed, oversized and random input closes that connection only; memory stays bounded', async () => {
  const bystander = await shop.connect('admin')
  try {
    const heldBefore = heldBytes()
    // A length claiming gigabytes, before and after the startup packet.
    const huge = Buffer.alloc(8)
    huge.writeInt32BE(0x7ffffff0, 0)
    assert.match((await exchange(shop.port, [huge])).toString('latin1'), /08P01|FATAL/)
    // Garbage as a startup packet, a truncated packet then close, random bytes.
    assert.match((await exchange(shop.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])).toString('latin1'), /08P01|FATAL/)
    for (let i = 0; i < 30; i++) await exchange(shop.port, [randomBytes(1 + (i * 37) % 300)]).catch(() => undefined)
    // Many connections each announcing a large message and sending little.
    const sockets: Socket[] = []
    for (let i = 0; i < 100; i++) {
      const s = connect({ host: '127.0.0.1', port: shop.port })
      s.on('error', () => undefined)
      const header = Buffer.alloc(8)
      header.writeInt32BE(9000, 0)
      header.writeInt32BE(196608, 4)
      s.write(header)
      sockets.push(s)
    }
    await new Promise((r) => setTimeout(r, 200))
    for (const s of sockets) s.destroy()
    assert.ok(heldBytes() - heldBefore < 200 * 1024 * 1024, 'memory stays bounded')
    // A valid startup followed by a typed message of an unknown type.
    const out = await exchange(shop.port, [startup('admin'), Buffer.from([0x7a, 0, 0, 0, 4])])
    assert.ok(out.length > 0)
    assert.equal((await bystander.query('SELECT 1 AS ok')).rows[0].ok, 1, 'other sessions carry on')
  } finally {
    await bystander.end()
  }
})

test('the database dropping a session: that client gets an error, the gateway keeps serving', async () => {
  const victim = await shop.connect('admin')
  const errored = new Promise<string>((resolve) => victim.on('error', (err) => resolve(err.message)))
  const superuser = new pg.Client({ connectionString: shop.adminUrl })
  await superuser.connect()
  try {
    await victim.query("SET application_name = 'victim'")
    await superuser.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'")
    await victim.query('SELECT 1').catch(() => undefined)
    assert.match(await errored, /closed|terminat/i)
    const fresh = await shop.connect('admin')
    assert.equal((await fresh.query('SELECT 2 AS ok')).rows[0].ok, 2)
    await fresh.end()
  } finally {
    await superuser.end()
    await victim.end().catch(() => undefined)
  }
})

test('the store going away: statements are refused, then the gateway recovers by itself', async () => {
  const server = postgresFromEnv()
  const superuser = new pg.Client({ connectionString: server.url('postgres') })
  await superuser.connect()
  const storeDb = new URL(shop.gateway.context.config.store).pathname.slice(1)
  const client = await shop.connect('admin')
  try {
    await superuser.query(`ALTER DATABASE ${storeDb} ALLOW_CONNECTIONS false`)
    await superuser.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [storeDb])
    let refused: pg.DatabaseError | undefined
    for (let i = 0; i < 50 && !refused; i++) {
      refused = await client.query("INSERT INTO orders (customer_id, status, total) VALUES (1, 'during outage', 1)").then(() => undefined, (err: pg.DatabaseError) => err)
      if (!refused) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(refused?.code, '53000')
    assert.match(refused!.message, /audit store is unavailable/)
    await superuser.query(`ALTER DATABASE ${storeDb} ALLOW_CONNECTIONS true`)
    let recovered = false
    for (let i = 0; i < 100 && !recovered; i++) {
      recovered = await client.query('SELECT 1').then(() => true, () => false)
      if (!recovered) await new Promise((r) => setTimeout(r, 200))
    }
    assert.ok(recovered, 'statements are accepted again')
  } finally {
    await superuser.query(`ALTER DATABASE ${storeDb} ALLOW_CONNECTIONS true`).catch(() => undefined)
    await superuser.end()
    await client.end().catch(() => undefined)
  }
})

test('killed with SIGKILL under a write load: every committed row has its audit event', async () => {
  const server = postgresFromEnv()
  const free = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
  const storeUrl = shop.gateway.context.config.store
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), 'gateway', '--bundle', shop.bundlePath, '--store', storeUrl, '--data-dir', path.join(shop.dir, 'killed'), '--postgres-listen', `127.0.0.1:${free}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let childErrors = ''
  child.stderr!.on('data', (d: Buffer) => (childErrors += d))
  try {
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) assert.fail(`the gateway exited: ${childErrors}`)
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: free }, () => (s.destroy(), resolve(true)))
        s.on('error', () => resolve(false))
      })
      if (ok) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const marker = `kill-${Date.now()}`
    let stop = false
    const writers = Array.from({ length: 4 }, async (_, w) => {
      const client = new pg.Client({ host: '127.0.0.1', port: free, user: 'writer', password: shop.tokens.writer, database: 'shop' })
      client.on('error', () => undefined)
      await client.connect()
      for (let n = 0; !stop; n++) {
        const ok = await client.query(`INSERT INTO orders (customer_id, status, total) VALUES (1, '${marker}-${w}-${n}', 1)`).then(() => true, () => false)
        if (!ok) break
      }
    })
    await new Promise((r) => setTimeout(r, 1500))
    child.kill('SIGKILL')
    stop = true
    await Promise.allSettled(writers)
    const admin = new pg.Client({ connectionString: shop.adminUrl })
    await admin.connect()
    const rows = (await admin.query<{ status: string }>('SELECT status FROM orders WHERE status LIKE $1', [`${marker}-%`])).rows.map((r) => r.status)
    await admin.end()
    assert.ok(rows.length > 10, `the load committed rows (${rows.length})`)
    const store = await openDatabase(storeUrl)
    try {
      const events = await store.query<{ statement: string }>("SELECT data->>'statement' AS statement FROM gatehouse.audit_trail WHERE kind = 'statement' AND data->>'statement' LIKE $1", [`%${marker}%`])
      const audited = new Set(events.map((e) => /'(kill-[^']+)'/.exec(e.statement)?.[1]))
      const missing = rows.filter((r) => !audited.has(r))
      assert.deepEqual(missing, [], 'every committed row has its audit event')
      assert.deepEqual((await verifyAudit(store)).problems, [])
    } finally {
      await store.close()
    }
    void server
  } finally {
    child.kill('SIGKILL')
  }
})
