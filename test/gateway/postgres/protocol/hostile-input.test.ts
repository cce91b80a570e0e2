// What a hostile or broken peer can send: lengths that claim gigabytes,
// lengths too small to be true, strings without their NUL, counts beyond the
// message, truncation, and random bytes. The readers must answer with a
// ProtocolError (and nothing else), at the header when the length is wrong,
// holding at most one capped message in memory.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as backend from '../../../../gateway/postgres/protocol/backend.js'
import { decodeCopyRows } from '../../../../gateway/postgres/protocol/copy-text.js'
import { rewriteDataRow, rewriteRowDescription } from '../../../../gateway/postgres/protocol/data-row.js'
import { ProtocolError, type ProtocolErrorCode } from '../../../../gateway/postgres/protocol/errors.js'
import {
  createFrontendReader,
  parsePasswordMessage,
  parseSaslInitialResponse,
  type FrontendReader,
} from '../../../../gateway/postgres/protocol/frontend.js'
import { buildDataRow, buildQuery, buildStartupMessage } from '../../../../gateway/postgres/protocol/serialize.js'
import { createRng, loadFixture, randomBytes, randomChunks, randomInt } from './helpers.js'

const MAX = 64 * 1024

function typedReader(max = MAX): FrontendReader {
  const reader = createFrontendReader({ maxMessageBytes: max })
  assert.equal(reader.push(buildStartupMessage({ user: 'ci' }))[0]?.kind, 'StartupMessage')
  return reader
}

function rejects(f: () => unknown, code: ProtocolErrorCode, pattern?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

/** A typed message from a type byte and a payload, with a correct length. */
function message(type: string, ...payload: (Buffer | string | number[])[]): Buffer {
  const body = Buffer.concat(payload.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.isBuffer(p) ? p : Buffer.from(p))))
  const head = Buffer.alloc(5)
  head[0] = type.charCodeAt(0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const int16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b }
const int32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }

describe('lengths', () => {
  it('refuses a length claiming gigabytes as soon as the header is complete, buffering nothing', () => {
    const reader = typedReader()
    assert.deepEqual(reader.push(Buffer.from([0x51, 0x7f, 0xff])), [])
    rejects(() => reader.push(Buffer.from([0xff, 0xff])), 'protocol.oversized', /length 2147483647 exceeds the limit of 65536/)
    rejects(() => reader.push(Buffer.alloc(1)), 'protocol.oversized') // stays failed
    const server = backend.createBackendReader({ maxMessageBytes: MAX })
    rejects(() => server.push(Buffer.from([0x44, 0x40, 0, 0, 0])), 'protocol.oversized')
  })

  it('refuses a startup packet over PostgreSQL\'s 10,000 bytes at its length field', () => {
    const reader = createFrontendReader({ maxMessageBytes: MAX })
    rejects(() => reader.push(int32(10001)), 'protocol.oversized', /startup packet/)
    assert.equal(createFrontendReader({ maxMessageBytes: MAX }).push(buildStartupMessage({ user: 'x'.repeat(9000) })).length, 1)
  })

  it('refuses negative and too-small lengths', () => {
    for (const len of [-1, -2147483648, 0, 3]) {
      rejects(() => typedReader().push(Buffer.concat([Buffer.from('Q'), int32(len)])), 'protocol.malformed', /below the minimum 4/)
      rejects(() => backend.createBackendReader({ maxMessageBytes: MAX }).push(Buffer.concat([Buffer.from('Z'), int32(len)])), 'protocol.malformed')
    }
    for (const len of [-1, 0, 4, 7]) rejects(() => createFrontendReader({ maxMessageBytes: MAX }).push(int32(len)), 'protocol.malformed', /startup packet/)
  })

  it('refuses fixed-size messages of another size', () => {
    rejects(() => typedReader().push(message('S', [0])), 'protocol.malformed', /Sync/)
    rejects(() => createFrontendReader({ maxMessageBytes: MAX }).push(Buffer.concat([int32(12), int32(80877103), int32(0)])), 'protocol.malformed', /SSLRequest/)
    rejects(() => createFrontendReader({ maxMessageBytes: MAX }).push(Buffer.concat([int32(12), int32(80877102), int32(1)])), 'protocol.malformed', /CancelRequest/)
  })

  it('holds at most one capped message, however it is delivered', () => {
    const big = message('d', Buffer.alloc(MAX - 4, 0x61))
    const reader = typedReader()
    let seen = 0
    for (let i = 0; i < big.length; i += 1000) {
      seen += reader.push(big.subarray(i, i + 1000)).length
      assert.ok(reader.bufferedBytes <= MAX + 1)
    }
    assert.equal(seen, 1)
    assert.equal(reader.bufferedBytes, 0)
    rejects(() => typedReader().push(message('d', Buffer.alloc(MAX - 3))), 'protocol.oversized')
  })

  it('allocates for what has arrived, not for what a header declares', () => {
    // 200 connections each announcing a 16 MiB message and sending 1 byte of
    // it: allocating the declared size up front would hold 3.2 GB.
    const readers: FrontendReader[] = []
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 200; i++) {
      const reader = typedReader(16 << 20)
      reader.push(Buffer.concat([Buffer.from('d'), int32(16 << 20), Buffer.from([1])]))
      readers.push(reader)
    }
    const grown = process.memoryUsage().arrayBuffers - before
    assert.ok(grown < 20 << 20, `array buffers grew by ${grown} bytes`)
    assert.equal(readers.reduce((n, r) => n + r.bufferedBytes, 0), 200 * 6)
  })

  it('keeps one buffer, not one object per packet, for a message sent a byte at a time', () => {
    const big = message('d', Buffer.alloc(20000, 0x62))
    const reader = typedReader()
    const out = []
    for (let i = 0; i < big.length; i++) out.push(...reader.push(big.subarray(i, i + 1)))
    assert.equal(out.length, 1)
    assert.deepStrictEqual(out[0]!.raw, big)
  })
})

