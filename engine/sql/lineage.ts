// Output-column lineage: for every output column of a statement, the source
// columns and whole rows its value can be computed from. This is layer 2 of
// result masking: layer 1 masks what RowDescription attributes to a table
// column (plain column references), layer 2 masks outputs computed from masked
// columns (`upper(email)`, `row_to_json(c)`, a CTE over them, a UNION branch),
// layer 3 looks at the content.
//
// There is no catalog here, so the analysis over-approximates wherever the
// catalog would decide: an unqualified name may belong to any table in scope
// (it is attributed to all of them, and to outer query levels unless a
// derived table or CTE is known to have that column), a single name that is
// also a table alias is both a column and a whole row, and anything the
// analysis cannot follow adds whole rows of everything in scope. Masking too
// much is acceptable; masking too little is not.
//
// Name resolution follows PostgreSQL's parse_relation.c / parse_expr.c:
// columns before whole-row references (transformColumnRef), innermost query
// level first (colNameToVar, refnameNamespaceItem), CTE names only when
// unqualified, each CTE seeing the ones before it (all of them when
// RECURSIVE), output names as FigureColname (parse_target.c) picks them.
// Never throws to the caller: parse errors and pathological trees are error
// values with the classifier's codes.
import { constantString, isObject, stringList, unwrap, type AstNode } from './ast.js'
import { UNWRAPPED_FIELDS } from './ast-fields.js'
import { analyzeSql, DEFAULT_MAX_SQL_BYTES, errorOf } from './classify.js'
import { dangerousFunction, type FunctionSpecial } from './dangerous-functions.js'
import { SQL_ERROR_CODES, SqlClassifyError } from './errors.js'
import { qualify, quoteIdent, relationNames } from './names.js'
import { parseStatements } from './parser.js'
import { MAX_DEPTH, StatementWalker, type NestedClassifier } from './walker.js'

// ---------------------------------------------------------------------------
// Public API

export type LineageItem =
  /**
   * One output column. `sources`: every `schema.table.column` the value may be
   * computed from; `wholeRows`: every `schema.table` whose entire row may flow
   * into it (`*` when a function reads tables the analysis cannot name);
   * `direct`: the output is exactly one plain column reference, which
   * RowDescription attributes to its table (for COPY, which has no
   * RowDescription, the gateway must rely on `sources`).
   */
  | { kind: 'column'; name: string; sources: string[]; wholeRows: string[]; direct: boolean }
  /**
   * An unknown number of output columns (`*`, `t.*`, a function returning
   * rows) whose values come from these tables. Columns of a star need not
   * carry an origin in RowDescription (set operations, functions in FROM):
   * where they do not, every masked column of `tables` may be among them.
   */
  | { kind: 'star'; tables: string[] }

/** The output columns of one statement, in target-list order. */
export interface StatementLineage {
  items: LineageItem[]
}

export type LineageResult =
  | { ok: true; statements: Array<StatementLineage | null> }
  | { ok: false; error: { code: string; message: string; position?: number } }

export interface LineageOptions {
  /** Where unqualified table names resolve (as for classifySql). */
  defaultSchema: string
  /** Refuse longer SQL (bytes of UTF-8) with `sql.too_large`. Default 1 MiB, as the classifier. */
  maxBytes?: number
}

/**
 * The output lineage of each statement of `sql`: null for a statement that
 * returns no rows of data (DDL, SELECT INTO, EXPLAIN, EXECUTE, SHOW, FETCH,
 * DML without RETURNING, COPY FROM or COPY TO a file).
 */
export function outputLineage(sql: string, options: LineageOptions): LineageResult {
  try {
    checkInput(sql, options.defaultSchema, options.maxBytes ?? DEFAULT_MAX_SQL_BYTES)
    const statements: Array<StatementLineage | null> = []
    const analyzer = new LineageAnalyzer(options.defaultSchema, Math.min(MAX_WORK, MIN_WORK + WORK_PER_CHARACTER * sql.length))
    for (const parsed of parseStatements(sql)) {
      const items = analyzer.statement(parsed.kind, parsed.body)
      statements.push(items === undefined ? null : { items: items.map(publicItem) })
    }
    return { ok: true, statements }
  } catch (err) {
    return errorOf(err)
  }
}

const IDENT = '(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")*")'
const SOURCE = new RegExp(`^(${IDENT}\\.${IDENT})\\.(${IDENT})$`)

/**
 * Splits a source `schema.table.column` into the table (named as the
 * classifier names tables, quoted where needed) and the column's real name.
 */
export function splitLineageSource(source: string): { table: string; column: string } | undefined {
  const m = SOURCE.exec(source)
  if (!m) return undefined
  const col = m[2]!
  return { table: m[1]!, column: col.startsWith('"') ? col.slice(1, -1).replaceAll('""', '"') : col }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const encoder = new TextEncoder()

/** The same input checks as the classifier (analyzeSql), so both refuse the same texts with the same codes. */
function checkInput(sql: string, defaultSchema: string, maxBytes: number): void {
  if (typeof sql !== 'string') throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'the statement is not a string')
  if (typeof defaultSchema !== 'string' || defaultSchema === '' || defaultSchema.includes('\0')) {
    throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'defaultSchema must be a non-empty name')
  }
  if (sql.length > maxBytes || (sql.length * 3 > maxBytes && encoder.encode(sql).length > maxBytes)) {
    throw new SqlClassifyError(SQL_ERROR_CODES.tooLarge, `the statement is longer than ${maxBytes} bytes`)
  }
  const nul = sql.indexOf('\0')
  if (nul >= 0) throw new SqlClassifyError(SQL_ERROR_CODES.invalidText, 'the statement contains a NUL character', nul)
  if (LONE_SURROGATE.test(sql)) throw new SqlClassifyError(SQL_ERROR_CODES.invalidText, 'the statement is not valid Unicode')
}

// ---------------------------------------------------------------------------
// Lineage values

/** Where a value may come from. Sources map `schema.table.column` to its `schema.table`. */
interface Lin {
  sources: Map<string, string>
  wholeRows: Set<string>
}

// invariant: a Lin stored in an item or a relation is never mutated again;
// only fresh accumulators are passed to addLin/expr as targets.
const emptyLin = (): Lin => ({ sources: new Map(), wholeRows: new Set() })

function addLin(into: Lin, from: Lin): void {
  for (const [source, table] of from.sources) into.sources.set(source, table)
  for (const table of from.wholeRows) into.wholeRows.add(table)
}

function unionLin(lins: Iterable<Lin>): Lin {
  const out = emptyLin()
  for (const lin of lins) addLin(out, lin)
  return out
}

function columnLin(tables: Iterable<string>, column: string): Lin {
  const lin = emptyLin()
  for (const table of tables) lin.sources.set(`${table}.${quoteIdent(column)}`, table)
  return lin
}

function rowLin(tables: Iterable<string>): Lin {
  return { sources: new Map(), wholeRows: new Set(tables) }
}

/** Every table a value may draw on. */
function linTables(lin: Lin): Set<string> {
  const out = new Set(lin.wholeRows)
  for (const table of lin.sources.values()) out.add(table)
  return out
}

