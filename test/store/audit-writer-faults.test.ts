// The audit writer against a store that fails at the worst moments, through a
// TCP proxy: the store commits a batch and the acknowledgement is lost (with
// more events queued meanwhile, so the retry is a different batch), the store
// goes away and the process stops before it is back. Every accepted event
// ends up in the store exactly once and the chain verifies. A seeded run of
// random fault schedules explores the rest (GATEHOUSE_FAULT_SEED and
// GATEHOUSE_FAULT_COUNT for longer runs by hand).
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { AuditUnavailableError, AuditWriter } from '../../store/audit-log.js'
import { queryEvents, verifyAudit } from '../../store/audit-read.js'
import { AuditSpool } from '../../store/audit-spool.js'
import { openDatabase, type Database } from '../../store/database.js'
import { startStoreProxy, type StoreProxy } from '../helpers/store-proxy.js'
import { postgresFromEnv } from '../services/env.js'
import { BACKENDS } from './backends.js'
import { until } from '../helpers/until.js'
import { createRng } from '../gateway/postgres/protocol/helpers.js'

let proxy: StoreProxy
before(async () => {
  const server = postgresFromEnv()
  proxy = await startStoreProxy({ host: server.host, port: server.port })
})
after(() => proxy?.close())

const backend = BACKENDS.find((b) => b.name === 'postgres')!


/** The `n` of every stored event of the chain, in chain order. */
async function storedNumbers(db: Database, chain: string): Promise<number[]> {
  const rows = await db.query<{ n: number }>("SELECT (data->>'n')::int AS n FROM gatehouse.audit_trail WHERE chain = $1 ORDER BY seq", [chain])
  return rows.map((r) => r.n)
}

test('a lost acknowledgement after the commit: the writer recognises the stored batch and carries on', async () => {
  const { db: direct, location, cleanup } = await backend.open()
  const db = await openDatabase(proxy.url(location))
  try {
    const writer = await AuditWriter.open(db, { chain: 'lost-ack', flushIntervalMs: 5 })
    await writer.append({ kind: 'statement', data: { n: 0 } }, 'sync').durable
    const later: Promise<void>[] = []
    const dropped = proxy.dropReplyTo('append_audit', async () => {
      // Queued while the first batch is committed but not yet acknowledged: the retry carries more than was stored.
      for (let n = 2; n <= 4; n++) later.push(writer.append({ kind: 'statement', data: { n } }, 'async').durable)
    })
    const first = writer.append({ kind: 'statement', data: { n: 1 } }, 'sync').durable
    await dropped
    await assert.rejects(first, AuditUnavailableError, 'the caller is told its event may not be stored')
    await until('the writer is healthy again', () => writer.healthy)
    await Promise.all(later)
    await writer.append({ kind: 'statement', data: { n: 5 } }, 'sync').durable
    await writer.close()
    assert.deepEqual(await storedNumbers(direct, 'lost-ack'), [0, 1, 2, 3, 4, 5], 'each event once, in order')
    assert.deepEqual((await verifyAudit(direct)).problems, [])
  } finally {
    await db.close()
    await cleanup()
  }
})

test('an event queued behind a batch that meets an outage: its caller is told during the outage, not when the store is back', async () => {
  const { db: direct, location, cleanup } = await backend.open()
  const db = await openDatabase(proxy.url(location))
  try {
    const writer = await AuditWriter.open(db, { chain: 'queued-behind', flushIntervalMs: 5 })
    await writer.append({ kind: 'statement', data: { n: 0 } }, 'sync').durable
    let behind: Promise<void> | undefined
    // Appended while the batch is in flight (the writer is still healthy), so it is not part of it; then the store goes away.
    const dropped = proxy.dropReplyTo('append_audit', async () => {
      behind = writer.append({ kind: 'statement', data: { n: 2 } }, 'sync').durable
      proxy.cut()
    })
    const first = writer.append({ kind: 'statement', data: { n: 1 } }, 'sync').durable
    try {
      await dropped
      await assert.rejects(first, AuditUnavailableError)
      let told: unknown
      behind!.catch((err: unknown) => (told = err))
      await until('the caller queued behind the failed batch is told', () => told !== undefined)
      assert.ok(told instanceof AuditUnavailableError, 'the caller is told the store is unavailable')
    } finally {
      proxy.restore()
    }
    await writer.close()
    assert.deepEqual(await storedNumbers(direct, 'queued-behind'), [0, 1, 2], 'the events are still written once the store is back')
    assert.deepEqual((await verifyAudit(direct)).problems, [])
  } finally {
    await db.close()
    await cleanup()
  }
})

