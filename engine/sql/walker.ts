// The statement walker: visits every node of one statement's parse tree and
// collects what the statement does. It is generic first (every nested object
// is visited, so a table or a function call in an unusual clause is still
// seen) and structural second: handlers for the nodes whose meaning depends on
// where they are (DML targets, CTE names, DDL object names, EXPLAIN, COPY).
//
// Parse tree shape (libpg-query JSON): list elements and `Node`-typed fields
// hold wrapped nodes (`{RangeVar: {...}}`); the fields listed in
// UNWRAPPED_FIELDS hold the node itself. A wrapped node is an object with a
// single key starting with an upper-case letter (no field name does).
import type { SqlAction, SqlOperation } from '../types.js'
import { UNWRAPPED_FIELDS } from './ast-fields.js'
import { dangerousFunction, type DangerousFunction } from './dangerous-functions.js'
import { SQL_ERROR_CODES, SqlClassifyError } from './errors.js'
import { qualify, quoteIdent, relationNames, splitQualifiedName, type RelationRef } from './names.js'
import { STATEMENT_HANDLERS } from './statements.js'
import { constantString, isObject, stringList, unwrap, type AstNode } from './ast.js'

/** An EXECUTE of a prepared statement, resolved against the session after the (cacheable) walk. */
export interface ExecuteRef {
  name: string
  /** Under a plain EXPLAIN: the statement is planned, not run. */
  explainOnly: boolean
}

export type SessionEffect =
  | { kind: 'prepare'; name: string; innerKind: string }
  /** `name` undefined: DEALLOCATE ALL / DISCARD ALL. */
  | { kind: 'deallocate'; name: string | undefined }

/** Classifies SQL found inside a statement (`query_to_xml('...')`); undefined when it cannot. */
export type NestedClassifier = (sql: string) => { operations: SqlOperation[]; reads: string[] } | undefined

/**
 * Bound on nesting while walking, turning a pathological tree into
 * `sql.too_complex`. The walker recurses (a few frames per level); a tree deep
 * enough to exhaust the stack first still ends as an error value, never a throw
 * (classify.ts maps the RangeError to `sql.too_complex` too).
 */
export const MAX_DEPTH = 1000

const FIELD_TYPES = new Map<string, Map<string, string>>(
  Object.entries(UNWRAPPED_FIELDS).map(([type, fields]) => [type, new Map(Object.entries(fields))]),
)

/** Node types that cannot contain other nodes of interest: skipped for speed. */
const LEAF_TYPES = new Set(['A_Const', 'String', 'Integer', 'Float', 'Boolean', 'BitString', 'A_Star', 'ParamRef', 'ColumnRef'])

/** Actions a plain EXPLAIN keeps as they are: they come from function calls the planner may evaluate. */
const KEPT_UNDER_EXPLAIN: ReadonlySet<SqlAction> = new Set(['function', 'set', 'set-role', 'set-search-path', 'notify', 'other'])

/** What an operation becomes when its statement is only planned (plain EXPLAIN). */
export function explainOnly(op: SqlOperation): SqlOperation {
  if (KEPT_UNDER_EXPLAIN.has(op.action)) return op
  return op.object === undefined ? { action: 'explain' } : { action: 'explain', object: op.object }
}

interface CteScope {
  names: readonly string[]
  parent: CteScope | undefined
}

interface RelationSeen {
  names: string[]
  relname: string
  alias: string | undefined
}

export class StatementWalker {
  readonly ops: SqlOperation[] = []
  readonly reads: string[] = []
  readonly executes: ExecuteRef[] = []
  effect: SessionEffect | undefined
  /** Set by statements that need no grant of their own (BEGIN, SHOW, FETCH, ...). */
  sessionControl = false
  defaultSchema: string
  private scope: CteScope | undefined
  private readonly seen: RelationSeen[] = []
  private depth = 0

  constructor(
    defaultSchema: string,
    private readonly nested: NestedClassifier,
  ) {
    this.defaultSchema = defaultSchema
  }

