// Server → client framing and decoding against real captured traffic, with
// pg-protocol's Parser as an independent oracle for the decoded values.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Parser } from 'pg-protocol/dist/parser.js'
import {
  createBackendReader,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeCopyData,
  decodeCopyResponse,
  decodeDataRow,
  decodeErrorOrNotice,
  decodeNotification,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeReadyForQuery,
  decodeRowDescription,
  readEncryptionResponse,
  type BackendMessage,
} from '../../../../gateway/postgres/protocol/backend.js'
import { ProtocolError } from '../../../../gateway/postgres/protocol/errors.js'
import { bytewise, copies, createRng, loadFixture, randomChunks, splitsInTwo } from './helpers.js'

function read(chunks: Buffer[], maxMessageBytes = 1 << 20): BackendMessage[] {
  const reader = createBackendReader({ maxMessageBytes })
  const out: BackendMessage[] = []
  for (const chunk of chunks) out.push(...reader.push(chunk))
  assert.equal(reader.bufferedBytes, 0, 'no bytes left over')
  return out
}

function checkEverySplit(stream: Buffer, expectedTypes: string): BackendMessage[] {
  const whole = read([stream])
  assert.equal(whole.map((m) => m.type).join(''), expectedTypes)
  for (const parts of splitsInTwo(stream)) assert.deepStrictEqual(read(parts), whole)
  assert.deepStrictEqual(read(bytewise(stream)), whole)
  const rng = createRng(42)
  for (let round = 0; round < 200; round++) assert.deepStrictEqual(read(copies(randomChunks(stream, rng, 200))), whole)
  return whole
}

/** What pg-protocol's Parser makes of the same bytes. */
function oracle(stream: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  new Parser().parse(stream, (m) => out.push(m as unknown as Record<string, unknown>))
  return out
}

/** Our decoders, shaped like pg-protocol's messages for comparison. */
function decodeLikePgProtocol(m: BackendMessage): Record<string, unknown> {
  switch (m.type) {
    case 'R': {
      const a = decodeAuthentication(m.raw)
      switch (a.kind) {
        case 'Ok': return { name: 'authenticationOk' }
        case 'SASL': return { name: 'authenticationSASL', mechanisms: a.mechanisms }
        case 'SASLContinue': return { name: 'authenticationSASLContinue', data: a.data.toString() }
        case 'SASLFinal': return { name: 'authenticationSASLFinal', data: a.data.toString() }
        default: return { name: a.kind }
      }
    }
    case 'S': {
      const p = decodeParameterStatus(m.raw)
      return { name: 'parameterStatus', parameterName: p.name, parameterValue: p.value }
    }
    case 'K': {
      const k = decodeBackendKeyData(m.raw)
      return { name: 'backendKeyData', processID: k.processId, secretKey: k.secretKey.readInt32BE(0) }
    }
    case 'Z': return { name: 'readyForQuery', status: decodeReadyForQuery(m.raw) }
    case 'T': return {
      name: 'rowDescription',
      fields: decodeRowDescription(m.raw).map((f) => ({
        name: f.name, tableID: f.tableOid, columnID: f.columnNumber, dataTypeID: f.typeOid,
        dataTypeSize: f.typeSize, dataTypeModifier: f.typeModifier, format: f.format === 0 ? 'text' : 'binary',
      })),
    }
    case 'D': return { name: 'dataRow', fields: decodeDataRow(m.raw).map((v) => (v === null ? null : v.toString())) }
    case 'C': return { name: 'commandComplete', text: decodeCommandComplete(m.raw).tag }
    case 'E':
    case 'N': {
      const { fields } = decodeErrorOrNotice(m.raw)
      const { severityName: _, ...rest } = fields
      return { name: m.type === 'E' ? 'error' : 'notice', ...rest }
    }
    case 'A': return { name: 'notification', ...decodeNotification(m.raw) }
    case 'H':
    case 'G': {
      const c = decodeCopyResponse(m.raw)
      return { name: m.type === 'H' ? 'copyOutResponse' : 'copyInResponse', binary: c.format === 1, columnTypes: c.columnFormats }
    }
    case 'd': return { name: 'copyData', chunk: decodeCopyData(m.raw) }
    case 't': return { name: 'parameterDescription', dataTypeIDs: decodeParameterDescription(m.raw) }
    default: return { name: m.type }
  }
}

