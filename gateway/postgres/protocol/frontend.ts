// Client → server bytes into messages (PostgreSQL protocol 3, "Message
// Formats" and "Message Flow" pages). No I/O: the session pushes what the
// socket delivered and gets whole, parsed messages, each with `raw`, a view
// of the exact bytes received so an allowed message is forwarded unchanged.
//
// Phases follow "Message Flow / Start-up": packets without a type byte until
// a StartupMessage, typed messages after it. An SSLRequest or GSSENCRequest
// pauses the reader: the session answers it, performs the handshake if any,
// and calls `expectStartup()` before pushing more. A CancelRequest or
// Terminate closes it.
import { Cursor } from './cursor.js'
import { ProtocolError, malformed } from './errors.js'
import { Framer, checkCap, printable } from './framer.js'

/** Request codes of the untyped startup-phase packets ("Message Formats"). */
export const PROTOCOL_3 = 3
export const CANCEL_REQUEST_CODE = 80877102
export const SSL_REQUEST_CODE = 80877103
export const GSSENC_REQUEST_CODE = 80877104
/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
export const MAX_STARTUP_PACKET_BYTES = 10000
/** Protocol 3.2 cancel keys are 4 to 256 bytes ("Message Formats / BackendKeyData"). */
export const MAX_CANCEL_KEY_BYTES = 256

export interface StartupMessage {
  kind: 'StartupMessage'
  raw: Buffer
  majorVersion: number
  minorVersion: number
  /** In the order sent. Duplicate names are rejected (PostgreSQL would take the last one; a gateway reading the first would decide on a value the server never uses). */
  parameters: Map<string, string>
}
export interface SSLRequest { kind: 'SSLRequest'; raw: Buffer }
export interface GSSENCRequest { kind: 'GSSENCRequest'; raw: Buffer }
export interface CancelRequest {
  kind: 'CancelRequest'
  raw: Buffer
  processId: number
  /** 4 bytes in protocol 3.0, up to 256 in 3.2. */
  secretKey: Buffer
}
export interface Query { kind: 'Query'; raw: Buffer; sql: string }
export interface Parse { kind: 'Parse'; raw: Buffer; name: string; query: string; paramTypes: number[] }
export interface Bind {
  kind: 'Bind'
  raw: Buffer
  portal: string
  statement: string
  /** 0 = text, 1 = binary; empty = all text, one = applies to all ("Message Formats / Bind"). */
  paramFormats: number[]
  /** Views into `raw`; null is SQL NULL. */
  params: (Buffer | null)[]
  resultFormats: number[]
}
export interface Describe { kind: 'Describe'; raw: Buffer; target: 'S' | 'P'; name: string }
export interface Execute { kind: 'Execute'; raw: Buffer; portal: string; maxRows: number }
export interface Close { kind: 'Close'; raw: Buffer; target: 'S' | 'P'; name: string }
export interface Sync { kind: 'Sync'; raw: Buffer }
export interface Flush { kind: 'Flush'; raw: Buffer }
export interface Terminate { kind: 'Terminate'; raw: Buffer }
export interface CopyData { kind: 'CopyData'; raw: Buffer; data: Buffer }
export interface CopyDone { kind: 'CopyDone'; raw: Buffer }
export interface CopyFail { kind: 'CopyFail'; raw: Buffer; message: string }
/** Identified only: the gateway refuses the fast-path interface. */
export interface FunctionCall { kind: 'FunctionCall'; raw: Buffer }
/**
 * `p`: PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse. Which
 * one depends on the authentication request the server sent last, so only the
 * payload is kept; see `parseSaslInitialResponse` and `parsePasswordMessage`.
 */
export interface AuthenticationResponse { kind: 'AuthenticationResponse'; raw: Buffer; payload: Buffer }

export type StartupPhaseMessage = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest
export type TypedFrontendMessage =
  | Query | Parse | Bind | Describe | Execute | Close | Sync | Flush | Terminate
  | CopyData | CopyDone | CopyFail | FunctionCall | AuthenticationResponse
export type FrontendMessage = StartupPhaseMessage | TypedFrontendMessage

