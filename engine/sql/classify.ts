// classifySql(): text in, what each statement does out. Two phases:
//   analyse — parse and walk; depends only on (text, defaultSchema), so it can be cached;
//   resolve — apply the session: EXECUTE takes what PREPARE recorded, PREPARE
//             records, DEALLOCATE forgets. Cheap, and run on every call.
// Never throws: every failure is an error value, and an error denies.
import type { SqlClassification, SqlOperation, SqlSessionState, SqlStatement } from '../types.js'
import { SQL_ERROR_CODES, SqlClassifyError } from './errors.js'
import { parseStatements } from './parser.js'
import { StatementWalker, explainOnly, type ExecuteRef, type SessionEffect } from './walker.js'

export const DEFAULT_MAX_SQL_BYTES = 1024 * 1024

/** How deep SQL inside SQL (`query_to_xml('select ...')`) is followed before giving up (as `other`). */
const MAX_NESTED_SQL = 3

export interface ClassifyOptions {
  /** Where unqualified names resolve (the gateway refuses search_path changes unless a policy allows them). */
  defaultSchema: string
  /** Prepared statements of the client's session; PREPARE records into it, EXECUTE reads it. */
  session?: SqlSessionState
  /** Refuse longer SQL (bytes of UTF-8) with `sql.too_large`. Default 1 MiB. */
  maxBytes?: number
}

/** One statement after the cacheable phase. */
export interface StatementDraft {
  text: string
  kind: string
  operations: SqlOperation[]
  reads: string[]
  executes: ExecuteRef[]
  effect?: SessionEffect
  /** The finished statement, when it does not depend on the session. */
  statement?: SqlStatement
}

export type Analysis =
  | { ok: true; drafts: StatementDraft[]; sessionDependent: boolean; result?: SqlClassification }
  | { ok: false; error: { code: string; message: string; position?: number } }

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const encoder = new TextEncoder()

export function errorOf(err: unknown): Extract<Analysis, { ok: false }> {
  if (err instanceof SqlClassifyError) {
    const error: { code: string; message: string; position?: number } = { code: err.code, message: err.message }
    if (err.position !== undefined) error.position = err.position
    return { ok: false, error }
  }
  // A stack overflow in a pathological tree, a bug: never let it escape as "nothing happened".
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { ok: false, error: { code: SQL_ERROR_CODES.tooComplex, message: 'the statement nests too deeply to classify' } }
  }
  const message = err instanceof Error ? err.message : String(err)
  return { ok: false, error: { code: SQL_ERROR_CODES.unclassifiable, message: `the statement could not be classified: ${message}` } }
}

/** The cacheable phase. Throws only SqlClassifyError or unexpected errors; callers wrap it. */
export function analyzeSql(sql: string, defaultSchema: string, maxBytes = DEFAULT_MAX_SQL_BYTES, nesting = 0): Analysis {
  if (typeof sql !== 'string') throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'the statement is not a string')
  if (typeof defaultSchema !== 'string' || defaultSchema === '' || defaultSchema.includes('\0')) {
    throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'defaultSchema must be a non-empty name')
  }
  // UTF-8 takes at least one byte per UTF-16 unit and at most three, so the exact count is needed only in between.
  if (sql.length > maxBytes || (sql.length * 3 > maxBytes && encoder.encode(sql).length > maxBytes)) {
    throw new SqlClassifyError(SQL_ERROR_CODES.tooLarge, `the statement is longer than ${maxBytes} bytes`)
  }
  // The parser (C) stops at NUL, and a lone surrogate has no UTF-8 form: PostgreSQL would see other text.
  const nul = sql.indexOf('\0')
  if (nul >= 0) throw new SqlClassifyError(SQL_ERROR_CODES.invalidText, 'the statement contains a NUL character', nul)
  if (LONE_SURROGATE.test(sql)) throw new SqlClassifyError(SQL_ERROR_CODES.invalidText, 'the statement is not valid Unicode')

  const nested = (inner: string): { operations: SqlOperation[]; reads: string[] } | undefined => {
    if (nesting >= MAX_NESTED_SQL) return undefined
    let analysis: Analysis
    try {
      analysis = analyzeSql(inner, defaultSchema, maxBytes, nesting + 1)
    } catch {
      return undefined
    }
    if (!analysis.ok || analysis.sessionDependent) return undefined
    return {
      operations: analysis.drafts.flatMap((d) => d.operations),
      reads: analysis.drafts.flatMap((d) => d.reads),
    }
  }

  const drafts: StatementDraft[] = []
  let sessionDependent = false
  for (const parsed of parseStatements(sql)) {
    const walker = new StatementWalker(defaultSchema, nested)
    walker.walkStatement(parsed.kind, parsed.body)
    const draft: StatementDraft = {
      text: parsed.text,
      kind: parsed.kind,
      operations: walker.ops,
      reads: walker.reads,
      executes: walker.executes,
    }
    if (walker.effect) draft.effect = walker.effect
    if (walker.executes.length === 0) draft.statement = finishStatement(parsed.text, parsed.kind, walker.ops, walker.reads)
    if (walker.effect || walker.executes.length > 0) sessionDependent = true
    drafts.push(draft)
  }
  const analysis: Analysis = { ok: true, drafts, sessionDependent }
  if (!sessionDependent) analysis.result = { ok: true, statements: drafts.map((d) => d.statement!) }
  return analysis
}

