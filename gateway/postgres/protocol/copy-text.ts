// The textual COPY formats, so values in `COPY … TO STDOUT` (and FROM STDIN)
// can be masked: split a CopyData payload into rows and fields, decode to the
// real values, and encode them back ("COPY / File Formats" in the PostgreSQL
// manual; the logic mirrors copyfromparse.c and copyto.c).
//
// Text or CSV? The CopyOutResponse only says "textual", so the caller, which
// parsed the COPY statement, passes the format and any DELIMITER/NULL/QUOTE/
// ESCAPE options.
//
// Rows and messages: for COPY TO, PostgreSQL sends exactly one row per
// CopyData message (copyto.c flushes after every row), and `decodeCopyRows`
// relies on that only in this sense: a payload must hold whole rows (one or
// more). A payload that ends inside a row, as a client's COPY FROM stream may,
// is reported as `partial_row`, not guessed at: the caller then passes it
// through unchanged and records that masking could not be applied (or, where
// a masked column is involved, fails the statement — the safe choice).
// Nothing is carried between calls, so memory is bounded by one message.
//
// Values are strings (UTF-8: the gateway pins client_encoding to UTF8);
// escapes that decode to invalid UTF-8 are reported, not replaced.
import { Buffer } from 'node:buffer'

export type CopyTextFormat = 'text' | 'csv'

export interface CopyTextOptions {
  format: CopyTextFormat
  /** One single-byte character; default tab (text) or comma (CSV). */
  delimiter?: string
  /** Default `\N` (text) or the empty string (CSV). */
  null?: string
  /** CSV only; default `"`. */
  quote?: string
  /** CSV only; default the quote character. */
  escape?: string
}

export type CopyValue = string | null
export type LineEnding = '\n' | '\r\n'

export type CopyDecodeFailure =
  /** The payload does not end at a row boundary. */
  | 'partial_row'
  /** Bytes after a `\.` end-of-data line (the server ignores them). */
  | 'after_end_marker'
  /** A field that is not valid UTF-8 once decoded. */
  | 'invalid_utf8'
  /** A bare carriage return, or options this module cannot use. */
  | 'malformed'

export type CopyDecodeResult =
  | {
      ok: true
      rows: CopyValue[][]
      lineEnding: LineEnding
      /** The payload ended with the `\.` line psql sends after COPY FROM STDIN data (not part of `rows`). */
      endMarker: boolean
    }
  | { ok: false; reason: CopyDecodeFailure; message: string }

const BACKSLASH = 0x5c
const LF = 0x0a
const CR = 0x0d

interface Resolved {
  csv: boolean
  delimiter: number
  nullBytes: Buffer
  quote: number
  escape: number
}

function resolve(options: CopyTextOptions): Resolved | string {
  const csv = options.format === 'csv'
  const delimiter = options.delimiter ?? (csv ? ',' : '\t')
  const quote = options.quote ?? '"'
  const escape = options.escape ?? quote
  for (const [name, value] of [['delimiter', delimiter], ['quote', quote], ['escape', escape]] as const) {
    if (value.length !== 1 || value.charCodeAt(0) > 0x7f) return `${name} must be one single-byte character`
  }
  const d = delimiter.charCodeAt(0)
  if (d === LF || d === CR || (!csv && d === BACKSLASH)) return 'delimiter cannot be newline, carriage return or (text) backslash'
  return {
    csv,
    delimiter: d,
    nullBytes: Buffer.from(options.null ?? (csv ? '' : '\\N'), 'utf8'),
    quote: quote.charCodeAt(0),
    escape: escape.charCodeAt(0),
  }
}

const fail = (reason: CopyDecodeFailure, message: string): CopyDecodeResult => ({ ok: false, reason, message })

class Invalid extends Error {
  constructor(readonly reason: CopyDecodeFailure, message: string) {
    super(message)
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })
function text(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes)
  } catch {
    throw new Invalid('invalid_utf8', 'a COPY value is not valid UTF-8')
  }
}

/** Splits a CopyData payload into rows of decoded values. */
export function decodeCopyRows(payload: Buffer, options: CopyTextOptions): CopyDecodeResult {
  const o = resolve(options)
  if (typeof o === 'string') return fail('malformed', o)
  try {
    return o.csv ? decodeCsv(payload, o) : decodeText(payload, o)
  } catch (error) {
    if (error instanceof Invalid) return fail(error.reason, error.message)
    throw error
  }
}

function isEndMarker(payload: Buffer, start: number, end: number): boolean {
  return end - start === 2 && payload[start] === BACKSLASH && payload[start + 1] === 0x2e
}