/**
 * How sure an item's name is: `exact`; `maybe` (a column alias list may have
 * renamed it, so a lookup by this name is not conclusive); `unknown` (the
 * analysis could not work out PostgreSQL's name: any lookup may mean it).
 */
type Naming = 'exact' | 'maybe' | 'unknown'

interface ColumnItem {
  kind: 'column'
  name: string
  naming: Naming
  lin: Lin
  direct: boolean
}

interface StarItem {
  kind: 'star'
  tables: Set<string>
  /** Its columns are plain columns of `tables` (a `*` over base tables), not computed values. */
  direct: boolean
}

type Item = ColumnItem | StarItem

const column = (name: string, lin: Lin, direct = false, naming: Naming = 'exact'): ColumnItem => ({ kind: 'column', name, naming, lin, direct })
const star = (tables: Iterable<string>, direct: boolean): StarItem => ({ kind: 'star', tables: new Set(tables), direct })

function itemLin(item: Item): Lin {
  return item.kind === 'column' ? item.lin : rowLin(item.tables)
}

function publicItem(item: Item): LineageItem {
  if (item.kind === 'star') return { kind: 'star', tables: [...item.tables].sort() }
  return {
    kind: 'column',
    name: item.name,
    sources: [...item.lin.sources.keys()].sort(),
    wholeRows: [...item.lin.wholeRows].sort(),
    direct: item.direct,
  }
}

/** A canonical text of items, to tell when a recursive CTE has reached its fixed point. */
function itemsKey(items: readonly Item[]): string {
  return JSON.stringify(
    items.map((it) =>
      it.kind === 'star'
        ? ['*', [...it.tables].sort(), it.direct]
        : [it.name, it.naming, it.direct, [...it.lin.sources.keys()].sort(), [...it.lin.wholeRows].sort()],
    ),
  )
}

/**
 * Applies a column alias list (`AS t(a, b)`, `WITH x(a, b)`): names rename
 * output columns by position. Past a star the positions are unknown, so each
 * remaining name may be any column from the star on, and the names after the
 * star may have been replaced.
 */
function renameItems(items: readonly Item[], names: readonly string[]): Item[] {
  if (names.length === 0) return [...items]
  const out: Item[] = []
  let k = 0
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    if (k >= names.length) {
      out.push(item)
      continue
    }
    if (item.kind === 'column') {
      out.push({ ...item, name: names[k++]!, naming: 'exact' })
      continue
    }
    const rest = items.slice(i)
    const lin = unionLin(rest.map(itemLin))
    while (k < names.length) out.push(column(names[k++]!, lin))
    for (const r of rest) out.push(r.kind === 'column' && r.naming === 'exact' ? { ...r, naming: 'maybe' } : r)
    break
  }
  return out
}

/**
 * Output i of a set operation is the union of output i of each branch (names
 * from the left). Where a star makes positions unknown, columns are aligned
 * from both ends and whatever is left in the middle becomes one star over
 * every table it draws on.
 */
function mergeBranches(left: readonly Item[], right: readonly Item[]): Item[] {
  const zip = (a: Item | undefined, b: Item | undefined): ColumnItem => {
    const named = a?.kind === 'column' ? a : b?.kind === 'column' ? b : undefined
    const lin = unionLin([a, b].filter((x): x is Item => x !== undefined).map(itemLin))
    return column(named?.name ?? '?column?', lin, false, named?.naming ?? 'unknown')
  }
  const hasStar = (items: readonly Item[]): boolean => items.some((it) => it.kind === 'star')
  if (!hasStar(left) && !hasStar(right)) {
    const out: Item[] = []
    for (let i = 0; i < Math.max(left.length, right.length); i++) out.push(zip(left[i], right[i]))
    return out
  }
  let prefix = 0
  while (prefix < left.length && prefix < right.length && left[prefix]!.kind === 'column' && right[prefix]!.kind === 'column') prefix++
  let suffix = 0
  while (
    left.length - suffix - 1 >= prefix &&
    right.length - suffix - 1 >= prefix &&
    left[left.length - suffix - 1]!.kind === 'column' &&
    right[right.length - suffix - 1]!.kind === 'column'
  ) {
    suffix++
  }
  const middle = [...left.slice(prefix, left.length - suffix), ...right.slice(prefix, right.length - suffix)]
  const tables = new Set<string>()
  for (const item of middle) for (const t of linTables(itemLin(item))) tables.add(t)
  const out: Item[] = []
  for (let i = 0; i < prefix; i++) out.push(zip(left[i], right[i]))
  out.push(star(tables, false))
  for (let i = suffix; i > 0; i--) out.push(zip(left[left.length - i], right[right.length - i]))
  return out
}

/** A name looked up in a list of items (a derived table's columns). */
function lookupItems(items: readonly Item[], name: string): Hit | undefined {
  let hit: Hit | undefined
  for (const item of items) {
    let found: Hit | undefined
    if (item.kind === 'star') found = { lin: columnLin(item.tables, name), direct: item.direct, definite: false }
    else if (item.name === name || item.naming === 'unknown') {
      found = { lin: item.lin, direct: item.direct, definite: item.naming === 'exact' && item.name === name }
    }
    if (found) hit = mergeHit(hit, found)
  }
  return hit
}

// ---------------------------------------------------------------------------
// Scopes

/** A column looked up somewhere: where it may come from, whether it is a plain column, whether the lookup is conclusive. */
interface Hit {
  lin: Lin
  direct: boolean
  /** The name certainly denotes this column (a derived table's known output), so outer levels are not searched. */
  definite: boolean
}

function mergeHit(a: Hit | undefined, b: Hit): Hit {
  if (!a) return b
  return { lin: unionLin([a.lin, b.lin]), direct: a.direct && b.direct, definite: a.definite || b.definite }
}

/** What DML writes into its target's columns, so RETURNING shows it: per column, and for columns it cannot tell apart. */
interface Written {
  cols: Map<string, Lin>
  rest: Lin
}

/** A FROM item (or DML target) as name resolution sees it. */
type Rel =
  /** A table or view: its columns are unknown without the catalog. */
  | { kind: 'table'; refname: string; aliased: boolean; tables: string[]; colAliases: string[]; written?: Written }
  /** A subquery, a CTE reference, a function with a column definition list: known output items. */
  | { kind: 'derived'; refname: string | undefined; items: Item[] }
  /** A function or table function with unknown columns: every column may come from anything it was given. */
  | { kind: 'opaque'; refname: string | undefined; lin: Lin }
  /** A CTE of a WITH RECURSIVE whose lineage is still being computed (fixed-point iteration). */
  | { kind: 'pending'; refname: string }
  | {
      kind: 'join'
      refname: string | undefined
      left: Rel
      right: Rel
      using: string[] | 'natural'
      full: boolean
      colAliases: string[]
      /** A `JOIN ... USING (...) AS u` alias: only the merged columns are reachable through it. */
      usingOnly: boolean
    }

interface CteEnv {
  map: Map<string, Item[] | 'pending'>
  parent: CteEnv | undefined
}

interface Level {
  /** The FROM items in order (unqualified names and `*`). */
  from: Rel[]
  /** Every relation reachable by a qualified name (FROM items, those inside joins, join aliases). */
  named: Rel[]
  parent: Level | undefined
  ctes: CteEnv | undefined
  /** WINDOW clause definitions of this SELECT. */
  windows: AstNode[]
}

