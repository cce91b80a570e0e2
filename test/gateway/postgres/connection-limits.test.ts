// Connection caps and timeouts on the PostgreSQL front: connections over the
// per-address or total cap are refused with 53300 before they can exhaust
// file descriptors (the admin listener keeps answering); connections that
// never finish their startup are closed (slowloris); idle sessions are closed
// with 57P05. Each is counted in the metrics.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres', config: { limits: { maxConnections: 8, maxConnectionsPerAddress: 5, startupTimeoutMs: 3000, idleTimeoutMs: 600 } } })
})
after(() => shop?.stop())

/** A connection that sends one byte of a startup packet, then nothing (a slowloris). */
function dribble(from: string): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let received = ''
    const socket = connect({ host: '127.0.0.1', port: shop.port, localAddress: from })
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    const closed = new Promise<void>((done) => socket.once('close', () => done()))
    socket.once('error', () => undefined)
    socket.once('connect', () => {
      socket.write(Buffer.from([0]))
      resolve({ socket, received: () => received, closed })
    })
    socket.once('error', reject)
  })
}

const metric = (pattern: RegExp) => Number(pattern.exec(shop.gateway.context.metrics.render())?.[1] ?? 0)

test('caps per address and in total refuse politely; the admin listener still answers; slow starters are closed', async () => {
  const mine = await Promise.all(Array.from({ length: 5 }, () => dribble('127.0.0.1')))
  const others: Awaited<ReturnType<typeof dribble>>[] = []
  try {
    const overAddress = await dribble('127.0.0.1')
    await overAddress.closed
    assert.match(overAddress.received(), /53300[\s\S]*too many connections from 127\.0\.0\.1 \(limit 5\)/)
    others.push(...(await Promise.all(Array.from({ length: 3 }, () => dribble('127.0.0.2')))))
    const overTotal = await dribble('127.0.0.3')
    await overTotal.closed
    assert.match(overTotal.received(), /53300[\s\S]*limit of 8 connections/)
    assert.equal(metric(/gatehouse_connections_refused_total\{[^}]*cap="address"[^}]*\} (\d+)/), 1)
    assert.equal(metric(/gatehouse_connections_refused_total\{[^}]*cap="total"[^}]*\} (\d+)/), 1)
    const health = await fetch(`http://127.0.0.1:${shop.gateway.addresses.admin!.port}/healthz`)
    assert.equal(health.status, 200, 'the admin listener answers at the cap')
    // None of them finishes its startup: each is closed at the startup timeout, and the room comes back.
    await Promise.all([...mine, ...others].map((c) => c.closed))
    assert.ok(metric(/gatehouse_postgres_limited_total\{reason="startup-timeout"\} (\d+)/) >= 8)
    const client = await shop.connect('reader')
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1)
    await client.end()
  } finally {
    for (const c of [...mine, ...others]) c.socket.destroy()
  }
})

test('an idle session is closed with 57P05 and counted', async () => {
  const client = await shop.connect('reader')
  const error = new Promise<pg.DatabaseError>((resolve) => client.on('error', (err) => resolve(err as pg.DatabaseError)))
  await client.query('SELECT 1')
  const err = await error
  assert.equal(err.code, '57P05')
  assert.match(err.message, /idle-session timeout/)
  assert.ok(metric(/gatehouse_postgres_limited_total\{reason="idle"\} (\d+)/) >= 1)
  await client.end().catch(() => undefined)
})
