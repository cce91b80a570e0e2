// Random and mutated input never throws and never hangs, and every answer is
// well formed: an error with a known code, or statements each of which either
// names operations or is session control. Deterministic: seeded PRNG.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, test } from 'node:test'
import { parse } from 'yaml'
import { classifySql, createSqlClassifier, createSqlSession, loadSqlParser, SQL_ERROR_CODES } from '../../../engine/sql/index.js'
import { SQL_ACTIONS, type SqlClassification } from '../../../engine/types.js'

/** mulberry32: small, fast, good enough to spread inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CODES = new Set<string>(Object.values(SQL_ERROR_CODES))
const ACTIONS = new Set<string>(SQL_ACTIONS)
/** Kinds that may classify with no operation. */
const SESSION_KINDS = new Set([
  'TransactionStmt', 'VariableShowStmt', 'VariableSetStmt', 'ConstraintsSetStmt', 'FetchStmt', 'ClosePortalStmt',
  'UnlistenStmt', 'DeallocateStmt', 'DiscardStmt',
])

function wellFormed(sql: string, result: SqlClassification): void {
  if (!result.ok) {
    assert.ok(CODES.has(result.error.code), `unknown code ${result.error.code} for ${JSON.stringify(sql)}`)
    if (result.error.position !== undefined) assert.ok(result.error.position >= 0 && result.error.position <= sql.length)
    return
  }
  for (const s of result.statements) {
    assert.ok(s.operations.length > 0 || SESSION_KINDS.has(s.kind), `no operation for ${s.kind}: ${JSON.stringify(sql)}`)
    for (const op of s.operations) assert.ok(ACTIONS.has(op.action), `bad action ${op.action}`)
    assert.equal(s.readOnly, s.operations.every((op) => op.action === 'select' || op.action === 'explain'))
    assert.equal(typeof s.text, 'string')
  }
}

const corpus: string[] = readdirSync(join(import.meta.dirname, '../../cases/sql'))
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parse(readFileSync(join(import.meta.dirname, '../../cases/sql', f), 'utf8')) as { sql?: string; steps?: { sql: string }[] }[])
  .flatMap((c) => (c.steps ? c.steps.map((s) => s.sql) : [c.sql ?? '']))
  .filter((s) => s.length > 0)

const TOKENS = [
  'SELECT', 'FROM', 'WHERE', 'DELETE', 'INSERT', 'INTO', 'UPDATE', 'SET', 'WITH', 'AS', '(', ')', ',', ';', "'", '"', '$$',
  '$a$', '--', '/*', '*/', 'E\'', '\\', 'pg_sleep(1)', 'query_to_xml(', 'EXPLAIN', 'ANALYZE', 'PREPARE', 'EXECUTE', 'COPY',
  'TO', 'STDOUT', 'RETURNING', '*', 't', 'x.y', '1', 'NULL', 'CASE', 'WHEN', 'END', 'LATERAL', 'JOIN', 'ON', 'UNION',
  'FOR UPDATE', 'DO', 'CALL', 'é', '😀', '\n', ' ', 'U&"', '::', '[', ']', 'ARRAY', 'VALUES', 'DEFAULT', 'CREATE', 'TABLE',
]

before(async () => {
  await loadSqlParser()
})

test('the fuzz corpus is not empty', () => {
  assert.ok(corpus.length > 150, `${corpus.length} corpus statements`)
})

test('random token soup never throws and always answers well formed', () => {
  const random = prng(0xc0ffee)
  const classifier = createSqlClassifier({ cacheSize: 64 })
  const session = createSqlSession()
  for (let i = 0; i < 3000; i++) {
    const n = 1 + Math.floor(random() * 25)
    let sql = ''
    for (let j = 0; j < n; j++) sql += TOKENS[Math.floor(random() * TOKENS.length)]! + (random() < 0.7 ? ' ' : '')
    wellFormed(sql, classifySql(sql, { defaultSchema: 'public', session }))
    wellFormed(sql, classifier.classify(sql, { defaultSchema: 'public', session }))
  }
})

test('random characters never throw', () => {
  const random = prng(42)
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(random() * 60)
    let sql = ''
    for (let j = 0; j < n; j++) {
      const r = random()
      // Mostly printable ASCII, some controls, some BMP, some astral, some lone surrogates.
      const code = r < 0.8 ? 32 + Math.floor(random() * 95) : r < 0.85 ? Math.floor(random() * 32) : r < 0.95 ? 0xa0 + Math.floor(random() * 0xd000) : r < 0.98 ? 0x1f600 + Math.floor(random() * 80) : 0xd800 + Math.floor(random() * 0x800)
      sql += String.fromCodePoint(code)
    }
    wellFormed(sql, classifySql(sql, { defaultSchema: 'public' }))
  }
})

test('mutated corpus statements never throw and never hang', () => {
  const random = prng(7)
  const session = createSqlSession()
  let slowest = 0
  for (let i = 0; i < 3000; i++) {
    let sql = corpus[Math.floor(random() * corpus.length)]!
    const mutations = 1 + Math.floor(random() * 4)
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * (sql.length + 1))
      const r = random()
      if (r < 0.3) sql = sql.slice(0, at) + sql.slice(at + 1 + Math.floor(random() * 5)) // delete
      else if (r < 0.6) sql = sql.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)]! + sql.slice(at) // insert a token
      else if (r < 0.8) sql = sql.slice(0, at) + sql.slice(Math.floor(random() * sql.length)) // splice with itself
      else sql = sql + ';' + corpus[Math.floor(random() * corpus.length)]! // append a statement
    }
    const start = process.hrtime.bigint()
    wellFormed(sql, classifySql(sql, { defaultSchema: 'public', session }))
    slowest = Math.max(slowest, Number(process.hrtime.bigint() - start) / 1e6)
  }
  assert.ok(slowest < 1000, `slowest classification took ${slowest} ms`)
})

test('large but legal input finishes in bounded time', () => {
  const start = Date.now()
  const many = Array.from({ length: 2000 }, (_, i) => `SELECT * FROM t${i % 50} WHERE a = ${i}`).join(';\n')
  const result = classifySql(many, { defaultSchema: 'public' })
  assert.ok(result.ok && result.statements.length === 2000)
  const wide = `SELECT * FROM t WHERE a IN (${Array.from({ length: 50000 }, (_, i) => i).join(',')})`
  assert.ok(classifySql(wide, { defaultSchema: 'public' }).ok)
  assert.ok(Date.now() - start < 20000, `took ${Date.now() - start} ms`)
})