  /** Walks a top-level statement. */
  walkStatement(kind: string, body: AstNode): void {
    this.visitMainQuery({ [kind]: body })
    // Anything unclassified must show up as an operation, never as nothing.
    if (this.ops.length === 0 && !this.sessionControl && this.executes.length === 0) {
      this.addOp('other', undefined, `\`${kind}\` is not classified`)
    }
  }

  addOp(action: SqlAction, object?: string, note?: string): void {
    const op: SqlOperation = { action }
    if (object !== undefined) op.object = object
    if (note !== undefined) op.note = note
    this.ops.push(op)
  }

  addRead(name: string): void {
    this.reads.push(name)
  }

  relationNames(rel: unknown, creating = false): string[] {
    return relationNames(isObject(rel) ? (rel as RelationRef) : {}, this.defaultSchema, creating)
  }

  /** A query whose own kind is its main operation: a SELECT that touches no table is still a `select`. */
  visitMainQuery(query: unknown): void {
    const start = this.ops.length
    this.visit(query)
    const node = unwrap(query)
    if (node?.[0] === 'SelectStmt' && !this.ops.slice(start).some((op) => op.action === 'select')) this.addOp('select')
  }

  /** Visits a value that should be a wrapped node (or a list of them). */
  visit(value: unknown): void {
    if (typeof value !== 'object' || value === null) return
    if (Array.isArray(value)) {
      for (const el of value) this.visit(el)
      return
    }
    const node = unwrap(value)
    if (node) this.visitTyped(node[0], node[1])
    else {
      // Not a wrapped node: walk it anyway, so nothing below it is missed.
      const obj = value as AstNode
      this.visitTyped(typeof obj.relname === 'string' ? 'RangeVar' : '?', obj)
    }
  }

  visitTyped(type: string, node: unknown): void {
    if (!isObject(node) || LEAF_TYPES.has(type)) return
    if (++this.depth > MAX_DEPTH) {
      throw new SqlClassifyError(SQL_ERROR_CODES.tooComplex, `the statement nests deeper than ${MAX_DEPTH} levels`)
    }
    try {
      switch (type) {
        case 'RangeVar':
          this.readRelation(node)
          return
        case 'FuncCall':
          this.funcCall(node)
          return
        case 'SelectStmt':
          this.select(node)
          return
        case 'InsertStmt':
        case 'UpdateStmt':
        case 'DeleteStmt':
        case 'MergeStmt':
          this.modify(type, node)
          return
        case 'WithClause':
          // Reached only through a parent without a handler: scope it over nothing,
          // so CTE names stay tables (the conservative reading).
          this.visitChildren(type, node)
          return
        case 'ExplainStmt':
          this.explain(node)
          return
        case 'ExecuteStmt':
          this.executes.push({ name: typeof node.name === 'string' ? node.name : '', explainOnly: false })
          this.visitChildren(type, node)
          return
        default: {
          const handler = STATEMENT_HANDLERS.get(type)
          if (handler) handler(this, node, type)
          else if (type.endsWith('Stmt')) {
            this.addOp('other', undefined, `\`${type}\` is not classified`)
            this.visitChildren(type, node)
          } else this.visitChildren(type, node)
        }
      }
    } finally {
      this.depth--
    }
  }

  /** Visits every field of a node except those named in `skip`. */
  visitChildren(type: string, node: AstNode, skip1?: string, skip2?: string, skip3?: string): void {
    const fields = FIELD_TYPES.get(type)
    for (const key in node) {
      if (key === skip1 || key === skip2 || key === skip3) continue
      const value = node[key]
      if (typeof value !== 'object' || value === null) continue
      if (Array.isArray(value)) {
        for (const el of value) this.visit(el)
        continue
      }
      const fieldType = fields?.get(key)
      if (fieldType !== undefined) this.visitTyped(fieldType, value)
      else this.visit(value)
    }
  }

