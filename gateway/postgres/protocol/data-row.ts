// Rewriting result rows in place of masking. Both functions return the very
// Buffer they were given when nothing changes, so the unmasked path costs one
// walk over the lengths and no allocation beyond the field views.
import { Buffer } from 'node:buffer'
import type { FieldDescription } from './backend.js'
import { decodeDataRow, decodeRowDescription } from './backend.js'
import { ProtocolError } from './errors.js'
import { buildRowDescription } from './serialize.js'

/**
 * Returns the DataRow with some values replaced. `replace` sees each value (a
 * view into `raw`, or null) and returns the new value, null for SQL NULL, or
 * undefined (or the value it was given) to keep it. The message and field
 * lengths are recomputed; untouched runs of fields are copied in bulk.
 */
export function rewriteDataRow(raw: Buffer, replace: (index: number, value: Buffer | null) => Buffer | null | undefined): Buffer {
  const values = decodeDataRow(raw)
  let changes: (Buffer | null | undefined)[] | undefined
  let size = raw.length
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    const next = replace(i, value)
    if (next === undefined || next === value) continue
    changes ??= new Array<Buffer | null | undefined>(values.length)
    changes[i] = next
    size += (next === null ? 0 : next.length) - (value === null ? 0 : value.length)
  }
  if (changes === undefined) return raw
  if (size - 1 > 0x7fffffff) throw new ProtocolError('protocol.oversized', 'rewritten `DataRow` would exceed 2 GB')

  const out = Buffer.allocUnsafe(size)
  raw.copy(out, 0, 0, 7) // type, length (fixed below), column count
  out.writeInt32BE(size - 1, 1)
  let src = 7 // start of the field in `raw`
  let dst = 7
  let runStart = 7 // untouched bytes in `raw` not yet copied
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    const fieldEnd = src + 4 + (value === null ? 0 : value.length)
    const next = changes[i]
    if (next !== undefined) {
      dst += raw.copy(out, dst, runStart, src)
      if (next === null) {
        out.writeInt32BE(-1, dst)
        dst += 4
      } else {
        out.writeInt32BE(next.length, dst)
        dst += 4 + next.copy(out, dst + 4)
      }
      runStart = fieldEnd
    }
    src = fieldEnd
  }
  raw.copy(out, dst, runStart, src)
  return out
}

export type FieldChange = Partial<FieldDescription>

/** What a masked column becomes: `text`, variable width, no modifier (the format code is kept). */
export const TEXT_FIELD: FieldChange = { typeOid: 25, typeSize: -1, typeModifier: -1 }

/**
 * Returns the RowDescription with some fields changed, e.g. a masked column
 * retyped as text (`TEXT_FIELD`; text's binary representation is its UTF-8
 * bytes, so this holds for either format code). Returns `raw` itself when no
 * change alters anything.
 */
export function rewriteRowDescription(raw: Buffer, fieldChange: (index: number, field: FieldDescription) => FieldChange | undefined): Buffer {
  const fields = decodeRowDescription(raw)
  let changed = false
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!
    const change = fieldChange(i, field)
    if (change === undefined) continue
    for (const key of Object.keys(change) as (keyof FieldDescription)[]) {
      const v = change[key]
      if (v === undefined || v === field[key]) continue
      ;(field as unknown as Record<string, unknown>)[key] = v
      changed = true
    }
  }
  return changed ? buildRowDescription(fields) : raw
}