const newLevel = (parent: Level | undefined, ctes: CteEnv | undefined): Level => ({ from: [], named: [], parent, ctes, windows: [] })

/** What a LATERAL item sees: the FROM items before it. */
const snapshot = (level: Level): Level => ({ ...level, from: [...level.from], named: [...level.named] })

function findCte(env: CteEnv | undefined, name: string): Item[] | 'pending' | undefined {
  for (let e = env; e; e = e.parent) {
    const found = e.map.get(name)
    if (found !== undefined) return found
  }
  return undefined
}

function lookupColumn(rel: Rel, name: string): Hit | undefined {
  switch (rel.kind) {
    case 'table': {
      const written = writtenLin(rel.written, name)
      // A column alias renames one of the first columns; which one needs the catalog.
      if (rel.colAliases.includes(name)) return { lin: unionLin([rowLin(rel.tables), written]), direct: false, definite: true }
      return { lin: unionLin([columnLin(rel.tables, name), written]), direct: true, definite: false }
    }
    case 'derived':
      return lookupItems(rel.items, name)
    case 'opaque':
      return { lin: rel.lin, direct: false, definite: false }
    case 'pending':
      return { lin: emptyLin(), direct: false, definite: false }
    case 'join': {
      if (rel.colAliases.includes(name)) return { lin: wholeRow(rel), direct: false, definite: true }
      const merged = rel.using === 'natural' || rel.using.includes(name)
      if (rel.usingOnly && !merged) return undefined
      const l = lookupColumn(rel.left, name)
      const r = lookupColumn(rel.right, name)
      const hit = l && r ? mergeHit(l, r) : (l ?? r)
      // FULL JOIN USING merges with COALESCE: no longer a plain column.
      if (hit && merged && rel.full) return { ...hit, direct: false }
      return hit
    }
  }
}

function writtenLin(written: Written | undefined, name: string | undefined): Lin {
  if (!written) return emptyLin()
  if (name === undefined) return unionLin([written.rest, ...written.cols.values()])
  const col = written.cols.get(name)
  return col ? unionLin([written.rest, col]) : written.rest
}

function wholeRow(rel: Rel): Lin {
  switch (rel.kind) {
    case 'table':
      return unionLin([rowLin(rel.tables), writtenLin(rel.written, undefined)])
    case 'derived':
      return unionLin(rel.items.map(itemLin))
    case 'opaque':
      return rel.lin
    case 'pending':
      return emptyLin()
    case 'join':
      return unionLin([wholeRow(rel.left), wholeRow(rel.right)])
  }
}

/** The items `rel.*` expands to. */
function expandRel(rel: Rel): Item[] {
  switch (rel.kind) {
    case 'table': {
      const written = writtenLin(rel.written, undefined)
      const aliased = rel.colAliases.map((name) => column(name, unionLin([rowLin(rel.tables), written])))
      const tables = new Set([...rel.tables, ...linTables(written)])
      return [...aliased, star(tables, rel.written === undefined)]
    }
    case 'derived':
      return [...rel.items]
    case 'opaque':
      return [star(linTables(rel.lin), false)]
    case 'pending':
      return []
    case 'join':
      return renameItems(expandJoin(rel), rel.colAliases)
  }
}

/** A join's columns: USING/NATURAL merged columns first, then the rest of the left, then the rest of the right (transformFromClauseItem). */
function expandJoin(rel: Extract<Rel, { kind: 'join' }>): Item[] {
  const left = expandRel(rel.left)
  const right = expandRel(rel.right)
  let merged: string[] = []
  if (rel.using === 'natural') {
    // Common names are known only when both sides are fully known.
    const known = (items: Item[]): boolean => items.every((it) => it.kind === 'column' && it.naming === 'exact')
    if (known(left) && known(right)) {
      const rightNames = new Set(right.map((it) => (it as ColumnItem).name))
      merged = left.map((it) => (it as ColumnItem).name).filter((n) => rightNames.has(n))
    }
  } else merged = rel.using
  const out: Item[] = []
  for (const name of merged) {
    const l = lookupItems(left, name)
    const r = lookupItems(right, name)
    const lin = unionLin([l?.lin ?? emptyLin(), r?.lin ?? emptyLin()])
    out.push(column(name, lin, !rel.full && (l?.direct ?? false) && (r?.direct ?? false)))
  }
  const mergedSet = new Set(merged)
  const keep = (it: Item): boolean => !(it.kind === 'column' && it.naming === 'exact' && mergedSet.has(it.name))
  return [...out, ...left.filter(keep), ...right.filter(keep)]
}

// ---------------------------------------------------------------------------
// The analysis

const FIELD_TYPES = new Map<string, Map<string, string>>(
  Object.entries(UNWRAPPED_FIELDS).map(([type, fields]) => [type, new Map(Object.entries(fields))]),
)

/** Nodes that carry no column reference and no subquery. */
const LEAF_TYPES = new Set(['A_Const', 'String', 'Integer', 'Float', 'Boolean', 'BitString', 'A_Star', 'ParamRef', 'TypeName', 'SQLValueFunction', 'MergeSupportFunc'])

/** Functions whose result is rows of tables named in their arguments (dangerous-functions.ts). */
const READS_TABLES: ReadonlySet<FunctionSpecial | undefined> = new Set<FunctionSpecial | undefined>(['reads-table', 'reads-schema', 'reads-database', 'runs-sql'])

/**
 * The work budget (nodes visited) of one call; beyond it the text is
 * `sql.too_complex` (which denies). The analysis visits each node about once
 * except inside WITH RECURSIVE, where every fixed-point round visits the
 * bodies again (and nested ones multiply), so the budget grows with the
 * text: a short text cannot buy seconds of work, a long legitimate one
 * still fits. A few microseconds per unit.
 */
const MIN_WORK = 50_000
const WORK_PER_CHARACTER = 16
const MAX_WORK = 2_000_000
const MAX_FIXPOINT_ROUNDS = 64

const NULL_CONST = { A_Const: { isnull: true } }

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

function aliasOf(node: AstNode): { name: string | undefined; cols: string[] } {
  const alias = isObject(node.alias) ? node.alias : undefined
  return { name: str(alias?.aliasname), cols: stringList(alias?.colnames) }
}

/** A ColumnRef's fields: names, and `*` for A_Star. */
function refFields(ref: AstNode): string[] | undefined {
  const out: string[] = []
  for (const el of list(ref.fields)) {
    const node = unwrap(el)
    if (node?.[0] === 'String' && typeof node[1].sval === 'string') out.push(node[1].sval)
    else if (node?.[0] === 'A_Star') out.push('*')
    else return undefined
  }
  return out.length > 0 ? out : undefined
}

/** `*` stands only for A_Star here: a quoted identifier `"*"` is a String and never reaches this marker. */
const isStarField = (fields: readonly string[], i: number, ref: AstNode): boolean =>
  fields[i] === '*' && unwrap(list(ref.fields)[i])?.[0] === 'A_Star'

class LineageAnalyzer {
  private depth = 0
  private work = 0

  constructor(
    private readonly defaultSchema: string,
    private readonly maxWork: number,
  ) {}

