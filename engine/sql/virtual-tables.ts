// `gatehouse.permissions` and `gatehouse.activity`: tables that exist only
// in the gateway. A statement that reads them is rewritten before it goes
// upstream: each reference becomes a subquery of constant rows the gateway
// computed for the connected identity, and the database evaluates the rest
// of the statement (WHERE, ORDER BY, joins) as usual. No table is touched.
import { parseSync } from 'libpg-query'
import { isObject } from './ast.js'
import { isSqlParserLoaded } from './parser.js'

export const VIRTUAL_TABLES = {
  permissions: ['resource', 'effect', 'rule', 'target', 'condition', 'mode', 'approval', 'source'],
  activity: ['time', 'session', 'kind', 'statement', 'decision', 'rule', 'outcome'],
} as const
export type VirtualTable = keyof typeof VIRTUAL_TABLES

export interface VirtualReference {
  table: VirtualTable
  /** String indices of the reference (`gatehouse.permissions`) in the statement text. */
  start: number
  end: number
  aliased: boolean
}

const REFERENCE = /^"?gatehouse"?\s*\.\s*"?(permissions|activity)"?/i
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Every reference to a virtual table in `sql`, in text order; empty when there are none or the text does not parse. */
export function findVirtualTables(sql: string): VirtualReference[] {
  if (!isSqlParserLoaded() || !/gatehouse/i.test(sql)) return []
  let tree: unknown
  try {
    tree = parseSync(sql)
  } catch {
    return []
  }
  const bytes = encoder.encode(sql)
  const found: VirtualReference[] = []
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item)
      return
    }
    if (!isObject(node)) return
    const rangeVar = node.RangeVar
    if (isObject(rangeVar) && rangeVar.schemaname === 'gatehouse' && (rangeVar.relname === 'permissions' || rangeVar.relname === 'activity')) {
      const start = decoder.decode(bytes.subarray(0, Number(rangeVar.location))).length
      const match = REFERENCE.exec(sql.slice(start))
      if (match) found.push({ table: rangeVar.relname, start, end: start + match[0].length, aliased: isObject(rangeVar.alias) })
    }
    for (const value of Object.values(node)) visit(value)
  }
  visit(tree)
  return found.sort((a, b) => a.start - b.start)
}

/** `'text'` with quotes doubled; the gateway keeps standard_conforming_strings on upstream. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/\0/g, '').replace(/'/g, "''")}'`
}

/** A subquery of constant rows standing in for a virtual table. */
export function virtualSubquery(table: VirtualTable, rows: ReadonlyArray<ReadonlyArray<string | null>>, aliased: boolean): string {
  const columns = VIRTUAL_TABLES[table]
  const cast = (column: string) => (column === 'time' ? 'timestamptz' : 'text')
  const value = (v: string | null, column: string) => `${v === null ? 'NULL' : quoteLiteral(v)}::${cast(column)}`
  const body =
    rows.length === 0
      ? `SELECT ${columns.map((c) => `NULL::${cast(c)} AS ${c}`).join(', ')} WHERE false`
      : `SELECT * FROM (VALUES ${rows.map((row) => `(${columns.map((c, i) => value(row[i] ?? null, c)).join(', ')})`).join(', ')}) AS v(${columns.join(', ')})`
  return aliased ? `(${body})` : `(${body}) AS ${table}`
}

/** `sql` with every virtual reference replaced by its subquery. */
export function rewriteVirtualTables(sql: string, references: readonly VirtualReference[], subquery: (reference: VirtualReference) => string): string {
  let out = ''
  let at = 0
  for (const reference of references) {
    out += sql.slice(at, reference.start) + subquery(reference)
    at = reference.end
  }
  return out + sql.slice(at)
}
