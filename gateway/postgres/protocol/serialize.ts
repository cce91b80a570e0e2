// Builders for the messages the gateway writes itself: backend messages to
// clients (its own errors, the authentication exchange, rewritten row
// descriptions and rows) and frontend messages to the real server (its own
// startup and authentication, and statements it issues). Forwarded messages
// are never rebuilt: their `raw` bytes go through unchanged.
//
// Frontend builders are hand-written rather than delegated to pg-protocol's
// `serialize`: its `startup` always appends `client_encoding=UTF8` (a
// duplicate if the caller set it), its `bind` derives each parameter's format
// from its JavaScript type and forces one result format, and it writes
// strings with embedded NULs unchecked. The tests compare the bytes with
// pg-protocol's wherever the two can express the same message.
//
// Every builder returns a fresh Buffer and refuses a string with a NUL byte:
// the receiver would end the string there and read the rest as the next
// field (a gateway deciding on `SELECT 1\0; DROP …` must not send it).
import { Buffer } from 'node:buffer'
import { ProtocolError } from './errors.js'
import type { FieldDescription, NoticeFields, TransactionStatus } from './backend.js'
import { NOTICE_FIELD_CODES } from './backend.js'
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, MAX_CANCEL_KEY_BYTES, SSL_REQUEST_CODE } from './frontend.js'

const MAX_LENGTH = 0x7fffffff

function invalid(message: string): ProtocolError {
  return new ProtocolError('protocol.malformed', `cannot encode: ${message}`)
}

class Writer {
  private buf: Buffer
  private pos: number
  /** Where the length field starts: after the type byte, or at 0 for untyped packets. */
  private readonly lengthAt: number

  constructor(type: string | null, sizeHint = 64) {
    this.buf = Buffer.allocUnsafe(Math.max(sizeHint, 16))
    if (type === null) {
      this.lengthAt = 0
      this.pos = 4
    } else {
      this.buf[0] = type.charCodeAt(0)
      this.lengthAt = 1
      this.pos = 5
    }
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    if (this.pos + n - this.lengthAt > MAX_LENGTH) throw invalid('message longer than 2 GB')
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  int8(v: number): this {
    this.ensure(1)
    this.buf[this.pos++] = v & 0xff
    return this
  }

  int16(v: number): this {
    this.ensure(2)
    this.buf.writeUInt16BE(v & 0xffff, this.pos)
    this.pos += 2
    return this
  }

  int32(v: number): this {
    this.ensure(4)
    this.buf.writeUInt32BE(v >>> 0, this.pos)
    this.pos += 4
    return this
  }

  count16(n: number, what: string): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw invalid(`${n} ${what} (at most 65535)`)
    return this.int16(n)
  }

  cstring(s: string, what: string): this {
    if (s.includes('\0')) throw invalid(`${what} contains a NUL byte`)
    const n = Buffer.byteLength(s)
    this.ensure(n + 1)
    this.buf.write(s, this.pos, 'utf8')
    this.pos += n
    this.buf[this.pos++] = 0
    return this
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  finish(): Buffer {
    this.buf.writeInt32BE(this.pos - this.lengthAt, this.lengthAt)
    return this.buf.subarray(0, this.pos)
  }
}

const empty = (type: string): Buffer => new Writer(type, 5).finish()
const bytesOf = (data: Buffer | string): Buffer => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data)

// --- Backend messages (gateway → client) ---

/** The fields PostgreSQL always sends in an ErrorResponse/NoticeResponse. */
export type NoticeInput = NoticeFields & { severity: string; code: string; message: string }

function noticeLike(type: 'E' | 'N', fields: NoticeInput): Buffer {
  if (!/^[0-9A-Z]{5}$/.test(fields.code)) throw invalid(`SQLSTATE \`${fields.code}\` is not five digits or capital letters`)
  const w = new Writer(type, 128)
  // Severity first, then the unlocalized severity (V, which clients since
  // PostgreSQL 9.6 prefer), then the rest in the order the server uses.
  const all: NoticeFields = { severityName: fields.severity, ...fields }
  for (const [name, code] of Object.entries(NOTICE_FIELD_CODES) as [keyof NoticeFields, string][]) {
    const value = all[name]
    if (value === undefined) continue
    w.int8(code.charCodeAt(0)).cstring(value, `field ${name}`)
  }
  return w.int8(0).finish()
}

