// Builders: every captured message rebuilt from its decoded form gives the
// bytes the real client or server sent; built messages read back equal; and
// frontend builders match pg-protocol's serializer byte for byte.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { serialize } from 'pg-protocol'
import * as backend from '../../../../gateway/postgres/protocol/backend.js'
import { ProtocolError } from '../../../../gateway/postgres/protocol/errors.js'
import { createFrontendReader, parsePasswordMessage, parseSaslInitialResponse, type FrontendMessage } from '../../../../gateway/postgres/protocol/frontend.js'
import * as build from '../../../../gateway/postgres/protocol/serialize.js'
import { loadFixture } from './helpers.js'

function readFrontend(stream: Buffer): FrontendMessage[] {
  const reader = createFrontendReader({ maxMessageBytes: 1 << 20 })
  if (stream.readInt32BE(4) === 80877103) {
    const first = reader.push(stream.subarray(0, 8))
    reader.expectStartup()
    return [...first, ...reader.push(stream.subarray(8))]
  }
  return reader.push(stream)
}

/** Rebuilds a parsed frontend message with the builders. */
function rebuildFrontend(m: FrontendMessage): Buffer {
  switch (m.kind) {
    case 'SSLRequest': return build.buildSSLRequest()
    case 'GSSENCRequest': return build.buildGSSENCRequest()
    case 'CancelRequest': return build.buildCancelRequest(m.processId, m.secretKey)
    case 'StartupMessage': return build.buildStartupMessage(m.parameters, m.minorVersion)
    case 'Query': return build.buildQuery(m.sql)
    case 'Parse': return build.buildParse(m.name, m.query, m.paramTypes)
    case 'Bind': return build.buildBind(m)
    case 'Describe': return build.buildDescribe(m.target, m.name)
    case 'Close': return build.buildClose(m.target, m.name)
    case 'Execute': return build.buildExecute(m.portal, m.maxRows)
    case 'Sync': return build.buildSync()
    case 'Flush': return build.buildFlush()
    case 'Terminate': return build.buildTerminate()
    case 'CopyData': return build.buildCopyData(m.data)
    case 'CopyDone': return build.buildCopyDone()
    case 'CopyFail': return build.buildCopyFail(m.message)
    case 'FunctionCall': return m.raw
    case 'AuthenticationResponse': {
      // The first `p` of a SCRAM exchange is a SASLInitialResponse, the next a SASLResponse.
      try {
        const initial = parseSaslInitialResponse(m.payload)
        if (initial.mechanism === 'SCRAM-SHA-256') return build.buildSaslInitialResponse(initial.mechanism, initial.data)
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error
      }
      return build.buildSaslResponse(m.payload)
    }
  }
}

/** Rebuilds a backend message from its decoded form. */
function rebuildBackend(m: backend.BackendMessage): Buffer {
  switch (m.type) {
    case 'R': {
      const a = backend.decodeAuthentication(m.raw)
      switch (a.kind) {
        case 'Ok': return build.buildAuthenticationOk()
        case 'SASL': return build.buildAuthenticationSASL(a.mechanisms)
        case 'SASLContinue': return build.buildAuthenticationSASLContinue(a.data)
        case 'SASLFinal': return build.buildAuthenticationSASLFinal(a.data)
        default: throw new Error(`not in the fixtures: ${a.kind}`)
      }
    }
    case 'S': { const p = backend.decodeParameterStatus(m.raw); return build.buildParameterStatus(p.name, p.value) }
    case 'K': { const k = backend.decodeBackendKeyData(m.raw); return build.buildBackendKeyData(k.processId, k.secretKey) }
    case 'Z': return build.buildReadyForQuery(backend.decodeReadyForQuery(m.raw))
    case 'T': return build.buildRowDescription(backend.decodeRowDescription(m.raw))
    case 'D': return build.buildDataRow(backend.decodeDataRow(m.raw))
    case 'C': return build.buildCommandComplete(backend.decodeCommandComplete(m.raw).tag)
    case 'E': return build.buildErrorResponse(backend.decodeErrorOrNotice(m.raw).fields as build.NoticeInput)
    case 'N': return build.buildNoticeResponse(backend.decodeErrorOrNotice(m.raw).fields as build.NoticeInput)
    case 'A': { const n = backend.decodeNotification(m.raw); return build.buildNotification(n.processId, n.channel, n.payload) }
    case 'G': case 'H': case 'W': { const c = backend.decodeCopyResponse(m.raw); return build.buildCopyResponse(c.kind, c.format as 0 | 1, c.columnFormats) }
    case 'd': return build.buildCopyData(backend.decodeCopyData(m.raw))
    case 'c': return build.buildCopyDone()
    case 'I': return build.buildEmptyQueryResponse()
    case '1': return build.buildParseComplete()
    case '2': return build.buildBindComplete()
    case '3': return build.buildCloseComplete()
    case 'n': return build.buildNoData()
    case 's': return build.buildPortalSuspended()
    case 't': throw new Error('not in the fixtures')
    default: throw new Error(`not in the fixtures: ${m.type}`)
  }
}