  private readonly nested: NestedClassifier = (sql) => {
    try {
      const analysis = analyzeSql(sql, this.defaultSchema, undefined, 1)
      if (!analysis.ok || analysis.sessionDependent) return undefined
      return { operations: analysis.drafts.flatMap((d) => d.operations), reads: analysis.drafts.flatMap((d) => d.reads) }
    } catch {
      return undefined
    }
  }

  /** Counts work against the budget: a node visited, or items copied and compared. */
  private charge(units: number): void {
    this.work += units
    if (this.work > this.maxWork) throw new SqlClassifyError(SQL_ERROR_CODES.tooComplex, 'the statement is too complex to trace its output columns')
  }

  private guard<T>(body: () => T): T {
    this.charge(1)
    if (++this.depth > MAX_DEPTH) {
      this.depth--
      throw new SqlClassifyError(SQL_ERROR_CODES.tooComplex, `the statement nests deeper than ${MAX_DEPTH} levels`)
    }
    try {
      return body()
    } finally {
      this.depth--
    }
  }

  /** The items of a top-level statement; undefined when it returns no rows of data. */
  statement(kind: string, body: AstNode): Item[] | undefined {
    switch (kind) {
      case 'SelectStmt':
        // SELECT INTO creates a table and returns no rows.
        return isObject(body.intoClause) ? undefined : this.select(body, undefined, undefined)
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        return this.modify(kind, body, undefined, undefined)
      case 'CopyStmt':
        return this.copy(body)
      // FETCH returns the cursor's rows and EXECUTE the prepared statement's: the gateway keeps the mapping.
      case 'DeclareCursorStmt':
      case 'PrepareStmt': {
        const inner = unwrap(body.query)
        return inner ? this.statement(inner[0], inner[1]) : undefined
      }
      case 'CallStmt': {
        // OUT parameters come back as a row of unknown width, computed from the arguments (and whatever the procedure reads).
        const lin = this.exprLin({ FuncCall: isObject(body.funccall) ? body.funccall : {} }, newLevel(undefined, undefined))
        return [star(linTables(lin), false)]
      }
      default:
        return undefined
    }
  }

  private copy(body: AstNode): Item[] | undefined {
    if (body.is_from === true || typeof body.filename === 'string') return undefined
    const query = unwrap(body.query)
    if (query) return this.statement(query[0], query[1])
    if (!isObject(body.relation)) return undefined
    const tables = relationNames(body.relation, this.defaultSchema)
    const attlist = stringList(body.attlist)
    if (attlist.length === 0) return [star(tables, true)]
    return attlist.map((name) => column(name, columnLin(tables, name), true))
  }

  /** Any query node (wrapped, or an unwrapped SelectStmt as in set operations). */
  private query(value: unknown, parent: Level | undefined, ctes: CteEnv | undefined): Item[] {
    const node = unwrap(value) ?? (isObject(value) ? (['SelectStmt', value] as [string, AstNode]) : undefined)
    if (!node) return []
    const [type, body] = node
    switch (type) {
      case 'SelectStmt':
        return this.select(body, parent, ctes)
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        return this.modify(type, body, parent, ctes) ?? []
      default: {
        // Not a query the parser produces here: everything it mentions may flow out.
        const level = newLevel(parent, ctes)
        return [star(linTables(this.exprLin(value, level)), false)]
      }
    }
  }

  private select(s: AstNode, parent: Level | undefined, ctes: CteEnv | undefined): Item[] {
    return this.guard(() => {
      let env = ctes
      if (isObject(s.withClause)) env = this.withClause(s.withClause, parent, env)
      if (typeof s.op === 'string' && s.op !== 'SETOP_NONE') {
        const left = this.query(s.larg, parent, env)
        const right = this.query(s.rarg, parent, env)
        this.charge(left.length + right.length)
        return mergeBranches(left, right)
      }
      const level = newLevel(parent, env)
      if (Array.isArray(s.valuesLists) && s.valuesLists.length > 0) return this.values(s.valuesLists, level)
      for (const el of list(s.fromClause)) level.from.push(this.fromItem(el, level))
      for (const el of list(s.windowClause)) {
        const w = unwrap(el)
        if (w) level.windows.push(w[1])
      }
      const items: Item[] = []
      for (const target of list(s.targetList)) items.push(...this.target(target, level))
      this.charge(items.length)
      return items
    })
  }

  private values(rows: unknown[], level: Level): Item[] {
    const cols: Lin[] = []
    for (const row of rows) {
      const node = unwrap(row)
      const exprs = node?.[0] === 'List' ? list(node[1].items) : [row]
      exprs.forEach((e, i) => this.expr(e, level, (cols[i] ??= emptyLin())))
    }
    return cols.map((lin, i) => column(`column${i + 1}`, lin))
  }

  /**
   * WITH: each CTE sees the ones before it; with RECURSIVE, all of them, so
   * their lineage is a fixed point: start from nothing, recompute every CTE
   * with the previous round's results until nothing grows. Lineage only
   * grows, so this ends; a bound keeps it cheap, then everything is widened.
   */
  private withClause(w: AstNode, parent: Level | undefined, outer: CteEnv | undefined): CteEnv {
    const env: CteEnv = { map: new Map(), parent: outer }
    const ctes: AstNode[] = []
    for (const el of list(w.ctes)) {
      const node = unwrap(el)
      if (node?.[0] === 'CommonTableExpr') ctes.push(node[1])
    }
    if (w.recursive !== true) {
      for (const cte of ctes) env.map.set(str(cte.ctename) ?? '', this.cteItems(cte, parent, env))
      return env
    }
    for (const cte of ctes) env.map.set(str(cte.ctename) ?? '', 'pending')
    for (let round = 0; ; round++) {
      if (round === MAX_FIXPOINT_ROUNDS) this.widen(env)
      if (round > MAX_FIXPOINT_ROUNDS + 8) {
        throw new SqlClassifyError(SQL_ERROR_CODES.tooComplex, 'the recursive WITH is too complex to trace its output columns')
      }
      let changed = false
      for (const cte of ctes) {
        const name = str(cte.ctename) ?? ''
        const prev = env.map.get(name)
        const next = this.cteItems(cte, parent, env)
        this.charge(next.length + (Array.isArray(prev) ? prev.length : 0))
        if (prev === undefined || prev === 'pending') {
          env.map.set(name, next)
          changed = true
          continue
        }
        const prevKey = itemsKey(prev)
        if (itemsKey(next) === prevKey) continue
        const merged = mergeBranches(prev, next)
        if (itemsKey(merged) !== prevKey) {
          env.map.set(name, merged)
          changed = true
        }
      }
      if (!changed) return env
    }
  }

  /** Gives every column of every CTE of `env` the union of all their lineage (a fixed point that converges fast). */
  private widen(env: CteEnv): void {
    const all = emptyLin()
    for (const items of env.map.values()) if (items !== 'pending') for (const it of items) addLin(all, itemLin(it))
    for (const [name, items] of env.map) {
      if (items === 'pending') continue
      env.map.set(
        name,
        items.map((it) => (it.kind === 'column' ? { ...it, lin: all, direct: false } : star([...it.tables, ...linTables(all)], false))),
      )
    }
  }