test('stopped during an outage: the queue is spooled to disk and written by the next start', async () => {
  const { db: direct, location, cleanup } = await backend.open()
  const spoolDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-spool-'))
  const db = await openDatabase(proxy.url(location))
  try {
    const writer = await AuditWriter.open(db, { chain: 'spooled', flushIntervalMs: 5, spool: AuditSpool.forChain(spoolDir, 'spooled') })
    await writer.append({ kind: 'statement', data: { n: 0 } }, 'sync').durable
    // The store commits the next batch, the answer is lost, and the store stays away.
    const dropped = proxy.dropReplyTo('append_audit', async () => proxy.cut())
    const pending = writer.append({ kind: 'statement', data: { n: 1 } }, 'async').durable
    writer.append({ kind: 'statement', data: { n: 2 } }, 'async')
    await dropped
    await assert.rejects(pending)
    assert.throws(() => writer.append({ kind: 'statement', data: { n: 99 } }, 'async'), AuditUnavailableError, 'statements are refused')
    writer.appendEvenIfUnavailable({ kind: 'bundle.loaded', data: { n: 3 } })
    await assert.rejects(writer.close(), /spooled/)
    assert.equal(readdirSync(spoolDir).filter((f) => f.endsWith('.spool.json')).length, 1)
    proxy.restore()
    // The next start.
    for (const { spool, queue } of await AuditSpool.list(spoolDir)) {
      assert.equal(await AuditWriter.resume(direct, queue), 3)
      await spool.remove()
    }
    assert.deepEqual(readdirSync(spoolDir), [])
    assert.deepEqual(await storedNumbers(direct, 'spooled'), [0, 1, 2, 3], 'the committed batch is recognised, the rest written')
    assert.deepEqual((await verifyAudit(direct)).problems, [])
  } finally {
    proxy.restore()
    await db.close()
    await cleanup()
    rmSync(spoolDir, { recursive: true, force: true })
  }
})


test('random schedules of lost acknowledgements, outages and restarts lose nothing and store nothing twice', async () => {
  const seed = Number(process.env.GATEHOUSE_FAULT_SEED ?? 1812)
  const count = Number(process.env.GATEHOUSE_FAULT_COUNT ?? 6)
  const next = createRng(seed)
  const { db: direct, location, cleanup } = await backend.open()
  const spoolDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-spool-'))
  const db = await openDatabase(proxy.url(location))
  const accepted = new Set<number>()
  const chain = 'random'
  let n = 0
  const appendSome = (writer: AuditWriter, how: number) => {
    for (let i = 0; i < how; i++) {
      try {
        const event = { kind: 'statement', data: { n: n } }
        if (next() < 0.2) writer.appendEvenIfUnavailable(event)
        else writer.append(event, next() < 0.5 ? 'sync' : 'async')
        accepted.add(n)
      } catch (err) {
        assert.ok(err instanceof AuditUnavailableError)
      }
      n++
    }
  }
  try {
    let writer = await AuditWriter.open(db, { chain, flushIntervalMs: 3, batchSize: 4, spool: AuditSpool.forChain(spoolDir, chain) })
    for (let round = 0; round < count; round++) {
      const fault = next()
      const restart = next() < 0.5
      appendSome(writer, 1 + Math.floor(next() * 6))
      if (fault < 0.6) {
        const dropped = proxy.dropReplyTo('append_audit', async () => {
          appendSome(writer, Math.floor(next() * 6))
          if (restart) proxy.cut()
        })
        appendSome(writer, 1)
        await dropped
      } else {
        proxy.cut()
        appendSome(writer, 1 + Math.floor(next() * 3))
      }
      if (restart) {
        await writer.close().catch(() => undefined)
        proxy.restore()
        for (const { spool, queue } of await AuditSpool.list(spoolDir)) {
          await AuditWriter.resume(db, queue)
          await spool.remove()
        }
        writer = await AuditWriter.open(db, { chain, flushIntervalMs: 3, batchSize: 4, spool: AuditSpool.forChain(spoolDir, chain) })
      } else {
        proxy.restore()
        const current = writer
        await until('the writer is healthy again', async () => current.healthy && (await current.flush().then(() => true, () => false)))
      }
    }
    await writer.close()
    const stored = await storedNumbers(direct, chain)
    assert.equal(new Set(stored).size, stored.length, `nothing stored twice (seed ${seed})`)
    assert.deepEqual([...stored].sort((a, b) => a - b), [...accepted].sort((a, b) => a - b), `every accepted event stored (seed ${seed})`)
    assert.deepEqual((await verifyAudit(direct)).problems, [])
    assert.equal((await queryEvents(direct, { limit: 10_000 })).length, accepted.size)
  } finally {
    proxy.restore()
    await db.close()
    await cleanup()
    rmSync(spoolDir, { recursive: true, force: true })
  }
})
