// A client pipelining 20,000 queries in one write beside an ordinary
// session: the ordinary session keeps being served while the pipeline is in
// flight (each session handles a bounded number of messages per turn of the
// event loop), every query of the pipeline is answered, and each has its
// audit event. (Async audit: in sync mode a read's rows also wait for every
// event queued before its own, which is the audit writer's queue, not the
// session loop.)
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { after, before, test } from 'node:test'
import { buildQuery } from '../../../gateway/postgres/protocol/serialize.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres', audit: 'async' })
})
after(() => shop?.stop())

const PIPELINE = 20_000

test('a 20,000-query pipeline does not starve another session, and every query is answered and audited', async (t) => {
  // node-postgres authenticates; then its socket is taken over to pipeline raw Query messages.
  const piper = await shop.connect('reader')
  piper.on('error', () => undefined)
  const stream = (piper as unknown as { connection: { stream: NodeJS.ReadWriteStream & { removeAllListeners(e: string): void } } }).connection.stream
  stream.removeAllListeners('data')
  const marker = `pipeline_${Date.now()}`
  let ready = 0
  let tail = Buffer.alloc(0)
  const done = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      let buf = tail.length ? Buffer.concat([tail, chunk]) : chunk
      let at = 0
      while (at + 5 <= buf.length) {
        const end = at + 1 + buf.readInt32BE(at + 1)
        if (end > buf.length) break
        if (buf[at] === 0x5a) ready++
        at = end
      }
      tail = Buffer.from(buf.subarray(at))
      if (ready >= PIPELINE) resolve()
    })
  })
  const bystander = await shop.connect('reader')
  try {
    stream.write(Buffer.concat(Array.from({ length: PIPELINE }, (_, i) => buildQuery(`SELECT ${i} AS ${marker}`))))
    let served = 0
    let slowest = 0
    while (ready < PIPELINE) {
      const started = performance.now()
      assert.equal((await bystander.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 2)
      slowest = Math.max(slowest, performance.now() - started)
      served++
    }
    await done
    t.diagnostic(`bystander: ${served} queries during the pipeline, slowest ${Math.round(slowest)} ms`)
    assert.ok(served >= 3, `the other session was served while the pipeline ran (${served} queries, slowest ${Math.round(slowest)} ms)`)
    await shop.gateway.context.audit.flush()
    const [{ n }] = (await shop.gateway.context.db.query<{ n: number }>("SELECT count(*)::int AS n FROM gatehouse.audit_trail WHERE kind = 'statement' AND data->>'statement' LIKE $1", [`% AS ${marker}`])) as [{ n: number }]
    assert.equal(n, PIPELINE, 'every pipelined query is audited')
  } finally {
    await bystander.end()
    ;(stream as unknown as { destroy(): void }).destroy()
  }
})
