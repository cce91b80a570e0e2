// The small pieces under the gateway's limits, explored with seeded random
// runs (GATEHOUSE_LIMITS_SEED / GATEHOUSE_LIMITS_COUNT for longer runs):
// connection caps never exceeded and always given back; audited statement
// text bounded, a true prefix, and identified by the digest of the whole;
// the config's `limits:` refusing what is not a known non-negative integer.
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { auditedStatement } from '../../gateway/audited-statement.js'
import { ConnectionLimiter } from '../../gateway/connection-limits.js'
import { ConfigError } from '../../gateway/config.js'
import { parseLimits } from '../../gateway/limits.js'
import { createRng } from './postgres/protocol/helpers.js'

const SEED = Number(process.env.GATEHOUSE_LIMITS_SEED ?? 4242)
const COUNT = Number(process.env.GATEHOUSE_LIMITS_COUNT ?? 300)


/** What the limiter uses of a socket: its address and its close event. */
function fakeSocket(address: string): Socket & EventEmitter {
  return Object.assign(new EventEmitter(), { remoteAddress: address }) as unknown as Socket & EventEmitter
}

test('connection caps: never more than the caps admitted, and every close gives its room back', () => {
  const next = createRng(SEED)
  for (let round = 0; round < 20; round++) {
    const caps = { maxConnections: 1 + Math.floor(next() * 20), maxConnectionsPerAddress: 1 + Math.floor(next() * 8) }
    const limiter = new ConnectionLimiter(caps)
    const open: Array<{ socket: Socket & EventEmitter; address: string }> = []
    for (let step = 0; step < COUNT; step++) {
      if (next() < 0.6 || open.length === 0) {
        const address = `10.0.0.${Math.floor(next() * 4)}`
        const socket = fakeSocket(address)
        const fromAddress = open.filter((o) => o.address === address).length
        const refusal = limiter.admit(socket, 'postgres')
        const expected = open.length >= caps.maxConnections || fromAddress >= caps.maxConnectionsPerAddress
        assert.equal(refusal !== undefined, expected, `seed ${SEED} round ${round} step ${step}`)
        if (!refusal) open.push({ socket, address })
      } else {
        const [closed] = open.splice(Math.floor(next() * open.length), 1)
        closed!.socket.emit('close')
      }
      assert.equal(limiter.count, open.length)
    }
    for (const { socket } of open.splice(0)) socket.emit('close')
    assert.equal(limiter.count, 0)
  }
})

test('audited statements: bounded, a true prefix, and the length and digest of the whole', () => {
  const next = createRng(SEED + 1)
  const alphabet = ['a', 'é', '€', '😀', '\u0000', "'", ' ']
  for (let i = 0; i < COUNT; i++) {
    const text = Array.from({ length: Math.floor(next() * 400) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('')
    const cap = 1 + Math.floor(next() * 600)
    const audited = auditedStatement(text, cap)
    const whole = Buffer.from(text, 'utf8')
    if (whole.length <= cap) {
      assert.deepEqual(audited, { statement: text })
      continue
    }
    assert.ok(Buffer.byteLength(audited.statement) <= cap, `seed ${SEED + 1} case ${i}`)
    assert.ok(text.startsWith(audited.statement))
    assert.equal(audited.statementBytes, whole.length)
    assert.equal(audited.statementSha256, createHash('sha256').update(whole).digest('hex'))
  }
})

test('limits in the config: known keys, non-negative integers, caps of at least 1', () => {
  assert.deepEqual(parseLimits(undefined), {})
  assert.deepEqual(parseLimits({ idleTimeoutMs: 0, maxConnections: 10 }), { idleTimeoutMs: 0, maxConnections: 10 })
  for (const bad of [[], 'x', { nope: 1 }, { maxConnections: -1 }, { maxConnections: 1.5 }, { maxConnections: '10' }, { maxConnections: 0 }, { sessionBufferBytes: 0 }]) {
    assert.throws(() => parseLimits(bad), ConfigError, JSON.stringify(bad))
  }
})