  private cteItems(cte: AstNode, parent: Level | undefined, env: CteEnv): Item[] {
    let items = renameItems(this.query(cte.ctequery, parent, env), stringList(cte.aliascolnames))
    // SEARCH and CYCLE add columns built from the listed columns (an array of them, for the path).
    const derived = (names: string[]): Lin => unionLin(names.map((n) => lookupItems(items, n)?.lin ?? unionLin(items.map(itemLin))))
    const search = isObject(cte.search_clause) ? cte.search_clause : undefined
    const cycle = isObject(cte.cycle_clause) ? cte.cycle_clause : undefined
    const extra: Item[] = []
    if (search) extra.push(column(str(search.search_seq_column) ?? '', derived(stringList(search.search_col_list))))
    if (cycle) {
      const lin = derived(stringList(cycle.cycle_col_list))
      extra.push(column(str(cycle.cycle_mark_column) ?? '', lin), column(str(cycle.cycle_path_column) ?? '', lin))
    }
    if (extra.length > 0) items = [...items, ...extra]
    return items
  }

  /**
   * INSERT/UPDATE/DELETE/MERGE: undefined without RETURNING. RETURNING shows
   * the target's rows after the change, so a target column carries what was
   * written into it as well as the column itself.
   */
  private modify(type: string, s: AstNode, parent: Level | undefined, ctes: CteEnv | undefined): Item[] | undefined {
    return this.guard(() => {
      let env = ctes
      if (isObject(s.withClause)) env = this.withClause(s.withClause, parent, env)
      const rv = isObject(s.relation) ? s.relation : {}
      const target = this.tableRel(rv)
      const level = newLevel(parent, env)
      level.from.push(target)
      level.named.push(target)
      const written: Written = { cols: new Map(), rest: emptyLin() }
      const write = (name: string | undefined, lin: Lin): void => {
        if (name === undefined) addLin(written.rest, lin)
        else written.cols.set(name, unionLin([written.cols.get(name) ?? emptyLin(), lin]))
      }
      const setList = (targets: unknown, scope: Level): void => {
        for (const el of list(targets)) {
          const rt = unwrap(el)?.[1] ?? {}
          write(str(rt.name), this.exprLin(rt.val, scope))
        }
      }
      const insertValues = (names: (string | undefined)[], values: Item[]): void => {
        if (names.length > 0 && !values.some((v) => v.kind === 'star')) names.forEach((n, i) => write(n, values[i] ? itemLin(values[i]) : emptyLin()))
        else write(undefined, unionLin(values.map(itemLin)))
      }
      const resNames = (targets: unknown): (string | undefined)[] => list(targets).map((el) => str(unwrap(el)?.[1].name))

      switch (type) {
        case 'InsertStmt': {
          const source = s.selectStmt === undefined ? [] : this.query(s.selectStmt, parent, env)
          insertValues(resNames(s.cols), source)
          const conflict = isObject(s.onConflictClause) ? s.onConflictClause : undefined
          if (conflict?.action === 'ONCONFLICT_UPDATE') {
            const scope = snapshot(level)
            const excluded: Rel = { kind: 'opaque', refname: 'excluded', lin: unionLin(source.map(itemLin)) }
            scope.named.push(excluded)
            setList(conflict.targetList, scope)
          }
          break
        }
        case 'UpdateStmt':
          for (const el of list(s.fromClause)) level.from.push(this.fromItem(el, level))
          setList(s.targetList, level)
          break
        case 'DeleteStmt':
          for (const el of list(s.usingClause)) level.from.push(this.fromItem(el, level))
          break
        case 'MergeStmt':
          if (s.sourceRelation !== undefined) level.from.push(this.fromItem(s.sourceRelation, level))
          for (const el of list(s.mergeWhenClauses)) {
            const when = unwrap(el)?.[1] ?? {}
            if (when.commandType === 'CMD_UPDATE') setList(when.targetList, level)
            else if (when.commandType === 'CMD_INSERT') {
              const values = list(when.values).map((v) => column('?column?', this.exprLin(v, level)))
              insertValues(resNames(when.targetList), values)
            }
          }
          break
      }

      const rc = isObject(s.returningClause) ? s.returningClause : undefined
      if (!rc) return undefined
      target.written = written
      // RETURNING old.* / new.* (PostgreSQL 18), renamed by WITH (OLD AS o, NEW AS n).
      let oldName = 'old'
      let newName = 'new'
      for (const el of list(rc.options)) {
        const opt = unwrap(el)?.[1] ?? {}
        const value = str(opt.value)
        if (value === undefined) continue
        if (opt.option === 'RETURNING_OPTION_OLD') oldName = value
        else if (opt.option === 'RETURNING_OPTION_NEW') newName = value
      }
      for (const name of [oldName, newName]) level.named.push({ ...target, refname: name })
      const items: Item[] = []
      for (const el of list(rc.exprs)) items.push(...this.target(el, level))
      return items
    })
  }

  // -------------------------------------------------------------------------
  // FROM

  private tableRel(rv: AstNode): Extract<Rel, { kind: 'table' }> {
    const alias = aliasOf(rv)
    return {
      kind: 'table',
      refname: alias.name ?? str(rv.relname) ?? '',
      aliased: alias.name !== undefined,
      tables: relationNames(rv, this.defaultSchema),
      colAliases: alias.cols,
    }
  }

  /** A table name: a CTE when unqualified and one is in scope (the innermost), else a table. */
  private rangeVarRel(rv: AstNode, ctes: CteEnv | undefined): Rel {
    const relname = str(rv.relname) ?? ''
    const qualified = typeof rv.schemaname === 'string' && rv.schemaname !== ''
    const cte = qualified ? undefined : findCte(ctes, relname)
    if (cte === undefined) return this.tableRel(rv)
    const alias = aliasOf(rv)
    const refname = alias.name ?? relname
    if (cte === 'pending') return { kind: 'pending', refname }
    return { kind: 'derived', refname, items: renameItems(cte, alias.cols) }
  }

  /** One FROM item; registers the names it makes reachable in `level.named`. */
  private fromItem(el: unknown, level: Level): Rel {
    return this.guard(() => {
      const node = unwrap(el)
      let rel: Rel
      if (!node) rel = { kind: 'opaque', refname: undefined, lin: this.exprLin(el, snapshot(level)) }
      else {
        const [type, body] = node
        switch (type) {
          case 'RangeVar':
            rel = this.rangeVarRel(body, level.ctes)
            break
          case 'RangeSubselect': {
            const alias = aliasOf(body)
            // Only a LATERAL subquery sees the FROM items before it; any subquery sees outer levels.
            const parent = body.lateral === true ? snapshot(level) : level.parent
            rel = { kind: 'derived', refname: alias.name, items: renameItems(this.query(body.subquery, parent, level.ctes), alias.cols) }
            break
          }
          case 'RangeFunction':
            rel = this.rangeFunction(body, level)
            break
          case 'JoinExpr':
            return this.join(body, level)
          case 'RangeTableSample':
            return this.fromItem(body.relation, level)
          case 'RangeTableFunc':
          case 'JsonTable': {
            // XMLTABLE / JSON_TABLE: every column is computed from the document and the other arguments.
            const alias = aliasOf(body)
            const lin = this.exprLin(body, snapshot(level))
            const names = type === 'JsonTable' ? jsonTableColumns(body.columns) : list(body.columns).map((c) => str(unwrap(c)?.[1].colname))
            rel = names.every((n): n is string => n !== undefined)
              ? { kind: 'derived', refname: alias.name, items: renameItems(names.map((n) => column(n, lin)), alias.cols) }
              : { kind: 'opaque', refname: alias.name, lin }
            break
          }
          default:
            rel = { kind: 'opaque', refname: aliasOf(body).name, lin: this.exprLin(el, snapshot(level)) }
        }
      }
      if (rel.refname !== undefined) level.named.push(rel)
      return rel
    })
  }

