// Errors and notices are results too: the server quotes the values it failed
// on (`invalid input syntax for type integer: "ada@example.com"`, DETAIL
// `Key (email)=(ada@example.com) already exists.`, `Failing row contains
// (...)`, CONTEXT `JSON data, line 1: ...`), and a function's RAISE can say
// anything. Two layers:
//   1. content detectors run on every text field of every ErrorResponse and
//      NoticeResponse;
//   2. when the statement reads (or writes) a table with masked columns, the
//      values the server quotes are masked: quoted strings and whatever
//      follows the last `: ` of a line in the message, hint and context;
//      key values and failing rows in the detail (any other detail whole);
//      the internal query whole; and the whole message of a notice or of an
//      error raised by a function (RAISE), whose text is the function's own.
// The SQLSTATE, severity, positions and object names (schema, table,
// column, constraint, type) are kept: they come from the catalog, not from
// the data.
import type { Engine } from '../../engine/engine.js'
import { COLUMN_REDACTION, maskText, type MaskRules } from '../../engine/masks/index.js'
import type { SqlStatement } from '../../engine/types.js'
import { detectorMasks } from '../detector-masks.js'
import { tableKey } from './masking.js'
import { decodeErrorOrNotice } from './protocol/backend.js'

/** Fields that hold identifiers, codes or numbers, never data (ErrorResponse "Error and Notice Message Fields"). */
const STRUCTURAL = new Set(['S', 'V', 'C', 'P', 'p', 's', 't', 'c', 'd', 'n', 'F', 'L', 'R'])
const QUOTED = /"(?:[^"]|"")*"/g
/** Severities of a NoticeResponse: a notice during a statement on masked data comes from a function's RAISE. */
const NOTICE_SEVERITIES = new Set(['WARNING', 'NOTICE', 'DEBUG', 'INFO', 'LOG'])
const KEY_DETAIL = /^(Key \(.*?\)=\().*(\) (?:already exists|is not present in table|is still referenced from table|conflicts with)[\s\S]*)$/
const FAILING_ROW = /^Failing row contains \(/

export interface NoticeMasking {
  detectors: MaskRules | undefined
  /** The statement reads or writes a table with masked columns: mask what the server quotes. */
  quotesData: boolean
}

/** The values quoted in one line of text: quoted strings, and anything after the last `: `. */
function maskQuotes(line: string): string {
  const unquoted = line.replace(QUOTED, `"${COLUMN_REDACTION}"`)
  const colon = unquoted.lastIndexOf(': ')
  if (colon < 0) return unquoted
  const rest = unquoted.slice(colon + 2)
  return rest === `"${COLUMN_REDACTION}"` ? unquoted : `${unquoted.slice(0, colon + 2)}${COLUMN_REDACTION}`
}

function maskQuotedLines(text: string): string {
  return text.split('\n').map(maskQuotes).join('\n')
}

function maskField(code: string, value: string, fields: ReadonlyMap<string, string>, options: NoticeMasking): string {
  let out = value
  if (options.quotesData && !STRUCTURAL.has(code)) {
    const severity = fields.get('V') ?? fields.get('S') ?? ''
    const raised = NOTICE_SEVERITIES.has(severity) || (fields.get('C') ?? '').startsWith('P0')
    switch (code) {
      case 'M':
        out = raised ? COLUMN_REDACTION : maskQuotedLines(out)
        break
      case 'D': {
        const key = KEY_DETAIL.exec(out)
        out = key ? `${key[1]}${COLUMN_REDACTION}${key[2]}` : FAILING_ROW.test(out) ? `Failing row contains (${COLUMN_REDACTION}).` : COLUMN_REDACTION
        break
      }
      case 'q':
        out = COLUMN_REDACTION
        break
      default:
        out = raised ? COLUMN_REDACTION : maskQuotedLines(out)
    }
  }
  if (options.detectors) out = maskText(out, options.detectors) ?? COLUMN_REDACTION
  return out
}

/** The message with its fields masked; the same buffer when nothing changed. Throws ProtocolError on a malformed message. */
export function maskNotice(raw: Buffer, options: NoticeMasking): Buffer {
  if (!options.detectors && !options.quotesData) return raw
  const { byCode } = decodeErrorOrNotice(raw)
  let changed = false
  const fields: Array<[string, string]> = []
  for (const [code, value] of byCode) {
    const masked = maskField(code, value, byCode, options)
    if (masked !== value) changed = true
    fields.push([code, masked])
  }
  if (!changed) return raw
  const body = Buffer.concat([...fields.flatMap(([code, value]) => [Buffer.from(code, 'latin1'), Buffer.from(value, 'utf8'), Buffer.alloc(1)]), Buffer.alloc(1)])
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = raw[0]!
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

/** What an identity's errors and notices are masked with: its tables with masked columns, and its detectors. */
export interface IdentityNoticeMasks {
  tables: ReadonlySet<string>
  detectors: MaskRules | undefined
}

/** The identity's enforced masks on a resource; undefined when it has none (its errors pass unchanged). */
export function identityNoticeMasks(engine: Engine, identity: string, resource: string, hashKey: Buffer): IdentityNoticeMasks | undefined {
  const pair = engine.pair(identity, resource)
  const tables = new Set([...(pair?.columnMasks ?? [])].filter(([, entries]) => entries.some((e) => e.mode === 'enforce')).map(([table]) => tableKey(table)))
  const detectors = detectorMasks((pair?.detectors ?? []).filter((d) => d.mode === 'enforce'), hashKey)
  return tables.size > 0 || detectors ? { tables, detectors } : undefined
}

/** Whether the statements read or write a table with masked columns (writes too: `Failing row contains (...)` shows the row). */
export function touchesMaskedTable(statements: readonly SqlStatement[], masks: IdentityNoticeMasks): boolean {
  if (masks.tables.size === 0) return false
  const touches = (object: string) => masks.tables.has(tableKey(object))
  return statements.some((s) => s.reads.some(touches) || s.operations.some((op) => op.object !== undefined && touches(op.object)))
}
