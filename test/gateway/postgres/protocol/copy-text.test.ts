// COPY text and CSV rows: awkward values survive a round trip, and the rows
// a real server sent decode as expected.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBackendReader, decodeCopyData, readEncryptionResponse } from '../../../../gateway/postgres/protocol/backend.js'
import { decodeCopyRows, encodeCopyRows, type CopyTextOptions, type CopyValue } from '../../../../gateway/postgres/protocol/copy-text.js'
import { createFrontendReader } from '../../../../gateway/postgres/protocol/frontend.js'
import { createRng, loadFixture, randomInt } from './helpers.js'

const TEXT: CopyTextOptions = { format: 'text' }
const CSV: CopyTextOptions = { format: 'csv' }

const awkward: CopyValue[][] = [
  ['plain', 'tab\there', 'new\nline', 'carriage\rreturn', 'crlf\r\n'],
  ['back\\slash', '\\N', null, '', 'ünïcödé ✓ 𝄞'],
  ['"quoted"', 'a,b', "it's", '\\.', ' lead and trail '],
  ['\b\f\v\x01\x7f', '\\', '\\\\N', 'N', '\\x41'],
  [null, null, null, null, ''],
]

function roundTrip(rows: CopyValue[][], options: CopyTextOptions, lineEnding: '\n' | '\r\n' = '\n'): void {
  const encoded = encodeCopyRows(rows, options, { lineEnding })
  const decoded = decodeCopyRows(encoded, options)
  assert.deepEqual(decoded, { ok: true, rows, lineEnding, endMarker: false }, encoded.toString('latin1'))
}

describe('copy text format', () => {
  it('round-trips awkward values, NULL apart from the string `\\N`', () => {
    roundTrip(awkward, TEXT)
    roundTrip(awkward, TEXT, '\r\n')
    roundTrip(awkward, { format: 'text', delimiter: '|', null: 'NULL' })
    roundTrip([['x']], TEXT)
  })

  it('encodes as PostgreSQL does', () => {
    assert.equal(encodeCopyRows([['tab\there', null, '\\N', 'a\nb']], TEXT).toString(), 'tab\\there\t\\N\t\\\\N\ta\\nb\n')
    assert.equal(encodeCopyRows([['a|b', '\t']], { format: 'text', delimiter: '|' }).toString(), 'a\\|b|\\t\n')
  })

  it('decodes escapes to the real value: named, octal, hex, and others literally', () => {
    const result = decodeCopyRows(Buffer.from('\\101\\x42\\x4g\\7\\b\\f\\v\\r\\n\\t\\\\\\q\\N\t\\N\tx\\N\n'), TEXT)
    assert.deepEqual(result, { ok: true, rows: [['AB\x04g\x07\b\f\v\r\n\t\\qN', null, 'xN']], lineEnding: '\n', endMarker: false })
    assert.deepEqual(decodeCopyRows(Buffer.from('\\x\n'), TEXT), { ok: true, rows: [['x']], lineEnding: '\n', endMarker: false })
    const escapedNewline = decodeCopyRows(Buffer.from('a\\\nb\n'), TEXT)
    assert.deepEqual(escapedNewline, { ok: true, rows: [['a\nb']], lineEnding: '\n', endMarker: false }, 'a backslash-newline does not end the row')
  })

  it('decodes the rows PostgreSQL sent for COPY TO STDOUT, one per CopyData', () => {
    const { backend } = loadFixture('psql-session')
    const messages = createBackendReader({ maxMessageBytes: 1 << 20 }).push(readEncryptionResponse(backend).rest)
    const payloads = messages.filter((m) => m.type === 'd').map((m) => decodeCopyData(m.raw))
    const text = payloads.slice(0, 2).map((p) => decodeCopyRows(p, TEXT))
    assert.deepEqual(text, [
      { ok: true, rows: [['1', 'ada@example.com', 'tab\there', '10.50']], lineEnding: '\n', endMarker: false },
      { ok: true, rows: [['2', 'bob@example.com', null, '-3.00']], lineEnding: '\n', endMarker: false },
    ])
    const csv = payloads.slice(2).map((p) => decodeCopyRows(p, CSV))
    assert.deepEqual(csv.map((r) => (r.ok ? r.rows : r)), [
      [['id', 'email', 'note', 'balance']], [['1', 'ada@example.com', 'tab\there', '10.50']], [['2', 'bob@example.com', null, '-3.00']],
    ])
    // Re-encoding gives back the server's bytes exactly.
    text.forEach((r, i) => {
      assert.ok(r.ok)
      assert.deepStrictEqual(encodeCopyRows(r.rows, TEXT), payloads[i])
    })
    csv.forEach((r, i) => {
      assert.ok(r.ok)
      assert.deepStrictEqual(encodeCopyRows(r.rows, CSV), payloads[i + 2])
    })
  })

  it('decodes the several rows and `\\.` psql sent for COPY FROM STDIN, and gives them back', () => {
    const { frontend } = loadFixture('psql-session')
    const reader = createFrontendReader({ maxMessageBytes: 1 << 20 })
    reader.push(frontend.subarray(0, 8))
    reader.expectStartup()
    const data = reader.push(frontend.subarray(8)).find((m) => m.kind === 'CopyData')
    assert.ok(data?.kind === 'CopyData')
    const result = decodeCopyRows(data.data, TEXT)
    assert.deepEqual(result, { ok: true, rows: [['3', 'carol@example.com'], ['4', 'dan\\@example.com']], lineEnding: '\n', endMarker: true })
    assert.ok(result.ok)
    assert.deepStrictEqual(encodeCopyRows(result.rows, TEXT, { endMarker: true }), data.data)
  })

  it('reports, rather than guesses at, rows split across CopyData messages', () => {
    for (const partial of ['1\tada', '1\t', 'x\\', 'a\r', '1\tab\n2\tcd']) {
      const result = decodeCopyRows(Buffer.from(partial), TEXT)
      assert.equal(result.ok ? 'ok' : result.reason, 'partial_row', partial)
    }
    assert.equal(decodeCopyRows(Buffer.alloc(0), TEXT).ok, true)
    const after = decodeCopyRows(Buffer.from('\\.\nmore\n'), TEXT)
    assert.equal(after.ok ? 'ok' : after.reason, 'after_end_marker')
    const bad = decodeCopyRows(Buffer.from('a\rb\n'), TEXT)
    assert.equal(bad.ok ? 'ok' : bad.reason, 'malformed')
    const utf = decodeCopyRows(Buffer.from('\\377\n'), TEXT)
    assert.equal(utf.ok ? 'ok' : utf.reason, 'invalid_utf8')
  })
})