describe('builders reproduce captured traffic byte for byte', () => {
  for (const name of ['psql-session', 'node-postgres-extended']) {
    const fixture = loadFixture(name)
    it(`${name}: every client message`, () => {
      const messages = readFrontend(fixture.frontend)
      assert.ok(messages.length > 20)
      for (const m of messages) assert.deepStrictEqual(rebuildFrontend(m), m.raw, m.kind)
    })
    it(`${name}: every server message`, () => {
      const stream = name === 'psql-session' ? backend.readEncryptionResponse(fixture.backend).rest : fixture.backend
      const messages = backend.createBackendReader({ maxMessageBytes: 1 << 20 }).push(stream)
      assert.ok(messages.length > 40)
      for (const m of messages) assert.deepStrictEqual(rebuildBackend(m), m.raw, m.type)
    })
  }
})

describe('frontend builders match pg-protocol', () => {
  it('gives the same bytes wherever both can express the message', () => {
    const pairs: [Buffer, Buffer][] = [
      [build.buildQuery('SELECT 1; -- ünï'), serialize.query('SELECT 1; -- ünï')],
      [build.buildParse('s1', 'SELECT $1, $2', [23, 25]), serialize.parse({ name: 's1', text: 'SELECT $1, $2', types: [23, 25] })],
      [build.buildParse('', 'SELECT 1'), serialize.parse({ text: 'SELECT 1' })],
      [
        build.buildBind({ portal: 'p', statement: 's', paramFormats: [0, 1, 0], params: [Buffer.from('a'), Buffer.from([0, 1]), null], resultFormats: [1] }),
        serialize.bind({ portal: 'p', statement: 's', values: ['a', Buffer.from([0, 1]), null], binary: true }),
      ],
      [build.buildBind({ resultFormats: [0] }), serialize.bind()],
      [build.buildExecute(), serialize.execute()],
      [build.buildExecute('c', 50), serialize.execute({ portal: 'c', rows: 50 })],
      [build.buildDescribe('P'), serialize.describe({ type: 'P' })],
      [build.buildDescribe('S', 'stmt'), serialize.describe({ type: 'S', name: 'stmt' })],
      [build.buildClose('S', 'stmt'), serialize.close({ type: 'S', name: 'stmt' })],
      [build.buildSync(), serialize.sync()],
      [build.buildFlush(), serialize.flush()],
      [build.buildTerminate(), serialize.end()],
      [build.buildCopyData(Buffer.from('1\tx\n')), serialize.copyData(Buffer.from('1\tx\n'))],
      [build.buildCopyDone(), serialize.copyDone()],
      [build.buildCopyFail('nope'), serialize.copyFail('nope')],
      [build.buildCancelRequest(7, Buffer.from([0, 0, 1, 0])), serialize.cancel(7, 256)],
      [build.buildSSLRequest(), serialize.requestSsl()],
      [build.buildStartupMessage({ user: 'ci', database: 'app', client_encoding: 'UTF8' }), serialize.startup({ user: 'ci', database: 'app' })],
      [build.buildSaslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc'), serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc')],
      [build.buildSaslResponse('c=biws,r=abc,p=xyz'), serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz')],
      [build.buildPasswordMessage('md5deadbeef'), serialize.password('md5deadbeef')],
    ]
    pairs.forEach(([ours, theirs], i) => assert.deepStrictEqual(ours, theirs, `pair ${i}`))
  })
})