  /** Runs `body` with another default schema (CREATE SCHEMA s CREATE TABLE t: t is s.t). */
  withDefaultSchema(schema: string, body: () => void): void {
    const saved = this.defaultSchema
    this.defaultSchema = schema
    try {
      body()
    } finally {
      this.defaultSchema = saved
    }
  }

  // -------------------------------------------------------------------------
  // Queries

  private isCte(name: string): boolean {
    for (let s = this.scope; s; s = s.parent) if (s.names.includes(name)) return true
    return false
  }

  private readRelation(rv: AstNode): void {
    const relname = typeof rv.relname === 'string' ? rv.relname : ''
    const qualified = typeof rv.schemaname === 'string' && rv.schemaname !== ''
    // A CTE name shadows a table of the same name, only when unqualified.
    if (!qualified && this.isCte(relname)) return
    const names = this.relationNames(rv)
    for (const name of names) {
      this.addOp('select', name)
      this.reads.push(name)
    }
    const alias = isObject(rv.alias) && typeof rv.alias.aliasname === 'string' ? rv.alias.aliasname : undefined
    this.seen.push({ names, relname, alias })
  }

  /**
   * WITH: each CTE sees the CTEs before it (all of them, itself included, when
   * RECURSIVE); the statement body sees all of them; the scope ends with the
   * statement (PostgreSQL's parse_cte.c).
   */
  private withScope(withClause: AstNode, body: () => void): void {
    const ctes = Array.isArray(withClause.ctes) ? withClause.ctes : []
    const recursive = withClause.recursive === true
    const names: string[] = []
    const bodies: unknown[] = []
    for (const el of ctes) {
      const node = unwrap(el)
      if (node && node[0] === 'CommonTableExpr') {
        names.push(typeof node[1].ctename === 'string' ? node[1].ctename : '')
        bodies.push(el)
      } else bodies.push(el)
    }
    const outer = this.scope
    try {
      let defined = 0
      for (const el of bodies) {
        this.scope = { names: recursive ? names : names.slice(0, defined), parent: outer }
        this.visit(el)
        if (unwrap(el)?.[0] === 'CommonTableExpr') defined++
      }
      this.scope = { names, parent: outer }
      body()
    } finally {
      this.scope = outer
    }
  }

  private select(node: AstNode): void {
    // Tables read by this SELECT's own CTEs count for FOR UPDATE too.
    const seenStart = this.seen.length
    if (isObject(node.withClause)) this.withScope(node.withClause, () => this.selectBody(node, seenStart))
    else this.selectBody(node, seenStart)
  }

  private selectBody(node: AstNode, seenStart: number): void {
    this.visitChildren('SelectStmt', node, 'withClause', 'intoClause', 'lockingClause')
    const into = node.intoClause
    if (isObject(into)) {
      for (const name of this.relationNames(into.rel, true)) this.addOp('create', name, 'SELECT INTO creates a table')
      this.visitChildren('IntoClause', into, 'rel')
    }
    if (Array.isArray(node.lockingClause)) {
      const inScope = this.seen.slice(seenStart)
      for (const el of node.lockingClause) {
        const clause = unwrap(el)?.[1] ?? (isObject(el) ? el : {})
        const lockedRels = Array.isArray(clause.lockedRels) ? clause.lockedRels : []
        if (lockedRels.length === 0) {
          // FOR UPDATE without OF locks every table of the FROM clause, views and subqueries included.
          for (const rel of inScope) for (const name of rel.names) this.addOp('lock', name)
          continue
        }
        for (const relEl of lockedRels) {
          const rv = unwrap(relEl)?.[1] ?? {}
          const wanted = typeof rv.relname === 'string' ? rv.relname : ''
          // OF names a FROM item: its alias, or the table name when it has none.
          const matches = inScope.filter((rel) => (rel.alias ?? rel.relname) === wanted)
          if (matches.length === 0) for (const name of this.relationNames(rv)) this.addOp('lock', name)
          for (const rel of matches) for (const name of rel.names) this.addOp('lock', name)
        }
      }
    }
  }

