// Server → client bytes into messages. Framing is the hot path and does no
// decoding: each message is `{ type, raw }` with `raw` a view of the bytes
// received (a copy only for a message that straddled chunks). The gateway
// decodes only what it needs (ReadyForQuery for the transaction state,
// RowDescription and DataRow where a mask applies, ...) with the decoders
// below, which check every length and count against the message.
//
// pg-protocol's Parser is not used here: it reads past a message's end on
// bad counts, does not check NUL terminators, decodes every message eagerly
// (strings for every DataRow field) and predates protocol 3.2's variable
// BackendKeyData. The tests use it as an independent oracle instead.
import { Cursor } from './cursor.js'
import { ProtocolError, malformed } from './errors.js'
import { Framer, checkCap, printable } from './framer.js'
import { MAX_CANCEL_KEY_BYTES } from './frontend.js'

/** Backend message type codes ("Message Formats"). */
export const BackendType = {
  Authentication: 'R',
  BackendKeyData: 'K',
  BindComplete: '2',
  CloseComplete: '3',
  CommandComplete: 'C',
  CopyData: 'd',
  CopyDone: 'c',
  CopyInResponse: 'G',
  CopyOutResponse: 'H',
  CopyBothResponse: 'W',
  DataRow: 'D',
  EmptyQueryResponse: 'I',
  ErrorResponse: 'E',
  FunctionCallResponse: 'V',
  NegotiateProtocolVersion: 'v',
  NoData: 'n',
  NoticeResponse: 'N',
  NotificationResponse: 'A',
  ParameterDescription: 't',
  ParameterStatus: 'S',
  ParseComplete: '1',
  PortalSuspended: 's',
  ReadyForQuery: 'Z',
  RowDescription: 'T',
} as const
export type BackendTypeCode = (typeof BackendType)[keyof typeof BackendType]

const KNOWN = new Uint8Array(256)
for (const code of Object.values(BackendType)) KNOWN[code.charCodeAt(0)] = 1
/** One-character strings, made once, so framing allocates no string per message. */
const TYPE_CHARS: string[] = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i))

export interface BackendMessage {
  type: BackendTypeCode
  /** The whole message: type byte, length, payload. */
  raw: Buffer
}

export interface BackendReaderOptions {
  /** Largest accepted length field. A DataRow beyond it ends the session: size it to the largest row you pass. */
  maxMessageBytes: number
}

export interface BackendReader {
  /** Same contract as the frontend reader: whole messages out, ProtocolError (only) on bad input, failed afterwards. */
  push(chunk: Buffer): BackendMessage[]
  setMaxMessageBytes(bytes: number): void
  readonly bufferedBytes: number
}

export function createBackendReader(options: BackendReaderOptions): BackendReader {
  const framer = new Framer({ maxMessageBytes: checkCap('maxMessageBytes', options.maxMessageBytes), maxStartupBytes: 0 }, 'backend')
  framer.typed = true
  let failure: ProtocolError | undefined
  return {
    push(chunk) {
      if (failure) throw failure
      framer.feed(chunk)
      const out: BackendMessage[] = []
      try {
        for (;;) {
          const raw = framer.next()
          if (raw === undefined) return out
          const code = raw[0]!
          if (KNOWN[code] !== 1) throw new ProtocolError('protocol.unexpected', `unknown backend message type ${printable(code)}`)
          out.push({ type: TYPE_CHARS[code] as BackendTypeCode, raw })
        }
      } catch (error) {
        if (error instanceof ProtocolError) failure = error
        throw error
      }
    },
    setMaxMessageBytes(bytes) {
      framer.limits = { ...framer.limits, maxMessageBytes: checkCap('maxMessageBytes', bytes) }
    },
    get bufferedBytes() {
      return framer.bufferedBytes
    },
  }
}

/**
 * The server's one-byte answer to SSLRequest (`S`/`N`) or GSSENCRequest
 * (`G`/`N`), which is not a message. `E` means the server sent an
 * ErrorResponse instead: `rest` then starts with it, for the backend reader.
 * Bytes after `S` or `G` are refused (CVE-2021-23222: they would be read as
 * if they had come through the encrypted channel).
 */
