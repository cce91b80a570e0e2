// Rewriting rows and row descriptions for masking.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBackendReader, decodeDataRow, decodeRowDescription, type FieldDescription } from '../../../../gateway/postgres/protocol/backend.js'
import { TEXT_FIELD, rewriteDataRow, rewriteRowDescription } from '../../../../gateway/postgres/protocol/data-row.js'
import { buildDataRow, buildRowDescription } from '../../../../gateway/postgres/protocol/serialize.js'
import { loadFixture } from './helpers.js'

const row = buildDataRow([Buffer.from('1'), Buffer.from('ada@example.com'), null, Buffer.from('10.50')])

function lengthsAreConsistent(raw: Buffer): void {
  assert.equal(raw.readInt32BE(1), raw.length - 1, 'message length')
  decodeDataRow(raw) // throws if a field length does not fit exactly
}

describe('rewriteDataRow', () => {
  it('returns the same Buffer when nothing changes, counting every call', () => {
    const seen: number[] = []
    assert.equal(rewriteDataRow(row, (i) => { seen.push(i); return undefined }), row)
    assert.deepEqual(seen, [0, 1, 2, 3])
    assert.equal(rewriteDataRow(row, (_, v) => v), row, 'handing back the value itself is no change')
  })

  it('grows a value', () => {
    const out = rewriteDataRow(row, (i) => (i === 1 ? Buffer.from('a'.repeat(300)) : undefined))
    lengthsAreConsistent(out)
    assert.equal(out.length, row.length + 300 - 'ada@example.com'.length)
    assert.deepStrictEqual(decodeDataRow(out), [Buffer.from('1'), Buffer.from('a'.repeat(300)), null, Buffer.from('10.50')])
  })

  it('shrinks a value', () => {
    const out = rewriteDataRow(row, (i) => (i === 1 ? Buffer.from('***') : undefined))
    lengthsAreConsistent(out)
    assert.deepStrictEqual(decodeDataRow(out), [Buffer.from('1'), Buffer.from('***'), null, Buffer.from('10.50')])
  })

  it('makes values NULL, and NULLs values', () => {
    const out = rewriteDataRow(row, (i) => (i === 1 || i === 3 ? null : i === 2 ? Buffer.from('was null') : undefined))
    lengthsAreConsistent(out)
    assert.deepStrictEqual(decodeDataRow(out), [Buffer.from('1'), null, Buffer.from('was null'), null])
    const empty = rewriteDataRow(row, (i) => (i === 0 ? Buffer.alloc(0) : undefined))
    assert.deepStrictEqual(decodeDataRow(empty)[0], Buffer.alloc(0))
  })

  it('handles first and last fields and rows without fields', () => {
    const out = rewriteDataRow(row, (i) => (i === 0 || i === 3 ? Buffer.from('x') : undefined))
    assert.deepStrictEqual(decodeDataRow(out), [Buffer.from('x'), Buffer.from('ada@example.com'), null, Buffer.from('x')])
    const none = buildDataRow([])
    assert.equal(rewriteDataRow(none, () => Buffer.from('never called')), none)
  })

  it('masks a captured row without disturbing its neighbours in the stream', () => {
    const { backend } = loadFixture('node-postgres-extended')
    const messages = createBackendReader({ maxMessageBytes: 1 << 20 }).push(backend)
    const rows = messages.filter((m) => m.type === 'D')
    assert.ok(rows.length >= 3)
    for (const m of rows) {
      const out = rewriteDataRow(m.raw, (i) => (i === 1 ? Buffer.from('masked') : undefined))
      lengthsAreConsistent(out)
      assert.deepStrictEqual(decodeDataRow(out)[1], Buffer.from('masked'))
      assert.deepStrictEqual(decodeDataRow(out)[0], decodeDataRow(m.raw)[0])
    }
  })
})

describe('rewriteRowDescription', () => {
  const fields: FieldDescription[] = [
    { name: 'id', tableOid: 16384, columnNumber: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
    { name: 'balance', tableOid: 16384, columnNumber: 4, typeOid: 1700, typeSize: -1, typeModifier: 655366, format: 1 },
  ]
  const raw = buildRowDescription(fields)

  it('retypes a masked column as text and keeps the rest', () => {
    const out = rewriteRowDescription(raw, (i) => (i === 1 ? TEXT_FIELD : undefined))
    assert.deepEqual(decodeRowDescription(out), [fields[0], { ...fields[1], typeOid: 25, typeSize: -1, typeModifier: -1 }])
    assert.equal(out.readInt32BE(1), out.length - 1)
  })

  it('returns the same Buffer when no change alters anything', () => {
    assert.equal(rewriteRowDescription(raw, () => undefined), raw)
    assert.equal(rewriteRowDescription(raw, (_, f) => ({ typeOid: f.typeOid })), raw)
  })

  it('can rename a column (the message length follows)', () => {
    const out = rewriteRowDescription(raw, (i) => (i === 0 ? { name: 'identifier' } : undefined))
    assert.equal(decodeRowDescription(out)[0]!.name, 'identifier')
    assert.equal(out.length, raw.length + 'identifier'.length - 'id'.length)
  })
})