  /** A function in FROM (implicitly LATERAL). Its columns are known only from column definition lists. */
  private rangeFunction(body: AstNode, level: Level): Rel {
    const scope = snapshot(level)
    const functions = list(body.functions)
    const all = emptyLin()
    const cols: Item[] = []
    let known = functions.length > 0
    let refname: string | undefined
    for (const fn of functions) {
      const pair = unwrap(fn)?.[0] === 'List' ? list(unwrap(fn)![1].items) : [fn]
      const call = pair[0]
      const lin = this.exprLin(call, scope)
      addLin(all, lin)
      const defs = unwrap(pair[1])?.[0] === 'List' ? list(unwrap(pair[1])![1].items) : functions.length === 1 ? list(body.coldeflist) : []
      const names = defs.map((d) => str(unwrap(d)?.[1].colname))
      if (names.length === 0 || names.some((n) => n === undefined)) known = false
      else for (const n of names) cols.push(column(n!, lin))
      const callNode = unwrap(call)
      if (functions.length === 1 && callNode?.[0] === 'FuncCall') refname = stringList(callNode[1].funcname).at(-1)
    }
    const alias = aliasOf(body)
    refname = alias.name ?? refname
    if (!known) return { kind: 'opaque', refname, lin: all }
    if (body.ordinality === true) cols.push(column('ordinality', emptyLin()))
    return { kind: 'derived', refname, items: renameItems(cols, alias.cols) }
  }

  private join(body: AstNode, level: Level): Rel {
    const namedBefore = level.named.length
    const left = this.fromItem(body.larg, level)
    // The left side is visible to a LATERAL item on the right.
    level.from.push(left)
    let right: Rel
    try {
      right = this.fromItem(body.rarg, level)
    } finally {
      level.from.pop()
    }
    const alias = aliasOf(body)
    const rel: Extract<Rel, { kind: 'join' }> = {
      kind: 'join',
      refname: alias.name,
      left,
      right,
      using: body.isNatural === true ? 'natural' : stringList(body.usingClause),
      full: body.jointype === 'JOIN_FULL',
      colAliases: alias.cols,
      usingOnly: false,
    }
    if (alias.name !== undefined) {
      // A join alias hides the names inside the join: `a.x` then means an outer `a`, if any.
      level.named.length = namedBefore
      level.named.push(rel)
    }
    const usingAlias = isObject(body.join_using_alias) ? str(body.join_using_alias.aliasname) : undefined
    if (usingAlias !== undefined) level.named.push({ ...rel, refname: usingAlias, colAliases: [], usingOnly: true })
    return rel
  }

  // -------------------------------------------------------------------------
  // Names

  /** Relations a qualifier names, at the innermost level that has any (refnameNamespaceItem). */
  private findRels(level: Level | undefined, refname: string, schema?: string): Rel[] {
    for (let l = level; l; l = l.parent) {
      const found = l.named.filter(
        (r) =>
          r.refname === refname &&
          (schema === undefined || (r.kind === 'table' && !r.aliased && r.tables.includes(qualify(schema, refname)))),
      )
      if (found.length > 0) return found
    }
    return []
  }

  /**
   * Every column an unqualified name may denote: each FROM item of the
   * innermost level, then outer levels, until a level has a conclusive match
   * (colNameToVar stops at the first level with the column).
   */
  private columnCandidates(level: Level, name: string): Hit | undefined {
    let hit: Hit | undefined
    for (let l: Level | undefined = level; l; l = l.parent) {
      let definite = false
      for (const rel of l.from) {
        const found = lookupColumn(rel, name)
        if (!found) continue
        hit = mergeHit(hit, { ...found, definite: false })
        definite ||= found.definite
      }
      if (definite) return { ...hit!, definite: true }
    }
    return hit
  }

  /** A single name: a column, or (when no column is certain) a whole row of the relation so named. */
  private resolveName(level: Level, name: string): Hit | undefined {
    const cols = this.columnCandidates(level, name)
    if (cols?.definite) return cols
    const rels = this.findRels(level, name)
    if (rels.length === 0) return cols
    return { lin: unionLin([cols?.lin ?? emptyLin(), ...rels.map(wholeRow)]), direct: false, definite: false }
  }

  /** Every row of everything in scope: what an unresolvable reference may mean. */
  private everything(level: Level): Lin {
    const out = emptyLin()
    for (let l: Level | undefined = level; l; l = l.parent) for (const rel of [...l.from, ...l.named]) addLin(out, wholeRow(rel))
    return out
  }

  /**
   * A ColumnRef's lineage (transformColumnRef). One name: a column, or a
   * whole row. More names are a relation and its column, read by their count:
   * `rel.col`, `schema.rel.col`, `catalog.schema.rel.col` (a composite
   * column's field needs parentheses: that is A_Indirection). `direct` only
   * for one plain column.
   */
  private columnRef(ref: AstNode, level: Level): { lin: Lin; direct: boolean } {
    const fields = refFields(ref)
    const conservative = (): { lin: Lin; direct: boolean } => ({ lin: this.everything(level), direct: false })
    if (!fields) return conservative()
    const starAt = fields.findIndex((_, i) => isStarField(fields, i, ref))
    if (starAt >= 0 && starAt !== fields.length - 1) return conservative()
    const isStar = starAt === fields.length - 1
    const names = isStar ? fields.slice(0, -1) : fields
    if (names.length === 0) {
      // A bare `*` inside an expression: every row of this level.
      return level.from.length > 0 ? { lin: unionLin(level.from.map(wholeRow)), direct: false } : conservative()
    }
    if (names.length === 1 && !isStar) {
      const hit = this.resolveName(level, names[0]!)
      return hit ? { lin: hit.lin, direct: hit.direct } : conservative()
    }
    const relParts = isStar ? names : names.slice(0, -1)
    const col = isStar ? undefined : names[names.length - 1]!
    if (relParts.length > 3) return conservative()
    const rels = this.findRels(level, relParts[relParts.length - 1]!, relParts.length >= 2 ? relParts[relParts.length - 2] : undefined)
    // No such relation: PostgreSQL refuses the statement; nothing it could mean is left out.
    if (rels.length === 0) return conservative()
    if (col === undefined) return { lin: unionLin(rels.map(wholeRow)), direct: false }
    // A name that is no column of the relation is a function of its row (`c.f` is `f(c)`).
    const hits = rels.map((rel) => lookupColumn(rel, col) ?? { lin: wholeRow(rel), direct: false, definite: false })
    return { lin: unionLin(hits.map((h) => h.lin)), direct: hits.length === 1 && hits[0]!.direct }
  }

