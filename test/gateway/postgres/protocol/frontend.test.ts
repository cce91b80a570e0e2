// Client → server framing and parsing against real captured traffic: every
// split gives the same messages as the whole stream.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { serialize } from 'pg-protocol'
import { ProtocolError } from '../../../../gateway/postgres/protocol/errors.js'
import {
  createFrontendReader,
  parsePasswordMessage,
  parseSaslInitialResponse,
  type FrontendMessage,
} from '../../../../gateway/postgres/protocol/frontend.js'
import { buildCancelRequest, buildGSSENCRequest, buildSSLRequest } from '../../../../gateway/postgres/protocol/serialize.js'
import { bytewise, copies, createRng, loadFixture, randomChunks, splitsInTwo } from './helpers.js'

const MAX = 1 << 20

/**
 * Pushes "flights" of client bytes the way a session does: a client waits for
 * the answer to SSLRequest/GSSENCRequest before sending more, so each flight
 * is chunked on its own and `expectStartup()` is called between them.
 */
function read(flights: Buffer[][]): FrontendMessage[] {
  const reader = createFrontendReader({ maxMessageBytes: MAX })
  const out: FrontendMessage[] = []
  for (const chunks of flights) {
    if (reader.phase === 'negotiating') reader.expectStartup()
    for (const chunk of chunks) out.push(...reader.push(chunk))
  }
  assert.equal(reader.bufferedBytes, 0, 'no bytes left over')
  return out
}

function flightsOf(stream: Buffer): Buffer[] {
  // An SSLRequest is 8 bytes and ends its flight.
  return stream.readInt32BE(4) === 80877103 ? [stream.subarray(0, 8), stream.subarray(8)] : [stream]
}

function checkEverySplit(stream: Buffer, expectedKinds: string[]): void {
  const flights = flightsOf(stream)
  const whole = read(flights.map((f) => [f]))
  assert.deepEqual(whole.map((m) => m.kind), expectedKinds)
  for (let f = 0; f < flights.length; f++) {
    for (const parts of splitsInTwo(flights[f]!)) {
      assert.deepStrictEqual(read(flights.map((g, i) => (i === f ? parts : [g]))), whole)
    }
  }
  assert.deepStrictEqual(read(flights.map(bytewise)), whole)
  const rng = createRng(0xc0ffee)
  for (let round = 0; round < 200; round++) {
    assert.deepStrictEqual(read(flights.map((g) => copies(randomChunks(g, rng)))), whole)
  }
}

describe('frontend reader on captured psql traffic', () => {
  const { frontend } = loadFixture('psql-session')
  const kinds = [
    'SSLRequest', 'StartupMessage', 'AuthenticationResponse', 'AuthenticationResponse',
    ...Array<string>(17).fill('Query'), 'CopyData', 'CopyDone', 'Query', 'Query', 'Terminate',
  ]

  it('parses the same messages however the stream is cut', () => checkEverySplit(frontend, kinds))

  it('decodes the startup parameters, the SCRAM messages and the queries', () => {
    const messages = read(flightsOf(frontend).map((f) => [f]))
    const startup = messages[1]
    assert.ok(startup?.kind === 'StartupMessage')
    assert.equal(startup.majorVersion, 3)
    assert.equal(startup.minorVersion, 0)
    assert.deepEqual([...startup.parameters], [['user', 'postgres'], ['database', 'postgres'], ['application_name', 'psql']])
    const first = messages[2]
    assert.ok(first?.kind === 'AuthenticationResponse')
    const sasl = parseSaslInitialResponse(first.payload)
    assert.equal(sasl.mechanism, 'SCRAM-SHA-256')
    assert.match(sasl.data!.toString(), /^n,,n=,r=/)
    const final = messages[3]
    assert.ok(final?.kind === 'AuthenticationResponse')
    assert.match(final.payload.toString(), /^c=biws,r=.*,p=/)
    const notify = messages.find((m) => m.kind === 'Query' && m.sql.startsWith('NOTIFY'))
    assert.ok(notify?.kind === 'Query')
    assert.equal(notify.sql, "NOTIFY jobs, 'payload with ünïcode';")
    const copy = messages.find((m) => m.kind === 'CopyData')
    assert.ok(copy?.kind === 'CopyData')
    assert.equal(copy.data.toString(), '3\tcarol@example.com\n4\tdan\\\\@example.com\n\\.\n', 'psql ends the data with \\.')
  })

  it('keeps `raw` as the exact bytes, and as views of the chunk when a message is whole in it', () => {
    const [ssl, rest] = flightsOf(frontend)
    const reader = createFrontendReader({ maxMessageBytes: MAX })
    const [request] = reader.push(ssl!)
    assert.equal(request!.raw.buffer, ssl!.buffer, 'a view, not a copy')
    reader.expectStartup()
    const messages = reader.push(rest!)
    assert.deepStrictEqual(Buffer.concat(messages.map((m) => m.raw)), rest)
    for (const m of messages) assert.equal(m.raw.buffer, rest!.buffer)
  })
})