describe('truncation', () => {
  it('returns nothing until a message is complete, then exactly it', () => {
    const q = buildQuery('SELECT 1')
    for (let cut = 0; cut < q.length; cut++) {
      const reader = typedReader()
      assert.deepEqual(reader.push(q.subarray(0, cut)), [])
      assert.equal(reader.bufferedBytes, cut)
      const done = reader.push(q.subarray(cut))
      assert.equal(done.length, 1)
      assert.deepStrictEqual(done[0]!.raw, q)
    }
  })
})

describe('contents', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['query without NUL', message('Q', 'SELECT 1'), /Query.*not NUL-terminated/],
    ['bytes after the query string', message('Q', 'SELECT 1', [0, 0x41]), /trailing bytes/],
    ['invalid UTF-8 in a query', message('Q', [0x53, 0xc3, 0x28, 0]), /not valid UTF-8/],
    ['statement name without NUL', message('P', 'stmt'), /statement name is not NUL-terminated/],
    ['Parse claiming 1000 parameter types', message('P', [0, 0x41, 0], int16(1000), int32(23)), /parameter type count 1000/],
    ['Bind claiming 30000 parameters', message('B', [0, 0], int16(0), int16(30000), int32(-1)), /parameter count 30000/],
    ['Bind parameter longer than the message', message('B', [0, 0], int16(0), int16(1), int32(100), 'ab', int16(0)), /parameter 1 needs 100 bytes/],
    ['Bind parameter of length -2', message('B', [0, 0], int16(0), int16(1), int32(-2), int16(0)), /length -2/],
    ['Bind format code 2', message('B', [0, 0], int16(1), int16(2), int16(0), int16(0)), /format 2/],
    ['Bind with 2 formats for 3 parameters', message('B', [0, 0], int16(2), int16(0), int16(0), int16(3), int32(-1), int32(-1), int32(-1), int16(0)), /2 parameter formats for 3/],
    ['Describe of neither statement nor portal', message('D', 'X', [0]), /neither `S` nor `P`/],
    ['Execute without its row limit', message('E', [0], [0, 0]), /row limit needs 4 bytes/],
  ]
  for (const [name, bytes, pattern] of cases) {
    it(`refuses ${name}`, () => rejects(() => typedReader().push(bytes), 'protocol.malformed', pattern))
  }

  it('refuses unknown message types in both directions', () => {
    rejects(() => typedReader().push(message('?', [])), 'protocol.unexpected', /unknown frontend message type `\?`/)
    rejects(() => backend.createBackendReader({ maxMessageBytes: MAX }).push(message('q', [])), 'protocol.unexpected', /unknown backend message type/)
  })

  it('refuses startup packets it cannot read unambiguously', () => {
    const startup = (...parts: (Buffer | string | number[])[]) => {
      const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.isBuffer(p) ? p : Buffer.from(p))))
      return Buffer.concat([int32(body.length + 4), body])
    }
    const fresh = () => createFrontendReader({ maxMessageBytes: MAX })
    rejects(() => fresh().push(startup(int32(2 << 16), 'user\0x\0\0')), 'protocol.unsupported', /protocol 2\.0/)
    rejects(() => fresh().push(startup(int32((1234 << 16) | 9999))), 'protocol.unsupported')
    rejects(() => fresh().push(startup(int32(3 << 16), 'user\0x\0')), 'protocol.malformed', /not NUL-terminated/)
    rejects(() => fresh().push(startup(int32(3 << 16), 'user\0x\0\0extra')), 'protocol.malformed', /trailing/)
    rejects(() => fresh().push(startup(int32(3 << 16), 'user\0a\0user\0b\0\0')), 'protocol.malformed', /`user` appears twice/)
  })

  it('refuses malformed authentication payloads', () => {
    rejects(() => parseSaslInitialResponse(Buffer.from('SCRAM-SHA-256')), 'protocol.malformed')
    rejects(() => parseSaslInitialResponse(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(50), Buffer.from('n,,')])), 'protocol.malformed', /data needs 50 bytes/)
    rejects(() => parsePasswordMessage(Buffer.from('secret')), 'protocol.malformed')
  })

  it('refuses backend messages whose counts or strings do not fit', () => {
    rejects(() => backend.decodeDataRow(message('D', int16(3), int32(1), 'a')), 'protocol.malformed', /column count 3/)
    rejects(() => backend.decodeDataRow(message('D', int16(1), int32(10), 'a')), 'protocol.malformed', /value 1 needs 10 bytes/)
    rejects(() => backend.decodeRowDescription(message('T', int16(1), 'name')), 'protocol.malformed')
    rejects(() => backend.decodeErrorOrNotice(message('E', 'SERROR')), 'protocol.malformed', /not NUL-terminated/)
    rejects(() => backend.decodeReadyForQuery(message('Z', 'X')), 'protocol.malformed')
    rejects(() => backend.decodeBackendKeyData(message('K', int32(1), [1, 2])), 'protocol.malformed', /secret key of 2 bytes/)
    rejects(() => backend.decodeAuthentication(message('R', int32(99))), 'protocol.unsupported')
    rejects(() => backend.decodeCopyResponse(message('H', [0], int16(2), int16(0))), 'protocol.malformed')
    rejects(() => rewriteDataRow(message('D', int16(2), int32(-1)), () => undefined), 'protocol.malformed')
  })
})