function decodeText(payload: Buffer, o: Resolved): CopyDecodeResult {
  const rows: CopyValue[][] = []
  let lineEnding: LineEnding = '\n'
  let row: CopyValue[] = []
  let fieldStart = 0
  let escaped = false
  let i = 0
  const n = payload.length
  while (i < n) {
    const b = payload[i]!
    if (b === BACKSLASH) {
      // The escaped byte never ends a field or a line (copyfromparse.c skips it).
      if (i + 1 >= n) return fail('partial_row', 'payload ends inside an escape')
      escaped = true
      i += 2
      continue
    }
    if (b === o.delimiter) {
      row.push(textField(payload, fieldStart, i, escaped, o))
      escaped = false
      fieldStart = ++i
      continue
    }
    if (b === LF || b === CR) {
      let lineEnd = i
      if (b === CR) {
        if (payload[i + 1] !== LF) {
          return i + 1 >= n ? fail('partial_row', 'payload ends after a carriage return') : fail('malformed', 'literal carriage return in text COPY data')
        }
        lineEnding = '\r\n'
        i++
      }
      if (row.length === 0 && isEndMarker(payload, fieldStart, lineEnd)) return endOfData(rows, lineEnding, i + 1, n)
      row.push(textField(payload, fieldStart, lineEnd, escaped, o))
      rows.push(row)
      row = []
      escaped = false
      fieldStart = ++i
      continue
    }
    i++
  }
  if (fieldStart !== n || row.length > 0) {
    if (row.length === 0 && isEndMarker(payload, fieldStart, n)) return endOfData(rows, lineEnding, n, n)
    return fail('partial_row', 'payload does not end with a newline')
  }
  return { ok: true, rows, lineEnding, endMarker: false }
}

function endOfData(rows: CopyValue[][], lineEnding: LineEnding, next: number, end: number): CopyDecodeResult {
  if (next < end) return fail('after_end_marker', 'data after the end-of-data marker `\\.`')
  return { ok: true, rows, lineEnding, endMarker: true }
}

function isOctal(b: number | undefined): b is number {
  return b !== undefined && b >= 0x30 && b <= 0x37
}
function hexValue(b: number | undefined): number {
  if (b === undefined) return -1
  if (b >= 0x30 && b <= 0x39) return b - 0x30
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10
  return -1
}

const NAMED_ESCAPES: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: LF, 0x72: CR, 0x74: 0x09, 0x76: 0x0b }

function textField(payload: Buffer, start: number, end: number, escaped: boolean, o: Resolved): CopyValue {
  // NULL is recognised on the raw text, before de-escaping: `\N` is NULL, `\\N` the string `\N`.
  if (end - start === o.nullBytes.length && payload.compare(o.nullBytes, 0, o.nullBytes.length, start, end) === 0) return null
  if (!escaped) return text(payload.subarray(start, end))
  const out = Buffer.allocUnsafe(end - start)
  let len = 0
  let i = start
  while (i < end) {
    const b = payload[i++]!
    if (b !== BACKSLASH || i >= end) {
      out[len++] = b
      continue
    }
    const c = payload[i++]!
    if (isOctal(c)) {
      let v = c - 0x30
      if (i < end && isOctal(payload[i])) {
        v = v * 8 + payload[i++]! - 0x30
        if (i < end && isOctal(payload[i])) v = v * 8 + payload[i++]! - 0x30
      }
      out[len++] = v & 0xff
    } else if (c === 0x78 && i < end && hexValue(payload[i]) >= 0) {
      let v = hexValue(payload[i++])
      if (i < end && hexValue(payload[i]) >= 0) v = v * 16 + hexValue(payload[i++])
      out[len++] = v
    } else {
      out[len++] = NAMED_ESCAPES[c] ?? c
    }
  }
  return text(out.subarray(0, len))
}