/**
 * - `startup`: untyped packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest)
 * - `negotiating`: an SSLRequest/GSSENCRequest awaits the session's answer; pushing data is an error
 * - `typed`: after the StartupMessage
 * - `closed`: after a CancelRequest or Terminate; pushing data is an error
 */
export type FrontendPhase = 'startup' | 'negotiating' | 'typed' | 'closed'

export interface FrontendReaderOptions {
  /** Largest accepted typed-message length field. Lower it before authentication (PostgreSQL caps auth messages at 65,535). */
  maxMessageBytes: number
  /** Defaults to PostgreSQL's 10,000. */
  maxStartupBytes?: number
}

export interface FrontendReader {
  /**
   * Parses what the socket delivered. Returns the messages completed by this
   * chunk, in order (possibly none). Throws a ProtocolError, and nothing else,
   * on bad input; after that the reader is failed and rethrows on every push.
   * Messages that lie whole in `chunk` are views into it: do not reuse or modify it afterwards.
   */
  push(chunk: Buffer): FrontendMessage[]
  /** After answering an SSLRequest/GSSENCRequest (and any handshake): the next packet is untyped again. */
  expectStartup(): void
  /** Adjusts the cap, e.g. raised once the client is authenticated. */
  setMaxMessageBytes(bytes: number): void
  /**
   * Caps Query and Parse messages so that SQL text longer than `bytes` is
   * refused from its length field, before any of it is buffered.
   */
  setMaxStatementBytes(bytes: number): void
  readonly phase: FrontendPhase
  /** Bytes held for an incomplete message (bounded by the cap). */
  readonly bufferedBytes: number
}

export function createFrontendReader(options: FrontendReaderOptions): FrontendReader {
  const framer = new Framer(
    {
      maxMessageBytes: checkCap('maxMessageBytes', options.maxMessageBytes),
      maxStartupBytes: checkCap('maxStartupBytes', options.maxStartupBytes ?? MAX_STARTUP_PACKET_BYTES),
    },
    'frontend',
  )
  let phase: FrontendPhase = 'startup'
  let failure: ProtocolError | undefined

  function fail(error: unknown): never {
    if (error instanceof ProtocolError) failure = error
    throw error
  }

  function pushChunk(chunk: Buffer): FrontendMessage[] {
    if (phase === 'negotiating' || phase === 'closed') {
      if (chunk.length === 0) return []
      throw new ProtocolError('protocol.unexpected', phase === 'closed'
        ? 'data received after the connection was closed by CancelRequest or Terminate'
        : 'data received before the answer to SSLRequest/GSSENCRequest')
    }
    framer.feed(chunk)
    const out: FrontendMessage[] = []
    for (;;) {
      const raw = framer.next()
      if (raw === undefined) break
      if (phase === 'startup') {
        const message = parseStartupPacket(raw)
        out.push(message)
        if (message.kind === 'StartupMessage') {
          phase = 'typed'
          framer.typed = true
        } else {
          phase = message.kind === 'CancelRequest' ? 'closed' : 'negotiating'
          if (framer.hasUnread) {
            // CVE-2021-23214: bytes pipelined after SSLRequest would be taken
            // as if they had come through the encrypted channel.
            throw new ProtocolError('protocol.unexpected', `unexpected data after ${message.kind}`)
          }
          break
        }
      } else {
        const message = parseTypedMessage(raw)
        out.push(message)
        if (message.kind === 'Terminate') {
          phase = 'closed'
          if (framer.hasUnread) throw new ProtocolError('protocol.unexpected', 'data received after Terminate')
          break
        }
      }
    }
    return out
  }

  return {
    push(chunk) {
      if (failure) throw failure
      try {
        return pushChunk(chunk)
      } catch (error) {
        return fail(error)
      }
    },
    expectStartup() {
      if (failure) throw failure
      // Calling it at another time is the session's bug, not the peer's.
      if (phase !== 'negotiating') throw new Error(`expectStartup() called in phase \`${phase}\`; only after SSLRequest/GSSENCRequest`)
      phase = 'startup'
      framer.typed = false
    },
    setMaxMessageBytes(bytes) {
      framer.limits = { ...framer.limits, maxMessageBytes: checkCap('maxMessageBytes', bytes) }
    },
    setMaxStatementBytes(bytes) {
      const what = `for a statement of at most ${bytes} bytes (limits.maxStatementBytes)`
      // Length field, text and its NUL; Parse adds a statement name (NAMEDATALEN is 64, clients may send more) and up to 65,535 parameter types.
      const query = checkCap('maxStatementBytes', bytes + 4 + 1)
      const parse = checkCap('maxStatementBytes', bytes + 4 + 1 + 1024 + 2 + 4 * 65_535)
      framer.limits = { ...framer.limits, byType: { [0x51]: { maxMessageBytes: query, what }, [0x50]: { maxMessageBytes: parse, what } } }
    },
    get phase() {
      return phase
    },
    get bufferedBytes() {
      return framer.bufferedBytes
    },
  }
}