describe('copy csv format', () => {
  it('round-trips awkward values, NULL apart from the empty string', () => {
    roundTrip(awkward, CSV)
    roundTrip(awkward, CSV, '\r\n')
    roundTrip(awkward, { format: 'csv', delimiter: ';', quote: "'", escape: '\\', null: 'NULL' })
    roundTrip(awkward, { format: 'csv', delimiter: '\t' })
  })

  it('encodes as PostgreSQL does', () => {
    assert.equal(encodeCopyRows([['a', null, '', 'x,y', 'say "hi"', 'two\nlines', '\\.']], CSV).toString(), 'a,,"","x,y","say ""hi""","two\nlines","\\."\n')
    assert.equal(encodeCopyRows([['a"b', 'c\\d']], { format: 'csv', escape: '\\' }).toString(), '"a\\"b",c\\d\n')
  })

  it('decodes quoting: doubled quotes, quoted newlines, quotes mid-field, custom escape', () => {
    const rows = decodeCopyRows(Buffer.from('"a""b","line\nbreak",x"y,z"w,,""\r\n'), CSV)
    assert.deepEqual(rows, { ok: true, rows: [['a"b', 'line\nbreak', 'xy,zw', null, '']], lineEnding: '\r\n', endMarker: false })
    const escaped = decodeCopyRows(Buffer.from('"a\\"b\\\\c\\d"\n'), { format: 'csv', escape: '\\' })
    assert.deepEqual(escaped, { ok: true, rows: [['a"b\\c\\d']], lineEnding: '\n', endMarker: false })
  })

  it('reports partial rows and the end marker', () => {
    for (const partial of ['"open quote\n', 'a,', 'a,b', '"a"']) {
      const result = decodeCopyRows(Buffer.from(partial), CSV)
      assert.equal(result.ok ? 'ok' : result.reason, 'partial_row', partial)
    }
    assert.deepEqual(decodeCopyRows(Buffer.from('1,2\n\\.\n'), CSV), { ok: true, rows: [['1', '2']], lineEnding: '\n', endMarker: true })
  })
})

describe('copy round trips on random values (seeded)', () => {
  it('text and csv', () => {
    const rng = createRng(99)
    const alphabet = ['a', 'Z', '0', ' ', '\t', '\n', '\r', '\\', '"', ',', '.', 'N', 'ü', '𝄞', '\x01']
    for (let round = 0; round < 500; round++) {
      const width = 1 + randomInt(rng, 5)
      const rows = Array.from({ length: 1 + randomInt(rng, 4) }, () =>
        Array.from({ length: width }, () => (rng() < 0.15 ? null : Array.from({ length: randomInt(rng, 8) }, () => alphabet[randomInt(rng, alphabet.length)]).join(''))))
      roundTrip(rows, TEXT)
      roundTrip(rows, CSV)
    }
  })
})
