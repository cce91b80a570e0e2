// PostgreSQL's own parser (libpg-query, WebAssembly): loaded once, then used
// synchronously. Byte offsets and error positions are translated to
// JavaScript string indices here, so nothing else deals with UTF-8.
import { loadModule, parseSync } from 'libpg-query'
import { isObject, unwrap, type AstNode } from './ast.js'
import { SQL_ERROR_CODES, SqlClassifyError } from './errors.js'

let loaded = false
let loading: Promise<void> | undefined

/** Loads the parser; idempotent, and retried after a failure. */
export function loadSqlParser(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      loaded = true
    },
    (err: unknown) => {
      loading = undefined
      throw err
    },
  )
  return loading
}

export function isSqlParserLoaded(): boolean {
  return loaded
}

export interface ParsedStatement {
  /** The statement's own text, trimmed. */
  text: string
  kind: string
  body: AstNode
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const NON_ASCII = /[^\x00-\x7f]/

/** Parses `sql` into statements; throws SqlClassifyError (syntax or unclassifiable). */
export function parseStatements(sql: string): ParsedStatement[] {
  if (!loaded) throw new SqlClassifyError(SQL_ERROR_CODES.notLoaded, 'the SQL parser is not loaded: call loadSqlParser() first')
  // libpg-query refuses the empty string; PostgreSQL answers it with EmptyQueryResponse.
  if (sql === '') return []
  let tree: unknown
  try {
    tree = parseSync(sql)
  } catch (err) {
    const details = isObject(err) && isObject(err.sqlDetails) ? err.sqlDetails : undefined
    if (details && typeof details.cursorPosition === 'number') {
      const message = typeof details.message === 'string' ? details.message : 'syntax error'
      throw new SqlClassifyError(SQL_ERROR_CODES.syntax, message, codePointToIndex(sql, details.cursorPosition))
    }
    throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, `the parser failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  const stmts = isObject(tree) && Array.isArray(tree.stmts) ? tree.stmts : undefined
  if (!stmts) throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'the parser returned no statement list')
  // Locations are byte offsets into the UTF-8 text.
  const bytes = NON_ASCII.test(sql) ? encoder.encode(sql) : undefined
  const out: ParsedStatement[] = []
  for (const raw of stmts) {
    if (!isObject(raw)) throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'malformed statement in parse tree')
    const node = unwrap(raw.stmt)
    if (!node) throw new SqlClassifyError(SQL_ERROR_CODES.unclassifiable, 'malformed statement in parse tree')
    const start = typeof raw.stmt_location === 'number' ? raw.stmt_location : 0
    // stmt_len 0 (omitted) means "to the end of the string".
    const len = typeof raw.stmt_len === 'number' && raw.stmt_len > 0 ? raw.stmt_len : undefined
    const text = bytes
      ? decoder.decode(bytes.subarray(start, len === undefined ? undefined : start + len))
      : sql.slice(start, len === undefined ? undefined : start + len)
    out.push({ text: text.trim(), kind: node[0], body: node[1] })
  }
  return out
}

/** The parser counts characters (code points, PostgreSQL's pg_mbstrlen); JavaScript indexes UTF-16 units. */
function codePointToIndex(sql: string, codePoints: number): number {
  if (!NON_ASCII.test(sql)) return Math.min(codePoints, sql.length)
  let index = 0
  for (let n = 0; n < codePoints && index < sql.length; n++) {
    const code = sql.charCodeAt(index)
    index += code >= 0xd800 && code <= 0xdbff ? 2 : 1
  }
  return Math.min(index, sql.length)
}