/** One untyped packet (length already checked by the framer): length, then a 32-bit protocol version or request code. */
function parseStartupPacket(raw: Buffer): StartupPhaseMessage {
  const code = raw.readInt32BE(4)
  const major = code >>> 16
  const minor = code & 0xffff
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    const kind = code === SSL_REQUEST_CODE ? 'SSLRequest' : 'GSSENCRequest'
    if (raw.length !== 8) throw malformed(`\`${kind}\` packet: length ${raw.length}, expected 8`)
    return { kind, raw }
  }
  if (code === CANCEL_REQUEST_CODE) {
    const keyBytes = raw.length - 12
    if (keyBytes < 4 || keyBytes > MAX_CANCEL_KEY_BYTES) {
      throw malformed(`\`CancelRequest\` packet: secret key of ${keyBytes} bytes, expected 4 to ${MAX_CANCEL_KEY_BYTES}`)
    }
    return { kind: 'CancelRequest', raw, processId: raw.readInt32BE(8), secretKey: raw.subarray(12) }
  }
  if (major !== PROTOCOL_3) {
    throw new ProtocolError('protocol.unsupported', `unsupported frontend protocol ${major}.${minor} or request code ${code}`)
  }
  // "Message Formats / StartupMessage": name/value string pairs, then a zero byte.
  const c = new Cursor(raw, 8, raw.length, 'StartupMessage')
  const parameters = new Map<string, string>()
  for (;;) {
    const name = c.cstring('parameter name')
    if (name === '') break
    if (parameters.has(name)) throw malformed(`\`StartupMessage\` packet: parameter \`${name}\` appears twice`)
    parameters.set(name, c.cstring(`value of \`${name}\``))
  }
  c.done()
  return { kind: 'StartupMessage', raw, majorVersion: major, minorVersion: minor, parameters }
}

function target(c: Cursor): 'S' | 'P' {
  const t = c.uint8('target')
  if (t === 0x53) return 'S'
  if (t === 0x50) return 'P'
  throw malformed(`\`${c.what}\` message: target ${printable(t)} is neither \`S\` nor \`P\``)
}

function formatCodes(c: Cursor, field: string): number[] {
  const n = c.count16(`${field} count`, 2)
  const codes = new Array<number>(n)
  for (let i = 0; i < n; i++) {
    const f = c.int16(field)
    // PostgreSQL rejects other codes later; this layer rejects them here so
    // nothing downstream has to consider a third format.
    if (f !== 0 && f !== 1) throw malformed(`\`${c.what}\` message: ${field} ${f} is neither 0 (text) nor 1 (binary)`)
    codes[i] = f
  }
  return codes
}

function empty(raw: Buffer, kind: 'Sync' | 'Flush' | 'Terminate' | 'CopyDone'): Sync | Flush | Terminate | CopyDone {
  if (raw.length !== 5) throw malformed(`\`${kind}\` message: length ${raw.length - 1}, expected 4`)
  return { kind, raw }
}