/** Deduplicates (first note wins) and derives readOnly. */
export function finishStatement(text: string, kind: string, operations: readonly SqlOperation[], reads: readonly string[]): SqlStatement {
  const seen = new Set<string>()
  const ops: SqlOperation[] = []
  for (const op of operations) {
    const key = op.object === undefined ? op.action : `${op.action}\0${op.object}`
    if (seen.has(key)) continue
    seen.add(key)
    ops.push(op)
  }
  return {
    text,
    kind,
    operations: ops,
    reads: [...new Set(reads)],
    // invariant: read-only means only select and explain; dangerous functions are `function` (or set/notify) operations.
    readOnly: ops.every((op) => op.action === 'select' || op.action === 'explain'),
  }
}

/** The session phase: runs on every call, in statement order (PREPARE then EXECUTE in one string works). */
export function resolveSession(analysis: Extract<Analysis, { ok: true }>, session: SqlSessionState | undefined): SqlClassification {
  if (!analysis.sessionDependent && analysis.result) return analysis.result
  // Without a session, PREPARE and EXECUTE in the same string still pair up.
  const prepared = session?.prepared ?? new Map<string, SqlStatement>()
  const statements: SqlStatement[] = []
  for (const draft of analysis.drafts) {
    let statement = draft.statement
    if (!statement) {
      const ops = [...draft.operations]
      const reads = [...draft.reads]
      for (const ref of draft.executes) {
        const recorded = prepared.get(ref.name)
        if (!recorded) {
          ops.push({ action: 'other', note: `\`${ref.name}\` was not prepared in this session` })
          continue
        }
        for (const op of recorded.operations) ops.push(ref.explainOnly ? explainOnly(op) : op)
        if (!ref.explainOnly) reads.push(...recorded.reads)
      }
      statement = finishStatement(draft.text, draft.kind, ops, reads)
    }
    applyEffect(draft.effect, statement, prepared)
    statements.push(statement)
  }
  return { ok: true, statements }
}

function applyEffect(effect: SessionEffect | undefined, statement: SqlStatement, prepared: Map<string, SqlStatement>): void {
  if (!effect) return
  if (effect.kind === 'deallocate') {
    if (effect.name === undefined) prepared.clear()
    else prepared.delete(effect.name)
    return
  }
  const recorded: SqlStatement = { ...statement, kind: effect.innerKind }
  const existing = prepared.get(effect.name)
  // PostgreSQL refuses a second PREPARE of a name and keeps the first; if this
  // view of the session has drifted (a refused DEALLOCATE), the union covers both.
  prepared.set(
    effect.name,
    Object.freeze(
      existing
        ? finishStatement(existing.text, existing.kind, [...existing.operations, ...recorded.operations], [...existing.reads, ...recorded.reads])
        : recorded,
    ),
  )
}

/** Classifies without a cache. See createSqlClassifier for repeated statements. */
export function classifySql(sql: string, options: ClassifyOptions): SqlClassification {
  try {
    const analysis = analyzeSql(sql, options.defaultSchema, options.maxBytes)
    if (!analysis.ok) return analysis
    return resolveSession(analysis, options.session)
  } catch (err) {
    return errorOf(err)
  }
}

/** A fresh session state for one client connection. */
export function createSqlSession(): SqlSessionState {
  return { prepared: new Map() }
}