  private modify(type: 'InsertStmt' | 'UpdateStmt' | 'DeleteStmt' | 'MergeStmt', node: AstNode): void {
    const run = (): void => {
      const action: SqlAction =
        type === 'InsertStmt' ? 'insert' : type === 'UpdateStmt' ? 'update' : type === 'DeleteStmt' ? 'delete' : 'merge'
      const targets = this.relationNames(node.relation)
      for (const t of targets) this.addOp(action, t)
      const conflict = node.onConflictClause
      if (isObject(conflict) && conflict.action === 'ONCONFLICT_UPDATE') {
        for (const t of targets) this.addOp('update', t, 'INSERT ... ON CONFLICT DO UPDATE updates existing rows')
      }
      if (isObject(node.returningClause)) {
        // RETURNING hands rows of the target back: PostgreSQL requires SELECT for it too.
        for (const t of targets) {
          this.addOp('select', t, 'RETURNING returns rows of the target table')
          this.reads.push(t)
        }
      }
      // invariant: the target (`relation`) is not a read; a CTE of the same name never is the target.
      this.visitChildren(type, node, 'relation', 'withClause')
    }
    if (isObject(node.withClause)) this.withScope(node.withClause, run)
    else run()
  }

  private explain(node: AstNode): void {
    const options = Array.isArray(node.options) ? node.options : []
    // Any ANALYZE that is not explicitly false counts (PostgreSQL takes the last one; this is stricter).
    const analyze = options.some((el) => {
      const opt = unwrap(el)
      if (!opt || opt[0] !== 'DefElem' || opt[1].defname !== 'analyze') return false
      const arg = unwrap(opt[1].arg)
      if (!arg) return true
      const value = arg[0] === 'String' ? String(arg[1].sval ?? '').toLowerCase() : arg[0] === 'Integer' ? String(arg[1].ival ?? 0) : arg[0] === 'Boolean' ? String(arg[1].boolval === true) : ''
      return !(value === 'false' || value === 'off' || value === '0')
    })
    const opStart = this.ops.length
    const readStart = this.reads.length
    const execStart = this.executes.length
    this.visitMainQuery(node.query)
    if (analyze) {
      for (let i = opStart; i < this.ops.length; i++) {
        const op = this.ops[i]!
        if (op.note === undefined) this.ops[i] = { ...op, note: 'EXPLAIN ANALYZE executes its statement' }
      }
    } else {
      for (let i = opStart; i < this.ops.length; i++) this.ops[i] = explainOnly(this.ops[i]!)
      // A plan shows no rows.
      this.reads.length = readStart
      for (let i = execStart; i < this.executes.length; i++) this.executes[i]!.explainOnly = true
      const planned = this.ops.slice(opStart).some((op) => op.action === 'explain') || this.executes.length > execStart
      if (!planned) this.addOp('explain')
    }
    this.visitChildren('ExplainStmt', node, 'query')
  }

  // -------------------------------------------------------------------------
  // Function calls

  private funcCall(node: AstNode): void {
    const parts = stringList(node.funcname)
    const name = parts[parts.length - 1] ?? ''
    const schema = parts.length >= 2 ? parts[parts.length - 2] : undefined
    const fn = dangerousFunction(schema, name)
    if (fn) this.dangerousCall(fn, schema, name, node)
    this.visitChildren('FuncCall', node, 'funcname')
  }