describe('frontend reader on captured node-postgres extended-protocol traffic', () => {
  const { frontend } = loadFixture('node-postgres-extended')
  const batch = ['Parse', 'Bind', 'Describe', 'Execute', 'Sync']
  const kinds = [
    'StartupMessage', 'AuthenticationResponse', 'AuthenticationResponse',
    ...batch, ...batch, ...batch.slice(1), ...batch, ...batch, 'Terminate',
  ]

  it('parses the same messages however the stream is cut', () => checkEverySplit(frontend, kinds))

  it('decodes Parse, Bind, Describe and Execute', () => {
    const messages = read([[frontend]])
    const parse = messages[3]
    assert.ok(parse?.kind === 'Parse')
    assert.equal(parse.query, 'SELECT $1::int AS n, $2::text AS t, $3::text AS missing')
    assert.deepEqual(parse.paramTypes, [])
    const bind = messages[4]
    assert.ok(bind?.kind === 'Bind')
    assert.equal(bind.portal, '')
    assert.deepStrictEqual(bind.params, [Buffer.from('42'), Buffer.from('héllo'), null])
    assert.deepEqual(bind.paramFormats, [0, 0, 0])
    assert.deepEqual(bind.resultFormats, [0])
    assert.deepEqual(messages.slice(5, 7).map((m) => m.kind === 'Describe' || m.kind === 'Execute' ? m : undefined).map((m) => m && ('target' in m ? [m.target, m.name] : [m.portal, m.maxRows])), [['P', ''], ['', 0]])
    const named = messages[8]
    assert.ok(named?.kind === 'Parse')
    assert.equal(named.name, 'by-id')
    const reuse = messages[13]
    assert.ok(reuse?.kind === 'Bind')
    assert.equal(reuse.statement, 'by-id')
  })
})

describe('frontend reader, startup-phase packets and messages psql and node-postgres did not send', () => {
  it('reads a CancelRequest (3.0 and 3.2 key lengths) and closes', () => {
    for (const key of [Buffer.from([1, 2, 3, 4]), Buffer.alloc(32, 7)]) {
      const reader = createFrontendReader({ maxMessageBytes: MAX })
      const [m] = reader.push(buildCancelRequest(4242, key))
      assert.ok(m?.kind === 'CancelRequest')
      assert.equal(m.processId, 4242)
      assert.deepStrictEqual(m.secretKey, key)
      assert.equal(reader.phase, 'closed')
      assert.throws(() => reader.push(Buffer.from([0])), (e: unknown) => e instanceof ProtocolError && e.code === 'protocol.unexpected')
    }
    assert.deepStrictEqual(buildCancelRequest(4242, Buffer.from([0, 0, 0, 9])), serialize.cancel(4242, 9))
  })

  it('pauses after GSSENCRequest and SSLRequest until expectStartup()', () => {
    const reader = createFrontendReader({ maxMessageBytes: MAX })
    assert.equal(reader.push(buildGSSENCRequest())[0]?.kind, 'GSSENCRequest')
    assert.equal(reader.phase, 'negotiating')
    assert.throws(() => reader.push(Buffer.from([0])), { code: 'protocol.unexpected' })
    const again = createFrontendReader({ maxMessageBytes: MAX })
    again.push(buildGSSENCRequest())
    again.expectStartup()
    assert.equal(again.push(buildSSLRequest())[0]?.kind, 'SSLRequest')
    again.expectStartup()
    const [startup] = again.push(serialize.startup({ user: 'ci' }))
    assert.ok(startup?.kind === 'StartupMessage')
    assert.deepEqual([...startup.parameters], [['user', 'ci'], ['client_encoding', 'UTF8']])
    assert.equal(again.phase, 'typed')
  })

  it('refuses bytes pipelined after SSLRequest (CVE-2021-23214)', () => {
    const reader = createFrontendReader({ maxMessageBytes: MAX })
    assert.throws(() => reader.push(Buffer.concat([buildSSLRequest(), serialize.startup({ user: 'x' })])), { code: 'protocol.unexpected' })
    assert.throws(() => reader.push(Buffer.alloc(0)), { code: 'protocol.unexpected' }, 'a failed reader stays failed')
  })

  it('parses Close, Flush, CopyFail, FunctionCall, binary Bind formats and Execute row limits', () => {
    const reader = createFrontendReader({ maxMessageBytes: MAX })
    reader.push(serialize.startup({ user: 'ci' }))
    const fn = Buffer.from([0x46, 0, 0, 0, 14, 0, 0, 0x04, 0xd2, 0, 0, 0, 0, 0, 0])
    const messages = reader.push(Buffer.concat([
      serialize.close({ type: 'S', name: 'stmt' }),
      serialize.close({ type: 'P', name: '' }),
      serialize.flush(),
      serialize.execute({ portal: 'c1', rows: 100 }),
      serialize.bind({ portal: 'c1', statement: 's', values: [Buffer.from([0, 1]), 'x', null], binary: true }),
      serialize.copyFail('client gave up'),
      fn,
      serialize.password('md5abc'),
    ]))
    assert.deepEqual(messages.map((m) => m.kind), ['Close', 'Close', 'Flush', 'Execute', 'Bind', 'CopyFail', 'FunctionCall', 'AuthenticationResponse'])
    const [c1, c2, , exec, bind, fail, , pw] = messages
    assert.ok(c1?.kind === 'Close' && c2?.kind === 'Close' && exec?.kind === 'Execute' && bind?.kind === 'Bind' && fail?.kind === 'CopyFail' && pw?.kind === 'AuthenticationResponse')
    assert.deepEqual([c1.target, c1.name, c2.target, c2.name], ['S', 'stmt', 'P', ''])
    assert.deepEqual([exec.portal, exec.maxRows], ['c1', 100])
    assert.deepEqual(bind.paramFormats, [1, 0, 0])
    assert.deepStrictEqual(bind.params, [Buffer.from([0, 1]), Buffer.from('x'), null])
    assert.deepEqual(bind.resultFormats, [1])
    assert.equal(fail.message, 'client gave up')
    assert.equal(parsePasswordMessage(pw.payload), 'md5abc')
  })
})