function decodeCsv(payload: Buffer, o: Resolved): CopyDecodeResult {
  const rows: CopyValue[][] = []
  let lineEnding: LineEnding = '\n'
  let row: CopyValue[] = []
  const n = payload.length
  let i = 0
  const value: number[] = []
  while (i < n) {
    // One field: unquoted bytes and quoted sections, up to a delimiter or line end.
    const fieldStart = i
    let quoted = false
    value.length = 0
    let end: 'delimiter' | 'line' | 'eof' = 'eof'
    while (i < n) {
      const b = payload[i]!
      if (b === o.quote) {
        quoted = true
        i++
        for (;;) {
          if (i >= n) return fail('partial_row', 'payload ends inside a quoted CSV value')
          const q = payload[i]!
          if (q === o.escape && i + 1 < n && (payload[i + 1] === o.quote || payload[i + 1] === o.escape) && !(o.escape === o.quote && payload[i + 1] !== o.quote)) {
            value.push(payload[i + 1]!)
            i += 2
          } else if (q === o.quote) {
            i++
            break
          } else {
            value.push(q)
            i++
          }
        }
        continue
      }
      if (b === o.delimiter) { end = 'delimiter'; break }
      if (b === LF) { end = 'line'; break }
      if (b === CR) {
        if (payload[i + 1] !== LF) {
          return i + 1 >= n ? fail('partial_row', 'payload ends after a carriage return') : fail('malformed', 'unquoted carriage return in CSV data')
        }
        lineEnding = '\r\n'
        end = 'line'
        break
      }
      value.push(b)
      i++
    }
    const fieldEnd = i
    if (row.length === 0 && !quoted && end !== 'delimiter' && isEndMarker(payload, fieldStart, fieldEnd)) {
      return endOfData(rows, lineEnding, fieldEnd + (payload[fieldEnd] === CR ? 2 : end === 'line' ? 1 : 0), n)
    }
    if (end === 'eof') return fail('partial_row', 'payload does not end with a newline')
    // Only an unquoted field can be NULL: `""` is the empty string.
    const isNull = !quoted && fieldEnd - fieldStart === o.nullBytes.length &&
      payload.compare(o.nullBytes, 0, o.nullBytes.length, fieldStart, fieldEnd) === 0
    row.push(isNull ? null : quoted ? text(Uint8Array.from(value)) : text(payload.subarray(fieldStart, fieldEnd)))
    i += end === 'line' && payload[i] === CR ? 2 : 1
    if (end === 'line') {
      rows.push(row)
      row = []
    } else if (i >= n) {
      return fail('partial_row', 'payload ends after a delimiter')
    }
  }
  return { ok: true, rows, lineEnding, endMarker: false }
}

export interface EncodeCopyOptions {
  lineEnding?: LineEnding
  /** Appends the `\.` line, to give back what `decodeCopyRows` reported. */
  endMarker?: boolean
}

/** Encodes rows as PostgreSQL's COPY TO would, each ending with `lineEnding`. */
export function encodeCopyRows(rows: readonly (readonly CopyValue[])[], options: CopyTextOptions, encode: EncodeCopyOptions = {}): Buffer {
  const lineEnding = encode.lineEnding ?? '\n'
  const o = resolve(options)
  if (typeof o === 'string') throw new RangeError(`COPY options: ${o}`)
  const parts: Buffer[] = []
  const delimiter = Buffer.from([o.delimiter])
  const eol = Buffer.from(lineEnding, 'latin1')
  for (const row of rows) {
    row.forEach((value, index) => {
      if (index > 0) parts.push(delimiter)
      parts.push(o.csv ? csvField(value, o) : textValue(value, o))
    })
    parts.push(eol)
  }
  if (encode.endMarker === true) parts.push(Buffer.from('\\.'), eol)
  return Buffer.concat(parts)
}

const TEXT_ESCAPES: Record<number, number> = { 0x08: 0x62, 0x0c: 0x66, [LF]: 0x6e, [CR]: 0x72, 0x09: 0x74, 0x0b: 0x76 }

function textValue(value: CopyValue, o: Resolved): Buffer {
  if (value === null) return o.nullBytes
  const src = Buffer.from(value, 'utf8')
  let extra = 0
  for (const b of src) if (b === BACKSLASH || b === o.delimiter || TEXT_ESCAPES[b] !== undefined) extra++
  if (extra === 0) return src
  const out = Buffer.allocUnsafe(src.length + extra)
  let j = 0
  for (const b of src) {
    const named = TEXT_ESCAPES[b]
    if (named !== undefined) {
      out[j++] = BACKSLASH
      out[j++] = named
    } else if (b === BACKSLASH || b === o.delimiter) {
      out[j++] = BACKSLASH
      out[j++] = b
    } else {
      out[j++] = b
    }
  }
  return out.subarray(0, j)
}

function csvField(value: CopyValue, o: Resolved): Buffer {
  if (value === null) return o.nullBytes
  const src = Buffer.from(value, 'utf8')
  // copyto.c quotes a value equal to the NULL string, and one holding the
  // delimiter, quote, CR or LF; `\.` is quoted too so it is never read as the end marker.
  let needsQuote = src.equals(o.nullBytes) || value === '\\.'
  let extra = 0
  for (const b of src) {
    if (b === o.delimiter || b === LF || b === CR) needsQuote = true
    else if (b === o.quote || b === o.escape) {
      needsQuote = needsQuote || b === o.quote
      extra++
    }
  }
  if (!needsQuote) return src
  const out = Buffer.allocUnsafe(src.length + extra + 2)
  let j = 0
  out[j++] = o.quote
  for (const b of src) {
    if (b === o.quote || b === o.escape) out[j++] = o.escape
    out[j++] = b
  }
  out[j++] = o.quote
  return out.subarray(0, j)
}