export function readEncryptionResponse(chunk: Buffer): { response: 'S' | 'N' | 'G' | 'E'; rest: Buffer } {
  const b = chunk[0]
  if (b === 0x45) return { response: 'E', rest: chunk }
  if (b === 0x53 || b === 0x47 || b === 0x4e) {
    const response = TYPE_CHARS[b] as 'S' | 'G' | 'N'
    const rest = chunk.subarray(1)
    if (response !== 'N' && rest.length > 0) {
      throw new ProtocolError('protocol.unexpected', `unexpected data after the server's \`${response}\` answer to an encryption request`)
    }
    return { response, rest }
  }
  throw new ProtocolError('protocol.unexpected', b === undefined ? 'empty answer to an encryption request' : `answer ${printable(b)} to an encryption request`)
}

function open(raw: Buffer, type: BackendTypeCode, what: string): Cursor {
  if (raw.length < 5 || raw[0] !== type.charCodeAt(0)) {
    throw new ProtocolError('protocol.unexpected', `expected a \`${what}\` message, got ${raw.length > 0 ? printable(raw[0]!) : 'nothing'}`)
  }
  if (raw.readInt32BE(1) !== raw.length - 1) throw malformed(`\`${what}\` message: length field does not match the message`)
  return new Cursor(raw, 5, raw.length, what)
}

// --- Authentication ("Message Formats / Authentication*") ---

export type Authentication =
  | { kind: 'Ok' }
  | { kind: 'KerberosV5' }
  | { kind: 'CleartextPassword' }
  | { kind: 'MD5Password'; salt: Buffer }
  | { kind: 'GSS' }
  | { kind: 'GSSContinue'; data: Buffer }
  | { kind: 'SSPI' }
  | { kind: 'SASL'; mechanisms: string[] }
  | { kind: 'SASLContinue'; data: Buffer }
  | { kind: 'SASLFinal'; data: Buffer }

export function decodeAuthentication(raw: Buffer): Authentication {
  const c = open(raw, 'R', 'Authentication')
  const code = c.int32('authentication code')
  let out: Authentication
  switch (code) {
    case 0: out = { kind: 'Ok' }; break
    case 2: out = { kind: 'KerberosV5' }; break
    case 3: out = { kind: 'CleartextPassword' }; break
    case 5: out = { kind: 'MD5Password', salt: c.bytes(4, 'salt') }; break
    case 7: out = { kind: 'GSS' }; break
    case 8: out = { kind: 'GSSContinue', data: c.rest() }; break
    case 9: out = { kind: 'SSPI' }; break
    case 10: {
      const mechanisms: string[] = []
      for (;;) {
        const m = c.cstring('mechanism')
        if (m === '') break
        mechanisms.push(m)
      }
      out = { kind: 'SASL', mechanisms }
      break
    }
    case 11: out = { kind: 'SASLContinue', data: c.rest() }; break
    case 12: out = { kind: 'SASLFinal', data: c.rest() }; break
    default:
      throw new ProtocolError('protocol.unsupported', `unknown authentication request ${code}`)
  }
  c.done()
  return out
}

export function decodeParameterStatus(raw: Buffer): { name: string; value: string } {
  const c = open(raw, 'S', 'ParameterStatus')
  const name = c.cstring('name')
  const value = c.cstring('value')
  c.done()
  return { name, value }
}

export function decodeBackendKeyData(raw: Buffer): { processId: number; secretKey: Buffer } {
  const c = open(raw, 'K', 'BackendKeyData')
  const processId = c.int32('process id')
  const secretKey = c.rest()
  if (secretKey.length < 4 || secretKey.length > MAX_CANCEL_KEY_BYTES) {
    throw malformed(`\`BackendKeyData\` message: secret key of ${secretKey.length} bytes, expected 4 to ${MAX_CANCEL_KEY_BYTES}`)
  }
  return { processId, secretKey }
}

export type TransactionStatus = 'I' | 'T' | 'E'