describe('fuzz (seeded)', () => {
  const FRONTEND_TYPES = 'QPBDECSHXdcfFp'
  const BACKEND_TYPES = 'RKS23CdcGHWDIEVvnNAt1sZT'

  /** The decoders that apply to a backend message's type; only ProtocolError may escape. */
  const DECODERS: Record<string, ((raw: Buffer) => unknown)[]> = {
    R: [backend.decodeAuthentication], S: [backend.decodeParameterStatus], K: [backend.decodeBackendKeyData],
    Z: [backend.decodeReadyForQuery], T: [backend.decodeRowDescription, (raw) => rewriteRowDescription(raw, () => ({ typeOid: 25 }))],
    D: [backend.decodeDataRow, (raw) => rewriteDataRow(raw, (i, v) => (i % 2 === 0 ? Buffer.from('***') : v === null ? Buffer.alloc(0) : null))],
    C: [backend.decodeCommandComplete], E: [backend.decodeErrorOrNotice], N: [backend.decodeErrorOrNotice],
    G: [backend.decodeCopyResponse], H: [backend.decodeCopyResponse], W: [backend.decodeCopyResponse],
    A: [backend.decodeNotification], t: [backend.decodeParameterDescription], v: [backend.decodeNegotiateProtocolVersion],
    d: [backend.decodeCopyData, (raw) => decodeCopyRows(raw.subarray(5), { format: 'text' }), (raw) => decodeCopyRows(raw.subarray(5), { format: 'csv' })],
  }

  function decodeAll(m: backend.BackendMessage): void {
    for (const decode of [...(DECODERS[m.type] ?? []), backend.decodeDataRow]) {
      try {
        decode(m.raw)
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error
      }
    }
  }

  function feed<T>(push: (chunk: Buffer) => T[], bytes: Buffer, rng: () => number, bound: () => number, each: (m: T) => void): void {
    try {
      for (const chunk of randomChunks(bytes, rng, 300)) {
        const out = push(chunk)
        for (const m of out) each(m)
        assert.ok(bound() <= MAX + 5, 'bounded memory')
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error
    }
  }

  /** Random bytes, with a plausible header now and then so parsing gets past framing. */
  function noise(rng: () => number, types: string): Buffer {
    const parts: Buffer[] = []
    const count = 1 + randomInt(rng, 8)
    for (let i = 0; i < count; i++) {
      if (rng() < 0.7) {
        const body = randomBytes(rng, randomInt(rng, 40))
        // Sprinkle NULs and small counts, which is where parsers go wrong.
        for (let j = 0; j < body.length; j++) if (rng() < 0.2) body[j] = rng() < 0.5 ? 0 : randomInt(rng, 4)
        parts.push(message(types[randomInt(rng, types.length)]!, body))
      } else {
        parts.push(randomBytes(rng, randomInt(rng, 30)))
      }
    }
    return Buffer.concat(parts)
  }

  it('frontend: random and mutated input gives messages or a ProtocolError, never anything else', () => {
    const rng = createRng(7)
    const { frontend } = loadFixture('node-postgres-extended')
    for (let round = 0; round < 3000; round++) {
      const startupPhase = round % 5 === 0
      const reader = startupPhase ? createFrontendReader({ maxMessageBytes: MAX }) : typedReader()
      let bytes: Buffer
      if (round % 3 === 0) {
        bytes = Buffer.from(frontend)
        for (let k = 0; k < 1 + randomInt(rng, 4); k++) bytes[randomInt(rng, bytes.length)] = randomInt(rng, 256)
        if (!startupPhase) bytes = bytes.subarray(bytes.readInt32BE(0))
      } else {
        bytes = startupPhase ? Buffer.concat([int32(8 + randomInt(rng, 40)), randomBytes(rng, 60)]) : noise(rng, FRONTEND_TYPES)
      }
      feed((c) => reader.push(c), bytes, rng, () => reader.bufferedBytes, (m) => {
        if (m.kind !== 'AuthenticationResponse') return
        for (const f of [parseSaslInitialResponse, parsePasswordMessage]) {
          try { f(m.payload) } catch (error) { if (!(error instanceof ProtocolError)) throw error }
        }
      })
    }
  })

  it('backend: random and mutated input gives messages or a ProtocolError, and every decoder holds', () => {
    const rng = createRng(11)
    const streams = [loadFixture('node-postgres-extended').backend, backend.readEncryptionResponse(loadFixture('psql-session').backend).rest]
    let decoded = 0
    for (let round = 0; round < 3000; round++) {
      const reader = backend.createBackendReader({ maxMessageBytes: MAX })
      let bytes: Buffer
      if (round % 2 === 0) {
        bytes = Buffer.from(streams[round % 4 === 0 ? 0 : 1]!)
        for (let k = 0; k < 1 + randomInt(rng, 4); k++) bytes[randomInt(rng, bytes.length)] = randomInt(rng, 256)
      } else {
        bytes = noise(rng, BACKEND_TYPES)
      }
      feed((c) => reader.push(c), bytes, rng, () => reader.bufferedBytes, (m) => {
        decoded++
        decodeAll(m)
      })
    }
    assert.ok(decoded > 10000, `decoders ran on ${decoded} messages`)
  })

  it('data-row rewrite keeps lengths consistent on random rows', () => {
    const rng = createRng(3)
    for (let round = 0; round < 2000; round++) {
      const values = Array.from({ length: randomInt(rng, 12) }, () => (rng() < 0.2 ? null : randomBytes(rng, randomInt(rng, 20))))
      const raw = buildDataRow(values)
      const replacements = values.map(() => (rng() < 0.5 ? undefined : rng() < 0.3 ? null : randomBytes(rng, randomInt(rng, 30))))
      const out = rewriteDataRow(raw, (i) => replacements[i])
      assert.deepStrictEqual(backend.decodeDataRow(out), values.map((v, i) => (replacements[i] === undefined ? v : replacements[i])))
      assert.equal(out.readInt32BE(1), out.length - 1)
    }
  })
})