  // -------------------------------------------------------------------------
  // Target lists and expressions

  /** One entry of a target list or RETURNING: a column, or the expansion of `*`, `t.*`, `(x).*`. */
  private target(el: unknown, level: Level): Item[] {
    const rt = unwrap(el)
    if (!rt || rt[0] !== 'ResTarget') return [column('?column?', this.exprLin(el, level), false, 'unknown')]
    const val = rt[1].val
    const alias = str(rt[1].name)
    const v = unwrap(val)
    if (v?.[0] === 'ColumnRef') {
      const fields = refFields(v[1])
      if (fields && fields.length > 0 && isStarField(fields, fields.length - 1, v[1])) return this.starTarget(fields.slice(0, -1), level)
      const { lin, direct } = this.columnRef(v[1], level)
      const figured = figureName(val)
      return [column(alias ?? figured.name, lin, direct, alias === undefined && !figured.known ? 'unknown' : 'exact')]
    }
    if (v?.[0] === 'A_Indirection') {
      const ind = list(v[1].indirection)
      if (ind.length > 0 && unwrap(ind[ind.length - 1])?.[0] === 'A_Star') return this.indirectionStar(v[1], level)
    }
    const figured = figureName(val)
    return [column(alias ?? figured.name, this.exprLin(val, level), false, alias === undefined && !figured.known ? 'unknown' : 'exact')]
  }

  /** `*`, `t.*`, `s.t.*` in a target list. */
  private starTarget(names: string[], level: Level): Item[] {
    if (names.length === 0) return level.from.flatMap(expandRel)
    if (names.length <= 3) {
      const rels = this.findRels(level, names[names.length - 1]!, names.length >= 2 ? names[names.length - 2] : undefined)
      if (rels.length > 0) return rels.flatMap(expandRel)
    }
    // No such relation: PostgreSQL refuses the statement; nothing it could mean is left out.
    return [star(linTables(this.everything(level)), false)]
  }

  /** `(x).*`: a relation's columns when x is only a relation; otherwise unknown fields of a value. */
  private indirectionStar(node: AstNode, level: Level): Item[] {
    const arg = unwrap(node.arg)
    if (arg?.[0] === 'ColumnRef' && list(node.indirection).length === 1) {
      const fields = refFields(arg[1])
      if (fields?.length === 1 && fields[0] !== '*' && this.columnCandidates(level, fields[0]!) === undefined) {
        const rels = this.findRels(level, fields[0]!)
        if (rels.length > 0) return rels.flatMap(expandRel)
      }
    }
    return [star(linTables(this.exprLin(node, level)), false)]
  }

  private exprLin(value: unknown, level: Level): Lin {
    const acc = emptyLin()
    this.expr(value, level, acc)
    return acc
  }

  /**
   * Adds to `acc` everything an expression's value may be computed from.
   * Generic first: every nested node is visited, so a column reference in
   * any clause of any node type is seen; column references, subqueries,
   * function calls, field selections and window references are handled by
   * what they mean.
   */
  private expr(value: unknown, level: Level, acc: Lin): void {
    if (typeof value !== 'object' || value === null) return
    if (Array.isArray(value)) {
      for (const el of value) this.expr(el, level, acc)
      return
    }
    const node = unwrap(value)
    if (node) this.exprTyped(node[0], node[1], level, acc)
    else this.exprChildren('?', value as AstNode, level, acc)
  }

  private exprTyped(type: string, node: AstNode, level: Level, acc: Lin): void {
    if (LEAF_TYPES.has(type)) return
    this.guard(() => {
      switch (type) {
        case 'ColumnRef':
          addLin(acc, this.columnRef(node, level).lin)
          return
        case 'SelectStmt':
        case 'InsertStmt':
        case 'UpdateStmt':
        case 'DeleteStmt':
        case 'MergeStmt':
          // A subquery (scalar, ARRAY, EXISTS, IN, JSON_ARRAY(query)): its outputs, not its conditions.
          for (const item of this.query({ [type]: node }, level, level.ctes)) addLin(acc, itemLin(item))
          return
        case 'FuncCall':
          this.functionRows(node, acc)
          this.exprChildren(type, node, level, acc, 'funcname')
          return
        case 'A_Indirection':
          this.indirection(node, level, acc)
          return
        case 'WindowDef':
          this.exprChildren(type, node, level, acc)
          // OVER w: the named windows' PARTITION BY and ORDER BY feed the value too.
          if (str(node.name) || str(node.refname)) for (const w of level.windows) this.exprChildren('WindowDef', w, level, acc)
          return
        case 'RangeVar':
          // Not expected in an expression: treat as the whole table (or CTE).
          addLin(acc, wholeRow(this.rangeVarRel(node, level.ctes)))
          return
        default:
          this.exprChildren(type, node, level, acc)
      }
    })
  }

  private exprChildren(type: string, node: AstNode, level: Level, acc: Lin, skip?: string): void {
    const fields = FIELD_TYPES.get(type)
    for (const key in node) {
      if (key === skip) continue
      const value = node[key]
      if (typeof value !== 'object' || value === null) continue
      const fieldType = Array.isArray(value) ? undefined : fields?.get(key)
      if (fieldType !== undefined) this.exprTyped(fieldType, value as AstNode, level, acc)
      else this.expr(value, level, acc)
    }
  }

  /** `(c).email`, `(c.*).email`: the field of a whole row is that column; anything else is its argument and subscripts. */
  private indirection(node: AstNode, level: Level, acc: Lin): void {
    const arg = unwrap(node.arg)
    const ind = list(node.indirection)
    const first = unwrap(ind[0])
    if (arg?.[0] === 'ColumnRef' && first?.[0] === 'String' && typeof first[1].sval === 'string') {
      const field = first[1].sval
      const fields = refFields(arg[1])
      const rowName = fields?.length === 1 && fields[0] !== '*' ? fields[0] : fields?.length === 2 && isStarField(fields, 1, arg[1]) ? fields[0] : undefined
      if (rowName !== undefined) {
        // `(c)` is a column c if one may exist, else the row of c (transformColumnRef); `(c.*)` is the row.
        const cols = fields!.length === 1 ? this.columnCandidates(level, rowName) : undefined
        if (cols) addLin(acc, cols.lin)
        if (!cols?.definite) {
          const rels = this.findRels(level, rowName)
          for (const rel of rels) addLin(acc, lookupColumn(rel, field)?.lin ?? wholeRow(rel))
          if (!cols && rels.length === 0) addLin(acc, this.everything(level))
        }
        this.expr(ind.slice(1), level, acc)
        return
      }
    }
    this.exprChildren('A_Indirection', node, level, acc)
  }