export function decodeReadyForQuery(raw: Buffer): TransactionStatus {
  const c = open(raw, 'Z', 'ReadyForQuery')
  const s = c.uint8('transaction status')
  c.done()
  if (s === 0x49) return 'I'
  if (s === 0x54) return 'T'
  if (s === 0x45) return 'E'
  throw malformed(`\`ReadyForQuery\` message: transaction status ${printable(s)}`)
}

export interface FieldDescription {
  name: string
  /** 0 when the column is not a plain table column. */
  tableOid: number
  columnNumber: number
  typeOid: number
  /** Negative for variable-width types. */
  typeSize: number
  typeModifier: number
  /** 0 = text, 1 = binary. */
  format: number
}

export function decodeRowDescription(raw: Buffer): FieldDescription[] {
  const c = open(raw, 'T', 'RowDescription')
  // Each field is at least a NUL plus 18 bytes.
  const n = c.count16('field count', 19)
  const fields = new Array<FieldDescription>(n)
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: c.cstring('field name'),
      tableOid: c.uint32('table oid'),
      columnNumber: c.int16('column number'),
      typeOid: c.uint32('type oid'),
      typeSize: c.int16('type size'),
      typeModifier: c.int32('type modifier'),
      format: c.int16('format code'),
    }
  }
  c.done()
  return fields
}

/**
 * The values of a DataRow as views into `raw` (no copy), null for SQL NULL.
 * The hot path when masking: one array and one view per field.
 */
export function decodeDataRow(raw: Buffer): (Buffer | null)[] {
  // Hand-rolled rather than through Cursor: this runs once per row, and error
  // text is built only on failure.
  open(raw, 'D', 'DataRow')
  const end = raw.length
  if (end < 7) throw malformed('`DataRow` message: column count needs 2 bytes')
  const n = raw.readUInt16BE(5)
  if (n * 4 > end - 7) throw malformed(`\`DataRow\` message: column count ${n} needs at least ${n * 4} bytes but ${end - 7} remain`)
  const values = new Array<Buffer | null>(n)
  let pos = 7
  for (let i = 0; i < n; i++) {
    if (end - pos < 4) throw malformed(`\`DataRow\` message: value ${i + 1} length needs 4 bytes but ${end - pos} remain`)
    const len = raw.readInt32BE(pos)
    pos += 4
    if (len === -1) {
      values[i] = null
    } else if (len < 0) {
      throw malformed(`\`DataRow\` message: value ${i + 1} has length ${len}`)
    } else if (len > end - pos) {
      throw malformed(`\`DataRow\` message: value ${i + 1} needs ${len} bytes but ${end - pos} remain`)
    } else {
      values[i] = raw.subarray(pos, pos + len)
      pos += len
    }
  }
  if (pos !== end) throw malformed(`\`DataRow\` message: ${end - pos} unexpected trailing bytes`)
  return values
}

export interface CommandComplete {
  /** e.g. `SELECT 3`, `INSERT 0 1`, `CREATE TABLE`. */
  tag: string
  /** The row count at the end of the tag, when the command reports one. */
  rows: number | null
}

const ROW_COUNT_TAG = /^(?:INSERT \d+|SELECT|UPDATE|DELETE|MERGE|FETCH|MOVE|COPY) (\d+)$/

export function decodeCommandComplete(raw: Buffer): CommandComplete {
  const c = open(raw, 'C', 'CommandComplete')
  const tag = c.cstring('command tag')
  c.done()
  const m = ROW_COUNT_TAG.exec(tag)
  return { tag, rows: m ? Number(m[1]) : null }
}

/** ErrorResponse/NoticeResponse fields by name ("Error and Notice Message Fields"). */
export interface NoticeFields {
  /** `S`: localized severity. */
  severity?: string
  /** `V`: severity, never localized. */
  severityName?: string
  /** `C`: SQLSTATE. */
  code?: string
  message?: string
  detail?: string
  hint?: string
  /** `P`: 1-based character position in the query string. */
  position?: string
  internalPosition?: string
  internalQuery?: string
  where?: string
  schema?: string
  table?: string
  column?: string
  dataType?: string
  constraint?: string
  file?: string
  line?: string
  routine?: string
}