const PG_NAMES: Record<string, string> = { '1': 'parseComplete', '2': 'bindComplete', '3': 'closeComplete', n: 'noData', c: 'copyDone', I: 'emptyQuery' }

function compareWithOracle(stream: Buffer, messages: BackendMessage[]): void {
  const theirs = oracle(stream)
  assert.equal(theirs.length, messages.length)
  messages.forEach((m, i) => {
    const mine = decodeLikePgProtocol(m)
    const their = theirs[i]!
    if (PG_NAMES[m.type]) return assert.equal(their['name'], PG_NAMES[m.type])
    for (const [key, value] of Object.entries(mine)) {
      const theirValue = key === 'fields' && m.type === 'T'
        ? (their[key] as Record<string, unknown>[]).map((f) => ({ ...f }))
        : their[key]
      assert.deepStrictEqual(theirValue, value, `message ${i} (${m.type}) field ${key}`)
    }
  })
}

describe('backend reader on captured psql traffic', () => {
  const { backend } = loadFixture('psql-session')
  // psql asked for SSL first: the server's one-byte `N` precedes the messages.
  const { response, rest } = readEncryptionResponse(backend)

  it('reads the one-byte answer to SSLRequest', () => assert.equal(response, 'N'))

  const types = 'RRRRSSSSSSSSSSSSSKZNCZCZCZTDDCZNCZEZEZEZCZCAZCZTDCZEZCZHddcCZHdddcCZGCZTDCZIZ'
  it('frames the same messages however the stream is cut', () => {
    checkEverySplit(rest, types)
  })

  it('decodes every message as pg-protocol does', () => compareWithOracle(rest, read([rest])))

  it('decodes the SCRAM exchange, results, errors with all their fields, notices and notifications', () => {
    const messages = read([rest])
    const auth = messages.filter((m) => m.type === 'R').map((m) => decodeAuthentication(m.raw))
    assert.deepEqual(auth.map((a) => a.kind), ['SASL', 'SASLContinue', 'SASLFinal', 'Ok'])
    assert.deepEqual(auth[0], { kind: 'SASL', mechanisms: ['SCRAM-SHA-256'] })
    const first = messages.findIndex((m) => m.type === 'T')
    assert.deepEqual(decodeRowDescription(messages[first]!.raw).map((f) => [f.name, f.typeOid, f.typeModifier, f.columnNumber]), [
      ['id', 23, -1, 1], ['email', 25, -1, 2], ['note', 25, -1, 3], ['balance', 1700, (10 << 16) + 2 + 4, 4],
    ])
    assert.deepStrictEqual(decodeDataRow(messages[first + 1]!.raw), [Buffer.from('1'), Buffer.from('ada@example.com'), Buffer.from('tab\there'), Buffer.from('10.50')])
    assert.deepStrictEqual(decodeDataRow(messages[first + 2]!.raw), [Buffer.from('2'), Buffer.from('bob@example.com'), null, Buffer.from('-3.00')])
    assert.deepEqual(decodeCommandComplete(messages[first + 3]!.raw), { tag: 'SELECT 2', rows: 2 })

    const errors = messages.filter((m) => m.type === 'E').map((m) => decodeErrorOrNotice(m.raw))
    const duplicate = errors[0]!
    assert.equal(duplicate.kind, 'ErrorResponse')
    assert.equal(duplicate.fields.code, '23505')
    assert.equal(duplicate.fields.severity, 'ERROR')
    assert.equal(duplicate.fields.severityName, 'ERROR')
    assert.equal(duplicate.fields.schema, 'public')
    assert.equal(duplicate.fields.table, 'customers')
    assert.equal(duplicate.fields.constraint, 'customers_pkey')
    assert.equal(duplicate.fields.detail, 'Key (id)=(1) already exists.')
    assert.equal(duplicate.byCode.get('n'), 'customers_pkey')
    assert.equal(errors[1]!.fields.code, '22012')
    const syntax = errors[2]!.fields
    assert.deepEqual([syntax.code, syntax.position, syntax.message], ['42601', '1', 'syntax error at or near "SELEC"'])
    assert.ok(syntax.file && syntax.line && syntax.routine)

    const notices = messages.filter((m) => m.type === 'N').map((m) => decodeErrorOrNotice(m.raw))
    assert.equal(notices[1]!.kind, 'NoticeResponse')
    assert.equal(notices[1]!.fields.message, 'about to 2 rows')
    assert.equal(notices[1]!.fields.hint, 'just a notice')
    assert.match(notices[1]!.fields.where ?? '', /PL\/pgSQL function inline_code_block/)

    const notification = messages.find((m) => m.type === 'A')!
    const n = decodeNotification(notification.raw)
    assert.deepEqual([n.channel, n.payload], ['jobs', 'payload with ünïcode'])
    assert.equal(n.processId, decodeBackendKeyData(messages.find((m) => m.type === 'K')!.raw).processId)

    const statuses = messages.filter((m) => m.type === 'Z').map((m) => decodeReadyForQuery(m.raw))
    assert.ok(statuses.includes('T') && statuses.includes('E') && statuses.includes('I'))

    const copyOut = messages.filter((m) => m.type === 'H').map((m) => decodeCopyResponse(m.raw))
    assert.deepEqual(copyOut[0], { kind: 'CopyOutResponse', format: 0, columnFormats: [0, 0, 0, 0] })
    const rows = messages.filter((m) => m.type === 'd').map((m) => decodeCopyData(m.raw).toString())
    assert.deepEqual(rows, [
      '1\tada@example.com\ttab\\there\t10.50\n', '2\tbob@example.com\t\\N\t-3.00\n',
      'id,email,note,balance\n', '1,ada@example.com,tab\there,10.50\n', '2,bob@example.com,,-3.00\n',
    ])
    assert.deepEqual(decodeCopyResponse(messages.find((m) => m.type === 'G')!.raw), { kind: 'CopyInResponse', format: 0, columnFormats: [0, 0] })
  })
})