/** One typed message; `raw` is a whole message whose length field the framer has checked. */
function parseTypedMessage(raw: Buffer): TypedFrontendMessage {
  const type = raw[0]!
  switch (type) {
    case 0x51: { // Q
      const c = new Cursor(raw, 5, raw.length, 'Query')
      const sql = c.cstring('query string')
      c.done()
      return { kind: 'Query', raw, sql }
    }
    case 0x50: { // P
      const c = new Cursor(raw, 5, raw.length, 'Parse')
      const name = c.cstring('statement name')
      const query = c.cstring('query string')
      const n = c.count16('parameter type count', 4)
      const paramTypes = new Array<number>(n)
      for (let i = 0; i < n; i++) paramTypes[i] = c.uint32('parameter type')
      c.done()
      return { kind: 'Parse', raw, name, query, paramTypes }
    }
    case 0x42: { // B
      const c = new Cursor(raw, 5, raw.length, 'Bind')
      const portal = c.cstring('portal name')
      const statement = c.cstring('statement name')
      const paramFormats = formatCodes(c, 'parameter format')
      const n = c.count16('parameter count', 4)
      if (paramFormats.length > 1 && paramFormats.length !== n) {
        throw malformed(`\`Bind\` message: ${paramFormats.length} parameter formats for ${n} parameters`)
      }
      const params = new Array<Buffer | null>(n)
      for (let i = 0; i < n; i++) {
        const len = c.int32('parameter length')
        if (len === -1) params[i] = null
        else if (len < 0) throw malformed(`\`Bind\` message: parameter ${i + 1} has length ${len}`)
        else params[i] = c.bytes(len, `parameter ${i + 1}`)
      }
      const resultFormats = formatCodes(c, 'result format')
      c.done()
      return { kind: 'Bind', raw, portal, statement, paramFormats, params, resultFormats }
    }
    case 0x44: // D
    case 0x43: { // C
      const kind = type === 0x44 ? 'Describe' : 'Close'
      const c = new Cursor(raw, 5, raw.length, kind)
      const t = target(c)
      const name = c.cstring('name')
      c.done()
      return { kind, raw, target: t, name }
    }
    case 0x45: { // E
      const c = new Cursor(raw, 5, raw.length, 'Execute')
      const portal = c.cstring('portal name')
      const maxRows = c.int32('row limit')
      c.done()
      return { kind: 'Execute', raw, portal, maxRows }
    }
    case 0x53: return empty(raw, 'Sync') // S
    case 0x48: return empty(raw, 'Flush') // H
    case 0x58: return empty(raw, 'Terminate') // X
    case 0x63: return empty(raw, 'CopyDone') // c
    case 0x64: return { kind: 'CopyData', raw, data: raw.subarray(5) } // d
    case 0x66: { // f
      const c = new Cursor(raw, 5, raw.length, 'CopyFail')
      const message = c.cstring('error message')
      c.done()
      return { kind: 'CopyFail', raw, message }
    }
    case 0x46: return { kind: 'FunctionCall', raw } // F
    case 0x70: return { kind: 'AuthenticationResponse', raw, payload: raw.subarray(5) } // p
    default:
      throw new ProtocolError('protocol.unexpected', `unknown frontend message type ${printable(type)}`)
  }
}

export interface SaslInitialResponse {
  mechanism: string
  /** null when the client sent length -1 (no initial response). */
  data: Buffer | null
}

/** "Message Formats / SASLInitialResponse": mechanism name, Int32 length (-1 = none), data. */
export function parseSaslInitialResponse(payload: Buffer): SaslInitialResponse {
  const c = new Cursor(payload, 0, payload.length, 'SASLInitialResponse')
  const mechanism = c.cstring('mechanism')
  const len = c.int32('data length')
  let data: Buffer | null = null
  if (len !== -1) {
    if (len < 0) throw malformed(`\`SASLInitialResponse\` message: data length ${len}`)
    data = c.bytes(len, 'data')
  }
  c.done()
  return { mechanism, data }
}

/** "Message Formats / PasswordMessage": one NUL-terminated string (cleartext or `md5…`). */
export function parsePasswordMessage(payload: Buffer): string {
  const c = new Cursor(payload, 0, payload.length, 'PasswordMessage')
  const password = c.cstring('password')
  c.done()
  return password
}

/** SASLResponse carries the mechanism's bytes as they are: the payload itself. */
export function parseSaslResponse(payload: Buffer): Buffer {
  return payload
}