export const NOTICE_FIELD_CODES: Record<keyof NoticeFields, string> = {
  severity: 'S', severityName: 'V', code: 'C', message: 'M', detail: 'D', hint: 'H', position: 'P',
  internalPosition: 'p', internalQuery: 'q', where: 'W', schema: 's', table: 't', column: 'c',
  dataType: 'd', constraint: 'n', file: 'F', line: 'L', routine: 'R',
}
const FIELD_NAMES = new Map<number, keyof NoticeFields>(
  Object.entries(NOTICE_FIELD_CODES).map(([name, code]) => [code.charCodeAt(0), name as keyof NoticeFields]),
)

export interface ErrorOrNotice {
  kind: 'ErrorResponse' | 'NoticeResponse'
  fields: NoticeFields
  /** Every field by its one-character code, including ones this layer has no name for (the protocol says to ignore unknown ones). */
  byCode: Map<string, string>
}

export function decodeErrorOrNotice(raw: Buffer): ErrorOrNotice {
  const kind = raw[0] === 0x4e ? 'NoticeResponse' : 'ErrorResponse'
  const c = open(raw, kind === 'NoticeResponse' ? 'N' : 'E', kind)
  const fields: NoticeFields = {}
  const byCode = new Map<string, string>()
  for (;;) {
    const code = c.uint8('field code')
    if (code === 0) break
    const value = c.cstring(`field ${printable(code)}`)
    byCode.set(TYPE_CHARS[code]!, value)
    const name = FIELD_NAMES.get(code)
    if (name !== undefined) fields[name] = value
  }
  c.done()
  return { kind, fields, byCode }
}

export interface CopyResponse {
  kind: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse'
  /** 0 = textual (text or CSV: the message does not say which), 1 = binary. */
  format: number
  columnFormats: number[]
}

export function decodeCopyResponse(raw: Buffer): CopyResponse {
  const t = raw[0]
  const kind = t === 0x47 ? 'CopyInResponse' : t === 0x57 ? 'CopyBothResponse' : 'CopyOutResponse'
  const c = open(raw, kind === 'CopyInResponse' ? 'G' : kind === 'CopyBothResponse' ? 'W' : 'H', kind)
  const format = c.uint8('format')
  if (format > 1) throw malformed(`\`${kind}\` message: format ${format}`)
  const n = c.count16('column count', 2)
  const columnFormats = new Array<number>(n)
  for (let i = 0; i < n; i++) {
    const f = c.int16('column format')
    if (f !== 0 && f !== 1) throw malformed(`\`${kind}\` message: column format ${f}`)
    columnFormats[i] = f
  }
  c.done()
  return { kind, format, columnFormats }
}

export function decodeNotification(raw: Buffer): { processId: number; channel: string; payload: string } {
  const c = open(raw, 'A', 'NotificationResponse')
  const processId = c.int32('process id')
  const channel = c.cstring('channel')
  const payload = c.cstring('payload')
  c.done()
  return { processId, channel, payload }
}

export function decodeParameterDescription(raw: Buffer): number[] {
  const c = open(raw, 't', 'ParameterDescription')
  const n = c.count16('parameter count', 4)
  const oids = new Array<number>(n)
  for (let i = 0; i < n; i++) oids[i] = c.uint32('parameter type')
  c.done()
  return oids
}

export function decodeNegotiateProtocolVersion(raw: Buffer): { newestMinor: number; unrecognizedOptions: string[] } {
  const c = open(raw, 'v', 'NegotiateProtocolVersion')
  const newestMinor = c.int32('newest minor version')
  const n = c.int32('option count')
  if (n < 0 || n > c.remaining) throw malformed(`\`NegotiateProtocolVersion\` message: option count ${n}`)
  const unrecognizedOptions: string[] = []
  for (let i = 0; i < n; i++) unrecognizedOptions.push(c.cstring('option name'))
  c.done()
  return { newestMinor, unrecognizedOptions }
}

/** A CopyData payload (a view into `raw`). */
export function decodeCopyData(raw: Buffer): Buffer {
  return open(raw, 'd', 'CopyData').rest()
}
