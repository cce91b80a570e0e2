// The async loss window under load: a writer with a backlog writes batch
// after batch without waiting a flush interval in between, and when the store
// still falls behind it holds callers back (backpressure) rather than letting
// the window grow. Counted, not timed: the flush interval is a minute, so any
// wait for it would fail the test by its timeout.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AuditWriter } from '../../store/audit-log.js'
import { verifyAudit } from '../../store/audit-read.js'
import { prng } from '../helpers/prng.js'
import { BACKENDS } from './backends.js'

const seed = Number(process.env.SEED ?? 16)

for (const backend of BACKENDS) {
  describe(`audit writer backlog (${backend.name})`, () => {
    test('with a backlog of full batches the writer writes them back to back, and leaves only the partial rest for the interval', async () => {
      const random = prng(seed)
      const int = (n: number) => Math.floor(random() * n)
      const { db, cleanup } = await backend.open()
      try {
        for (let round = 0; round < 3; round++) {
          const batchSize = 2 + int(9)
          const total = batchSize * (1 + int(4)) + int(batchSize)
          const commits: number[] = []
          let fullBatches!: () => void
          const allFull = new Promise<void>((resolve) => (fullBatches = resolve))
          const expectedFull = Math.floor(total / batchSize)
          const writer = await AuditWriter.open(db, {
            chain: `backlog-${round}`,
            batchSize,
            flushIntervalMs: 60_000,
            onCommit: ({ events }) => {
              commits.push(events)
              if (commits.length === expectedFull) fullBatches()
            },
          })
          for (let i = 0; i < total; i++) writer.append({ kind: 'statement', identity: 'ci', data: { i } }, 'async')
          await allFull
          assert.deepEqual(commits, Array(expectedFull).fill(batchSize), `seed ${seed} round ${round}: every full batch written without waiting`)
          assert.equal(writer.queued, total % batchSize, 'the partial rest waits for its interval')
          await writer.close()
          assert.equal(commits.reduce((a, b) => a + b, 0), total)
        }
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('a queue past half its bound holds async appends until their records are written, says so, and lets go once it has caught up', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const changes: Array<{ on: boolean; queued: number }> = []
        const writer = await AuditWriter.open(db, { chain: 'pressure', maxQueue: 20, batchSize: 1000, flushIntervalMs: 60_000, onBackpressure: (on, { queued }) => changes.push({ on, queued }) })
        const early = Array.from({ length: 11 }, (_, i) => writer.append({ kind: 'statement', data: { i } }, 'async'))
        assert.ok(early.every((a) => !a.hold), 'below half the bound nobody waits')
        assert.equal(writer.backpressure, false)
        const held = writer.append({ kind: 'statement', data: { i: 11 } }, 'async')
        assert.equal(held.hold, true, 'past half the bound the caller must wait for its record')
        assert.equal(writer.backpressure, true)
        // A held event is written at once, with everything queued before it, without waiting for the interval.
        await held.durable
        await Promise.all(early.map((a) => a.durable))
        const after = writer.append({ kind: 'statement', data: { i: 12 } }, 'async')
        assert.equal(after.hold, false, 'the backlog is gone: async again')
        // The other trigger, the oldest event's age, depends on the clock, and these tests assert nothing about time.
        assert.deepEqual(changes, [
          { on: true, queued: 11 },
          { on: false, queued: 0 },
        ])
        await writer.close()
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('the hot table has no foreign key, and verify still reports events whose chain has no head', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const keys = await db.query<{ conname: string }>("SELECT conname FROM pg_constraint WHERE conrelid = 'gatehouse.audit_events'::regclass AND contype = 'f'")
        assert.deepEqual(keys, [])
        const writer = await AuditWriter.open(db, { chain: 'headless' })
        await writer.append({ kind: 'statement', data: {} }, 'sync').durable
        await writer.close()
        await db.query("DELETE FROM gatehouse.audit_chains WHERE chain = 'headless'")
        assert.deepEqual((await verifyAudit(db)).problems, [{ chain: 'headless', seq: null, problem: 'events of a chain that has no head' }])
      } finally {
        await cleanup()
      }
    })
  })
}