export const buildErrorResponse = (fields: NoticeInput): Buffer => noticeLike('E', fields)
export const buildNoticeResponse = (fields: NoticeInput): Buffer => noticeLike('N', fields)

export function buildReadyForQuery(status: TransactionStatus): Buffer {
  if (status !== 'I' && status !== 'T' && status !== 'E') throw invalid(`transaction status \`${String(status)}\``)
  return new Writer('Z', 6).int8(status.charCodeAt(0)).finish()
}

const authentication = (code: number) => new Writer('R', 16).int32(code)
export const buildAuthenticationOk = (): Buffer => authentication(0).finish()
export const buildAuthenticationCleartextPassword = (): Buffer => authentication(3).finish()
export function buildAuthenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw invalid(`MD5 salt of ${salt.length} bytes, expected 4`)
  return authentication(5).bytes(salt).finish()
}
export function buildAuthenticationSASL(mechanisms: string[]): Buffer {
  if (mechanisms.length === 0) throw invalid('SASL without a mechanism')
  const w = authentication(10)
  for (const m of mechanisms) {
    if (m === '') throw invalid('empty SASL mechanism name')
    w.cstring(m, 'SASL mechanism')
  }
  return w.int8(0).finish()
}
export const buildAuthenticationSASLContinue = (data: Buffer | string): Buffer => authentication(11).bytes(bytesOf(data)).finish()
export const buildAuthenticationSASLFinal = (data: Buffer | string): Buffer => authentication(12).bytes(bytesOf(data)).finish()

export const buildParameterStatus = (name: string, value: string): Buffer =>
  new Writer('S').cstring(name, 'parameter name').cstring(value, 'parameter value').finish()

export function buildBackendKeyData(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < 4 || secretKey.length > MAX_CANCEL_KEY_BYTES) throw invalid(`secret key of ${secretKey.length} bytes`)
  return new Writer('K', 9 + secretKey.length).int32(processId).bytes(secretKey).finish()
}

export function buildRowDescription(fields: readonly FieldDescription[]): Buffer {
  const w = new Writer('T', 7 + fields.length * 32).count16(fields.length, 'fields')
  for (const f of fields) {
    w.cstring(f.name, 'field name').int32(f.tableOid).int16(f.columnNumber).int32(f.typeOid)
      .int16(f.typeSize).int32(f.typeModifier).int16(f.format)
  }
  return w.finish()
}

export function buildDataRow(values: readonly (Buffer | null)[]): Buffer {
  let size = 7
  for (const v of values) size += 4 + (v === null ? 0 : v.length)
  const w = new Writer('D', size).count16(values.length, 'values')
  for (const v of values) {
    if (v === null) w.int32(-1)
    else w.int32(v.length).bytes(v)
  }
  return w.finish()
}

export const buildCommandComplete = (tag: string): Buffer => new Writer('C').cstring(tag, 'command tag').finish()
export const buildEmptyQueryResponse = (): Buffer => empty('I')
export const buildParseComplete = (): Buffer => empty('1')
export const buildBindComplete = (): Buffer => empty('2')
export const buildCloseComplete = (): Buffer => empty('3')
export const buildNoData = (): Buffer => empty('n')
export const buildPortalSuspended = (): Buffer => empty('s')

export function buildNegotiateProtocolVersion(newestMinor: number, unrecognizedOptions: readonly string[]): Buffer {
  const w = new Writer('v').int32(newestMinor).int32(unrecognizedOptions.length)
  for (const o of unrecognizedOptions) w.cstring(o, 'option name')
  return w.finish()
}

export function buildCopyResponse(kind: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse', format: 0 | 1, columnFormats: readonly number[]): Buffer {
  const w = new Writer(kind === 'CopyInResponse' ? 'G' : kind === 'CopyOutResponse' ? 'H' : 'W').int8(format)
  w.count16(columnFormats.length, 'columns')
  for (const f of columnFormats) w.int16(f)
  return w.finish()
}

export const buildNotification = (processId: number, channel: string, payload: string): Buffer =>
  new Writer('A').int32(processId).cstring(channel, 'channel').cstring(payload, 'payload').finish()

// --- Both directions ---

