// Masking result values in three layers:
//   1. by source column: RowDescription names each plain column's table OID
//      and column number, resolved to `schema.table.column` through the
//      catalog, so aliases do not hide a column;
//   2. by lineage: an output computed from a masked column (`upper(email)`,
//      `row_to_json(c)`, `string_agg(email, ',')`) is masked too, using the
//      statement's output lineage with `*` expanded through the catalog;
//   3. by content detectors on every value, the net for what neither layer
//      can see (views, functions).
// A masked value of a type whose text form must parse (numbers, dates,
// JSON...) would break clients, so such columns are re-described as text; a
// masked value requested in binary format is sent as NULL, never in clear.
import { asBuffer, maskBytes, maskValueBytes, type MaskRules } from '../../engine/masks/index.js'
import { splitLineageSource, type StatementLineage } from '../../engine/sql/index.js'
import type { MaskRef, MaskStrategy } from '../../engine/types.js'
import { detectorMasks } from '../detector-masks.js'
import type { Catalog } from './catalog.js'

/** PostgreSQL types whose text form any string fits: masked values keep the column's type. */
const TEXT_TYPES = new Set([25, 1043, 1042, 19, 18, 705])
export const TEXT_OID = 25
const STRENGTH: Record<MaskStrategy, number> = { partial: 1, hash: 2, redact: 3, null: 4 }

export interface FieldDescription {
  name: string
  tableOid: number
  columnNumber: number
  typeOid: number
  format: number
}

export type FieldAction = { mask: false } | { mask: true; strategy: MaskStrategy; column: string; retype: boolean }

export interface MaskingPlan {
  fields: FieldAction[]
  /** Whether any value may change: when false, rows are forwarded untouched. */
  active: boolean
  detectors: MaskRules | undefined
}

/** `schema.table` as written by the classifier, the catalog or a mask id → one comparable form. */
export function tableKey(qualified: string): string {
  const parts: string[] = []
  const re = /"((?:[^"]|"")*)"|([^."]+)/g
  for (const m of qualified.matchAll(re)) parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!)
  return parts.join('\0')
}

/** Column masks of a decision, by table key → column → strategy. */
export function columnMasks(masks: readonly MaskRef[]): Map<string, Map<string, MaskStrategy>> {
  const out = new Map<string, Map<string, MaskStrategy>>()
  for (const m of masks) {
    if (m.id.startsWith('detector:')) continue
    const dot = m.id.lastIndexOf('.')
    const table = tableKey(m.id.slice(0, dot))
    const columns = out.get(table) ?? new Map<string, MaskStrategy>()
    const existing = columns.get(m.id.slice(dot + 1))
    if (!existing || STRENGTH[m.strategy] > STRENGTH[existing]) columns.set(m.id.slice(dot + 1), m.strategy)
    out.set(table, columns)
  }
  return out
}

type Choice = { strategy: MaskStrategy; column: string } | undefined

function stronger(a: Choice, b: Choice): Choice {
  if (!a) return b
  if (!b) return a
  return STRENGTH[b.strategy] > STRENGTH[a.strategy] ? b : a
}

/** The strongest mask among a lineage item's sources and whole rows. */
function lineageChoice(item: { sources: readonly string[]; wholeRows: readonly string[] }, masks: Map<string, Map<string, MaskStrategy>>): Choice {
  let choice: Choice
  for (const source of item.sources) {
    const split = splitLineageSource(source)
    if (!split) continue
    const strategy = masks.get(tableKey(split.table))?.get(split.column)
    if (strategy) choice = stronger(choice, { strategy, column: source })
  }
  for (const table of item.wholeRows) {
    // `*` stands for "some table we could not name": any masked column may be in it.
    const candidates = table === '*' ? [...masks.entries()] : [[tableKey(table), masks.get(tableKey(table))] as const]
    for (const [key, columns] of candidates) {
      for (const [column, strategy] of columns ?? []) choice = stronger(choice, { strategy, column: `${key.replace('\0', '.')}.${column}` })
    }
  }
  return choice
}

/**
 * Expands the lineage's stars into one item per column, using the catalog.
 * Returns undefined when a star cannot be expanded exactly.
 */
