// COPY ... TO STDOUT as the session needs it: the format (text, CSV or
// binary, which the CopyOutResponse does not tell apart for text and CSV)
// and whether a CSV header line comes first ("COPY": HEADER).
import { statementFacts } from './statement-facts.js'

export interface CopyOut {
  format: 'text' | 'csv' | 'binary'
  header: boolean
}

const FALSE = new Set(['false', 'off', '0'])

function optionValue(arg: unknown): string | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined
  const node = arg as { String?: { sval?: string }; Boolean?: { boolval?: boolean }; Integer?: { ival?: number } }
  if (node.String) return String(node.String.sval ?? '').toLowerCase()
  if (node.Boolean) return node.Boolean.boolval ? 'true' : 'false'
  if (node.Integer) return String(node.Integer.ival ?? 0)
  return undefined
}

function copyOutOf(kind: string, body: Record<string, unknown>): CopyOut | undefined {
  if (kind !== 'CopyStmt' || body.is_from === true || typeof body.filename === 'string') return undefined
  const out: CopyOut = { format: 'text', header: false }
  for (const option of Array.isArray(body.options) ? body.options : []) {
    const def = (option as { DefElem?: { defname?: string; arg?: unknown } }).DefElem
    if (!def) continue
    const value = optionValue(def.arg)
    if (def.defname === 'format' && (value === 'csv' || value === 'binary' || value === 'text')) out.format = value
    // HEADER with no value means true.
    if (def.defname === 'header') out.header = value === undefined || !FALSE.has(value)
  }
  return out
}

/** The COPY TO STDOUT of each statement of `sql`, by position. */
export const copyOuts = statementFacts(/\bcopy\b/i, copyOutOf)