describe('backend reader on captured node-postgres extended-protocol traffic', () => {
  const { backend } = loadFixture('node-postgres-extended')
  const types = 'RRRRSSSSSSSSSSSSSKZ12TDCZ12TDCZ2TDCZ1EZ12nCZ'

  it('frames the same messages however the stream is cut', () => {
    checkEverySplit(backend, types)
  })

  it('decodes every message as pg-protocol does', () => compareWithOracle(backend, read([backend])))

  it('decodes the extended-protocol results', () => {
    const messages = read([backend])
    const row = messages.find((m) => m.type === 'D')!
    assert.deepStrictEqual(decodeDataRow(row.raw), [Buffer.from('42'), Buffer.from('héllo'), null])
    assert.deepEqual(decodeCommandComplete(messages.findLast((m) => m.type === 'C')!.raw), { tag: 'UPDATE 1', rows: 1 })
    assert.equal(decodeErrorOrNotice(messages.find((m) => m.type === 'E')!.raw).fields.code, '22P02')
  })
})

describe('backend decoders refuse what does not fit', () => {
  it('refuses a decoder applied to the wrong message type', () => {
    assert.throws(() => decodeDataRow(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), (e: unknown) => e instanceof ProtocolError && e.code === 'protocol.unexpected')
  })

  it('refuses bytes after an `S` answer to SSLRequest (CVE-2021-23222)', () => {
    assert.throws(() => readEncryptionResponse(Buffer.from('SR')), { code: 'protocol.unexpected' })
    assert.equal(readEncryptionResponse(Buffer.from('S')).response, 'S')
    assert.equal(readEncryptionResponse(Buffer.from('G')).response, 'G')
    assert.throws(() => readEncryptionResponse(Buffer.from('x')), { code: 'protocol.unexpected' })
  })
})