  /**
   * Functions that return rows of tables named in their arguments
   * (`query_to_xml('select * from t', ...)`): the classifier's own walker
   * names the tables; when it cannot, any table may flow out (`*`).
   */
  private functionRows(node: AstNode, acc: Lin): void {
    const parts = stringList(node.funcname)
    const fn = dangerousFunction(parts.length >= 2 ? parts[parts.length - 2] : undefined, parts[parts.length - 1] ?? '')
    if (!fn || !READS_TABLES.has(fn.special)) return
    // Only constant arguments name tables; the rest (and their own subqueries) is traced as expressions.
    const constant = (a: unknown): unknown => (constantString(a) !== undefined ? a : NULL_CONST)
    const args = list(node.args).map((a) => {
      const named = unwrap(a)
      return named?.[0] === 'NamedArgExpr' ? { NamedArgExpr: { ...named[1], arg: constant(named[1].arg) } } : constant(a)
    })
    const walker = new StatementWalker(this.defaultSchema, this.nested)
    walker.visit({ FuncCall: { funcname: node.funcname, args } })
    for (const read of walker.reads) acc.wholeRows.add(read)
    if (walker.ops.some((op) => op.action === 'other')) acc.wholeRows.add('*')
  }
}

/** JSON_TABLE column names, NESTED PATH columns included; undefined entries for what cannot be named. */
function jsonTableColumns(columns: unknown): (string | undefined)[] {
  const out: (string | undefined)[] = []
  for (const el of list(columns)) {
    const col = unwrap(el)?.[1]
    if (!col) out.push(undefined)
    else if (col.coltype === 'JTC_NESTED') out.push(...jsonTableColumns(col.columns))
    else out.push(str(col.name))
  }
  return out
}

// ---------------------------------------------------------------------------
// Output names

const SQL_VALUE_FUNCTION_NAMES: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
}

const XML_EXPR_NAMES: Record<string, string> = {
  IS_XMLCONCAT: 'xmlconcat',
  IS_XMLELEMENT: 'xmlelement',
  IS_XMLFOREST: 'xmlforest',
  IS_XMLPARSE: 'xmlparse',
  IS_XMLPI: 'xmlpi',
  IS_XMLROOT: 'xmlroot',
  IS_XMLSERIALIZE: 'xmlserialize',
}

const JSON_FUNC_NAMES: Record<string, string> = { JSON_EXISTS_OP: 'json_exists', JSON_QUERY_OP: 'json_query', JSON_VALUE_OP: 'json_value' }

const FIXED_NAMES: Record<string, string> = {
  GroupingFunc: 'grouping',
  MergeSupportFunc: 'merge_action',
  CaseExpr: 'case',
  A_ArrayExpr: 'array',
  RowExpr: 'row',
  CoalesceExpr: 'coalesce',
  XmlSerialize: 'xmlserialize',
  JsonParseExpr: 'json',
  JsonScalarExpr: 'json_scalar',
  JsonSerializeExpr: 'json_serialize',
  JsonObjectConstructor: 'json_object',
  JsonArrayConstructor: 'json_array',
  JsonArrayQueryConstructor: 'json_array',
  JsonObjectAgg: 'json_objectagg',
  JsonArrayAgg: 'json_arrayagg',
}

interface FiguredName {
  name: string
  /** FigureColname's strength: 2 for a real name, 1 for a type or keyword, 0 for `?column?`. */
  strength: number
  /** False when PostgreSQL's choice could not be worked out here. */
  known: boolean
}

/** An output column's name when the query gives none: PostgreSQL's FigureColname (parse_target.c). */
function figureName(value: unknown, depth = 0): FiguredName {
  const none: FiguredName = { name: '?column?', strength: 0, known: true }
  const node = unwrap(value)
  if (!node || depth > 100) return { ...none, known: false }
  const [type, body] = node
  const fixed = FIXED_NAMES[type]
  if (fixed !== undefined) return { name: fixed, strength: type === 'GroupingFunc' || type === 'MergeSupportFunc' || type.startsWith('Json') || type === 'XmlSerialize' ? 2 : 1, known: true }
  switch (type) {
    case 'ColumnRef': {
      const last = unwrap(list(body.fields).at(-1))
      return last?.[0] === 'String' && typeof last[1].sval === 'string' ? { name: last[1].sval, strength: 2, known: true } : none
    }
    case 'A_Indirection': {
      let field: string | undefined
      for (const el of list(body.indirection)) {
        const i = unwrap(el)
        if (i?.[0] === 'String' && typeof i[1].sval === 'string') field = i[1].sval
      }
      return field !== undefined ? { name: field, strength: 2, known: true } : figureName(body.arg, depth + 1)
    }
    case 'FuncCall': {
      const name = stringList(body.funcname).at(-1)
      return name !== undefined ? { name, strength: 2, known: true } : none
    }
    case 'A_Expr':
      return body.kind === 'AEXPR_NULLIF' ? { name: 'nullif', strength: 2, known: true } : none
    case 'TypeCast': {
      const inner = figureName(body.arg, depth + 1)
      if (inner.strength > 1) return inner
      const typeName = isObject(body.typeName) ? stringList(body.typeName.names).at(-1) : undefined
      return typeName !== undefined ? { name: typeName, strength: 1, known: inner.known } : inner
    }
    case 'CollateClause':
      return figureName(body.arg, depth + 1)
    case 'SubLink':
      switch (body.subLinkType) {
        case 'EXISTS_SUBLINK':
          return { name: 'exists', strength: 2, known: true }
        case 'ARRAY_SUBLINK':
          return { name: 'array', strength: 2, known: true }
        case 'EXPR_SUBLINK': {
          // The subquery's first output column's name.
          const first = firstOutputName(body.subselect, depth + 1)
          return first ? { name: first.name, strength: 2, known: first.known } : { ...none, known: false }
        }
        default:
          return none
      }
    case 'MinMaxExpr':
      return { name: body.op === 'IS_GREATEST' ? 'greatest' : 'least', strength: 1, known: true }
    case 'SQLValueFunction': {
      const name = SQL_VALUE_FUNCTION_NAMES[str(body.op) ?? '']
      return name !== undefined ? { name, strength: 2, known: true } : { ...none, known: false }
    }
    case 'XmlExpr': {
      const name = XML_EXPR_NAMES[str(body.op) ?? '']
      return name !== undefined ? { name, strength: 2, known: true } : none
    }
    case 'JsonFuncExpr': {
      const name = JSON_FUNC_NAMES[str(body.op) ?? '']
      return name !== undefined ? { name, strength: 2, known: true } : { ...none, known: false }
    }
    default:
      return none
  }
}

/** The name of a query's first output column (the leftmost branch of a set operation). */
function firstOutputName(query: unknown, depth: number): { name: string; known: boolean } | undefined {
  let s = unwrap(query)?.[1] ?? (isObject(query) ? query : undefined)
  for (let i = 0; s && typeof s.op === 'string' && s.op !== 'SETOP_NONE' && i < 1000; i++) s = isObject(s.larg) ? s.larg : undefined
  if (!s) return undefined
  if (Array.isArray(s.valuesLists) && s.valuesLists.length > 0) return { name: 'column1', known: true }
  const rt = unwrap(list(s.targetList)[0])?.[1]
  if (!rt) return undefined
  const alias = str(rt.name)
  if (alias !== undefined) return { name: alias, known: true }
  const val = unwrap(rt.val)
  if (val?.[0] === 'ColumnRef' && unwrap(list(val[1].fields).at(-1))?.[0] === 'A_Star') return undefined
  const figured = figureName(rt.val, depth)
  return { name: figured.name, known: figured.known }
}