  private dangerousCall(fn: DangerousFunction, schema: string | undefined, name: string, node: AstNode): void {
    const qualified = qualify(fn.anySchema ? (schema ?? this.defaultSchema) : 'pg_catalog', name)
    const args = Array.isArray(node.args) ? node.args : []
    // Named notation (`f(a => ...)`) may reorder arguments: treat every argument as unknown.
    const named = args.some((a) => unwrap(a)?.[0] === 'NamedArgExpr')
    const arg = (i: number): string | undefined => (named ? undefined : constantString(args[i]))
    switch (fn.special) {
      case 'set-config': {
        const setting = arg(0)
        if (setting === undefined) this.addOp('function', qualified, 'set_config with a setting chosen at run time')
        else this.setting(setting, arg(1), `set_config('${setting}', ...) is SET`)
        return
      }
      case 'notify':
        this.addOp('notify', undefined, 'pg_notify sends a notification')
        return
      case 'reads-table': {
        this.addOp('function', qualified)
        const text = arg(0)
        const parts = text === undefined ? undefined : splitQualifiedName(text)
        if (!parts) {
          this.addOp('other', undefined, `${name} reads a table the classifier cannot name`)
          return
        }
        const rel: RelationRef = { relname: parts[parts.length - 1]! }
        if (parts.length >= 2) rel.schemaname = parts[parts.length - 2]!
        for (const t of relationNames(rel, this.defaultSchema)) {
          this.addOp('select', t, `${name} reads the table`)
          this.reads.push(t)
        }
        return
      }
      case 'reads-schema': {
        this.addOp('function', qualified)
        const text = arg(0)
        if (text === undefined) this.addOp('other', undefined, `${name} reads a schema chosen at run time`)
        else {
          const all = `${quoteIdent(text)}.*`
          this.addOp('select', all, `${name} reads every table of the schema`)
          this.reads.push(all)
        }
        return
      }
      case 'reads-database':
        this.addOp('function', qualified)
        this.addOp('select', '*', `${name} reads every table of the database`)
        this.reads.push('*')
        return
      case 'runs-sql': {
        this.addOp('function', qualified)
        if (fn.arity !== undefined && args.length !== fn.arity) return
        const sql = arg(fn.sqlArgument ?? 0)
        const inner = sql === undefined ? undefined : this.nested(sql)
        if (!inner) {
          this.addOp('other', undefined, `${name} runs SQL the classifier cannot see`)
          return
        }
        for (const op of inner.operations) this.ops.push(op.note === undefined ? { ...op, note: `run by ${name}` } : op)
        for (const r of inner.reads) this.reads.push(r)
        return
      }
      default:
        this.addOp('function', qualified)
    }
  }

  /**
   * SET name / RESET name / set_config(name, ...). GUC names are case-insensitive (guc.c).
   * `value` is the new value when it is a constant; undefined for RESET, DEFAULT or a run-time value.
   */
  setting(rawName: string, value: string | undefined, note?: string): void {
    const name = rawName.replace(/[A-Z]+/g, (s) => s.toLowerCase())
    if (name === 'role' || name === 'session_authorization') this.addOp('set-role', undefined, note)
    else if (name === 'search_path') this.addOp('set-search-path', undefined, note)
    else if (Object.hasOwn(LEXING_SETTINGS, name) && (value === undefined || !LEXING_SETTINGS[name]!(value))) {
      this.addOp('other', undefined, `\`${name}\` changes how the server reads later statements`)
    } else this.addOp('set', name, note)
  }
}

/**
 * Settings that change how the server splits and reads statement text. The
 * parser here assumes standard_conforming_strings on and UTF-8: with
 * `standard_conforming_strings = off`, `SELECT 'x\' , $$' ; DELETE FROM t; -- $$`
 * is one harmless statement to this parser and a DELETE to the server. Only
 * the values the parser agrees with are plain `set`; anything else is `other`.
 */
const LEXING_SETTINGS: Readonly<Record<string, (value: string) => boolean>> = {
  standard_conforming_strings: (v) => ['on', 'true', 'yes', '1'].includes(v.toLowerCase()),
  // PostgreSQL's clean_encoding_name: lower case, non-alphanumerics dropped.
  client_encoding: (v) => ['utf8', 'unicode'].includes(v.toLowerCase().replace(/[^a-z0-9]/g, '')),
}