async function expandStars(lineage: StatementLineage, catalog: Catalog): Promise<Array<{ sources: string[]; wholeRows: string[] }> | undefined> {
  const items: Array<{ sources: string[]; wholeRows: string[] }> = []
  for (const item of lineage.items) {
    if (item.kind === 'column') {
      items.push(item)
      continue
    }
    for (const table of item.tables) {
      const columns = table === '*' ? undefined : await catalog.byName(table)
      if (!columns) return undefined
      for (const column of columns.ordered) items.push({ sources: [`${table}.${/^[a-z_][a-z0-9_$]*$/.test(column) ? column : `"${column.replace(/"/g, '""')}"`}`], wholeRows: [] })
    }
  }
  return items
}

export interface PlanInput {
  /** RowDescription fields; absent for COPY, where the layout comes from lineage alone. */
  fields: readonly FieldDescription[] | undefined
  /** For COPY: how many columns each row has. */
  columnCount?: number
  masks: readonly MaskRef[]
  lineage: StatementLineage | null | undefined
  catalog: Catalog | undefined
  hashKey: Buffer
}

export async function planMasking(input: PlanInput): Promise<MaskingPlan> {
  const masks = columnMasks(input.masks)
  const detectors = detectorMasks(input.masks, input.hashKey)
  const count = input.fields?.length ?? input.columnCount ?? 0
  const choices: Choice[] = new Array(count).fill(undefined)
  if (masks.size > 0) {
    // Layer 1: plain columns, named by the server.
    if (input.fields && input.catalog) {
      const oids = input.fields.filter((f) => f.tableOid !== 0).map((f) => f.tableOid)
      const tables = oids.length ? await input.catalog.byOid(oids) : new Map()
      input.fields.forEach((field, i) => {
        const table = field.tableOid !== 0 ? tables.get(field.tableOid) : undefined
        const column = table?.columns.get(field.columnNumber)
        const strategy = table && column ? masks.get(tableKey(table.table))?.get(column) : undefined
        if (strategy && table && column) choices[i] = { strategy, column: `${table.table}.${column}` }
      })
    }
    // Layer 2: computed columns, through lineage.
    if (input.lineage) {
      const expanded = input.catalog ? await expandStars(input.lineage, input.catalog) : undefined
      if (expanded && expanded.length === count) {
        expanded.forEach((item, i) => (choices[i] = stronger(choices[i], lineageChoice(item, masks))))
      } else {
        // The layout is not known exactly: any output that is not a plain
        // column may carry whatever masked value the statement can compute.
        let anyMasked: Choice
        for (const item of input.lineage.items) {
          anyMasked = stronger(anyMasked, item.kind === 'column' ? lineageChoice(item, masks) : lineageChoice({ sources: [], wholeRows: item.tables }, masks))
        }
        for (let i = 0; i < count; i++) if (!input.fields || input.fields[i]!.tableOid === 0 || !input.catalog) choices[i] = stronger(choices[i], anyMasked)
      }
    } else if (input.lineage === undefined) {
      // No lineage at all (it could not be computed): mask every column that may hold a masked value.
      let any: Choice
      for (const [key, columns] of masks) for (const [column, strategy] of columns) any = stronger(any, { strategy, column: `${key.replace('\0', '.')}.${column}` })
      for (let i = 0; i < count; i++) if (!input.fields || input.fields[i]!.tableOid === 0) choices[i] = stronger(choices[i], any)
    }
  }
  const fields: FieldAction[] = choices.map((choice, i) => {
    if (!choice) return { mask: false }
    const field = input.fields?.[i]
    return { mask: true, strategy: choice.strategy, column: choice.column, retype: !!field && field.format === 0 && !TEXT_TYPES.has(field.typeOid) }
  })
  return { fields, detectors, active: fields.some((f) => f.mask) || detectors !== undefined }
}

/**
 * The masked form of one value: undefined when unchanged. `binary` values of
 * masked columns become NULL; detectors apply to the bytes of every value.
 */
export function maskField(plan: MaskingPlan, index: number, value: Buffer | null, binary: boolean, hashKey: Buffer): Buffer | null | undefined {
  if (value === null) return undefined
  const action = plan.fields[index]
  if (action?.mask) {
    if (binary) return null
    const masked = maskValueBytes(value, action.strategy, { hashKey })
    return masked === null ? null : asBuffer(masked)
  }
  if (!plan.detectors) return undefined
  const masked = maskBytes(value, plan.detectors)
  if (masked === value) return undefined
  return masked === null ? null : asBuffer(masked)
}