export const buildCopyData = (data: Buffer): Buffer => new Writer('d', 5 + data.length).bytes(data).finish()
export const buildCopyDone = (): Buffer => empty('c')

// --- Frontend messages (gateway → server) ---

export function buildStartupMessage(parameters: ReadonlyMap<string, string> | Readonly<Record<string, string>>, minorVersion = 0): Buffer {
  const w = new Writer(null, 128).int16(3).int16(minorVersion)
  const entries = parameters instanceof Map ? [...parameters] : Object.entries(parameters)
  for (const [name, value] of entries) {
    if (name === '') throw invalid('empty startup parameter name')
    w.cstring(name, 'startup parameter name').cstring(value, `startup parameter \`${name}\``)
  }
  return w.int8(0).finish()
}

export const buildSSLRequest = (): Buffer => new Writer(null, 8).int32(SSL_REQUEST_CODE).finish()
export const buildGSSENCRequest = (): Buffer => new Writer(null, 8).int32(GSSENC_REQUEST_CODE).finish()

export function buildCancelRequest(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < 4 || secretKey.length > MAX_CANCEL_KEY_BYTES) throw invalid(`secret key of ${secretKey.length} bytes`)
  return new Writer(null, 12 + secretKey.length).int32(CANCEL_REQUEST_CODE).int32(processId).bytes(secretKey).finish()
}

export function buildSaslInitialResponse(mechanism: string, data: Buffer | string | null): Buffer {
  const w = new Writer('p').cstring(mechanism, 'SASL mechanism')
  if (data === null) return w.int32(-1).finish()
  const b = bytesOf(data)
  return w.int32(b.length).bytes(b).finish()
}
export const buildSaslResponse = (data: Buffer | string): Buffer => new Writer('p').bytes(bytesOf(data)).finish()
export const buildPasswordMessage = (password: string): Buffer => new Writer('p').cstring(password, 'password').finish()

export const buildQuery = (sql: string): Buffer => new Writer('Q', 6 + sql.length).cstring(sql, 'query string').finish()

export function buildParse(name: string, query: string, paramTypes: readonly number[] = []): Buffer {
  const w = new Writer('P', 16 + query.length).cstring(name, 'statement name').cstring(query, 'query string')
  w.count16(paramTypes.length, 'parameter types')
  for (const t of paramTypes) w.int32(t)
  return w.finish()
}

export interface BindInput {
  portal?: string
  statement?: string
  /** Empty: all text. One: for all. Otherwise one per parameter. */
  paramFormats?: readonly number[]
  params?: readonly (Buffer | null)[]
  resultFormats?: readonly number[]
}

export function buildBind(input: BindInput): Buffer {
  const params = input.params ?? []
  const paramFormats = input.paramFormats ?? []
  const resultFormats = input.resultFormats ?? []
  if (paramFormats.length > 1 && paramFormats.length !== params.length) {
    throw invalid(`${paramFormats.length} parameter formats for ${params.length} parameters`)
  }
  const w = new Writer('B', 64).cstring(input.portal ?? '', 'portal name').cstring(input.statement ?? '', 'statement name')
  w.count16(paramFormats.length, 'parameter formats')
  for (const f of paramFormats) w.int16(f)
  w.count16(params.length, 'parameters')
  for (const p of params) {
    if (p === null) w.int32(-1)
    else w.int32(p.length).bytes(p)
  }
  w.count16(resultFormats.length, 'result formats')
  for (const f of resultFormats) w.int16(f)
  return w.finish()
}

export const buildDescribe = (target: 'S' | 'P', name = ''): Buffer => new Writer('D').int8(target.charCodeAt(0)).cstring(name, 'name').finish()
export const buildClose = (target: 'S' | 'P', name = ''): Buffer => new Writer('C').int8(target.charCodeAt(0)).cstring(name, 'name').finish()
export const buildExecute = (portal = '', maxRows = 0): Buffer => new Writer('E', 16).cstring(portal, 'portal name').int32(maxRows).finish()
export const buildSync = (): Buffer => empty('S')
export const buildFlush = (): Buffer => empty('H')
export const buildTerminate = (): Buffer => empty('X')
export const buildCopyFail = (message: string): Buffer => new Writer('f').cstring(message, 'error message').finish()