describe('round trips: build, read, decode', () => {
  it('frontend messages', () => {
    const reader = createFrontendReader({ maxMessageBytes: 1 << 20 })
    const [startup] = reader.push(build.buildStartupMessage(new Map([['user', 'ci'], ['options', '-c search_path=x']]), 2))
    assert.ok(startup?.kind === 'StartupMessage')
    assert.deepEqual([startup.minorVersion, [...startup.parameters]], [2, [['user', 'ci'], ['options', '-c search_path=x']]])
    const bind = { portal: 'p', statement: 's', paramFormats: [1], params: [Buffer.alloc(0), null, Buffer.from([0xff])], resultFormats: [0, 1] }
    const messages = reader.push(Buffer.concat([
      build.buildSaslInitialResponse('SCRAM-SHA-256', null),
      build.buildPasswordMessage('pw'),
      build.buildParse('', 'SELECT $1', [0]),
      build.buildBind(bind),
      build.buildExecute('p', -1),
    ]))
    const [sasl, pw, parse, b, exec] = messages
    assert.ok(sasl?.kind === 'AuthenticationResponse' && pw?.kind === 'AuthenticationResponse')
    assert.deepEqual(parseSaslInitialResponse(sasl.payload), { mechanism: 'SCRAM-SHA-256', data: null })
    assert.equal(parsePasswordMessage(pw.payload), 'pw')
    assert.ok(parse?.kind === 'Parse' && b?.kind === 'Bind' && exec?.kind === 'Execute')
    assert.deepEqual(parse.paramTypes, [0])
    assert.deepStrictEqual({ portal: b.portal, statement: b.statement, paramFormats: b.paramFormats, params: b.params, resultFormats: b.resultFormats }, bind)
    assert.equal(exec.maxRows, -1)
  })

  it('backend messages', () => {
    const fields: build.NoticeInput = {
      severity: 'ERROR', code: '42501', message: 'permission denied by policy `payments-readonly`',
      detail: 'rule `deny-writes` matched', hint: 'request access with `/gatehouse grant`', position: '8',
    }
    const key = Buffer.alloc(32, 0xab)
    const fieldList: backend.FieldDescription[] = [
      { name: 'email', tableOid: 16384, columnNumber: 2, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
      { name: 'ünï', tableOid: 0, columnNumber: 0, typeOid: 1700, typeSize: -1, typeModifier: 655366, format: 1 },
    ]
    const stream = Buffer.concat([
      build.buildAuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
      build.buildAuthenticationSASLContinue('r=abc,s=c2FsdA==,i=4096'),
      build.buildAuthenticationSASLFinal(Buffer.from('v=xyz')),
      build.buildAuthenticationMD5Password(Buffer.from([1, 2, 3, 4])),
      build.buildAuthenticationCleartextPassword(),
      build.buildAuthenticationOk(),
      build.buildParameterStatus('server_version', '16.4'),
      build.buildBackendKeyData(-5, key),
      build.buildNegotiateProtocolVersion(0, ['_pq_.compression']),
      build.buildErrorResponse(fields),
      build.buildNoticeResponse({ severity: 'WARNING', code: '01000', message: 'masked 1 column' }),
      build.buildRowDescription(fieldList),
      build.buildDataRow([Buffer.from('x'), null, Buffer.alloc(0)]),
      build.buildCommandComplete('INSERT 0 12'),
      build.buildReadyForQuery('T'),
    ])
    const m = backend.createBackendReader({ maxMessageBytes: 1 << 20 }).push(stream)
    assert.equal(m.length, 15)
    assert.deepEqual(backend.decodeAuthentication(m[0]!.raw), { kind: 'SASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] })
    assert.deepStrictEqual(backend.decodeAuthentication(m[1]!.raw), { kind: 'SASLContinue', data: Buffer.from('r=abc,s=c2FsdA==,i=4096') })
    assert.deepStrictEqual(backend.decodeAuthentication(m[2]!.raw), { kind: 'SASLFinal', data: Buffer.from('v=xyz') })
    assert.deepStrictEqual(backend.decodeAuthentication(m[3]!.raw), { kind: 'MD5Password', salt: Buffer.from([1, 2, 3, 4]) })
    assert.deepEqual(backend.decodeAuthentication(m[4]!.raw), { kind: 'CleartextPassword' })
    assert.deepEqual(backend.decodeAuthentication(m[5]!.raw), { kind: 'Ok' })
    assert.deepEqual(backend.decodeParameterStatus(m[6]!.raw), { name: 'server_version', value: '16.4' })
    assert.deepStrictEqual(backend.decodeBackendKeyData(m[7]!.raw), { processId: -5, secretKey: key })
    assert.deepEqual(backend.decodeNegotiateProtocolVersion(m[8]!.raw), { newestMinor: 0, unrecognizedOptions: ['_pq_.compression'] })
    const error = backend.decodeErrorOrNotice(m[9]!.raw)
    assert.deepEqual(error.fields, { severityName: 'ERROR', ...fields })
    assert.equal(error.kind, 'ErrorResponse')
    assert.equal(backend.decodeErrorOrNotice(m[10]!.raw).kind, 'NoticeResponse')
    assert.deepEqual(backend.decodeRowDescription(m[11]!.raw), fieldList)
    assert.deepStrictEqual(backend.decodeDataRow(m[12]!.raw), [Buffer.from('x'), null, Buffer.alloc(0)])
    assert.deepEqual(backend.decodeCommandComplete(m[13]!.raw), { tag: 'INSERT 0 12', rows: 12 })
    assert.equal(backend.decodeReadyForQuery(m[14]!.raw), 'T')
  })

  it('refuses to encode a string with a NUL, which the receiver would cut short', () => {
    const nul = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof ProtocolError && e.code === 'protocol.malformed' && /NUL/.test(e.message))
    nul(() => build.buildQuery('SELECT 1\0; DROP TABLE t'))
    nul(() => build.buildErrorResponse({ severity: 'ERROR', code: '42501', message: 'a\0b' }))
    nul(() => build.buildStartupMessage({ user: 'a\0database' }))
    assert.throws(() => build.buildErrorResponse({ severity: 'ERROR', code: '4250', message: 'x' }), { code: 'protocol.malformed' })
  })
})
