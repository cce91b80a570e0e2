// The walker's knowledge of which fields hold unwrapped nodes, and of every
// statement type, must match the installed parser's types: a libpg-query
// upgrade that adds a field or a statement fails here instead of silently
// hiding nodes from the classifier.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { before, test } from 'node:test'
import { UNWRAPPED_FIELDS } from '../../../engine/sql/ast-fields.js'
import { loadSqlParser } from '../../../engine/sql/index.js'
import { STATEMENT_HANDLERS, WALKER_STATEMENTS } from '../../../engine/sql/statements.js'
import { StatementWalker } from '../../../engine/sql/walker.js'

const require = createRequire(import.meta.url)
const typesFile = join(dirname(require.resolve('@pgsql/types/package.json')), 'types.d.ts')
const source = readFileSync(typesFile, 'utf8')

/** interface name → [field, type][] from the generated declarations. */
function interfaces(): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>()
  let current: [string, string][] | undefined
  for (const line of source.split('\n')) {
    const head = /^export interface (\w+) \{/.exec(line)
    if (head) {
      current = []
      out.set(head[1]!, current)
      continue
    }
    if (line.startsWith('}')) current = undefined
    const field = current && /^\s+(\w+)\??: ([\w[\]]+);/.exec(line)
    if (field && current) current.push([field[1]!, field[2]!])
  }
  return out
}

before(async () => {
  await loadSqlParser()
})

test('UNWRAPPED_FIELDS matches @pgsql/types', () => {
  const all = interfaces()
  assert.ok(all.size > 200, 'parsed the type declarations')
  const expected: Record<string, Record<string, string>> = {}
  for (const [name, fields] of all) {
    for (const [field, type] of fields) {
      if (type === 'Node' || type.endsWith('[]') || !all.has(type)) continue
      ;(expected[name] ??= {})[field] = type
    }
  }
  assert.deepEqual(
    Object.fromEntries(Object.entries(UNWRAPPED_FIELDS).map(([k, v]) => [k, { ...v }])),
    expected,
    'regenerate engine/sql/ast-fields.ts from the installed @pgsql/types',
  )
})

test('no list holds unwrapped nodes (the walker assumes lists are wrapped)', () => {
  for (const [name, fields] of interfaces()) {
    if (['ParseResult', 'ScanResult', 'SummaryResult'].includes(name)) continue
    for (const [field, type] of fields) {
      assert.ok(!type.endsWith('[]') || type === 'Node[]' || /^(string|number|bigint|boolean)\[\]$/.test(type), `${name}.${field}: ${type}`)
    }
  }
})

test('every statement node type has a handler', () => {
  const union = /export type Node =([\s\S]*?)\n\};/.exec(source)?.[1] ?? ''
  const statements = [...union.matchAll(/(\w+Stmt): \w+;/g)].map((m) => m[1]!)
  assert.ok(statements.length > 100, `${statements.length} statement types`)
  const handled = new Set([...STATEMENT_HANDLERS.keys(), ...WALKER_STATEMENTS])
  assert.deepEqual(statements.filter((s) => !handled.has(s)), [])
})

test('an unknown statement type becomes other, with its nested reads still seen', () => {
  const walker = new StatementWalker('public', () => undefined)
  walker.walkStatement('FutureStmt', { source: { RangeVar: { relname: 'secret' } }, opts: [{ FuncCall: { funcname: [{ String: { sval: 'pg_sleep' } }] } }] })
  assert.deepEqual(
    walker.ops.map((op) => `${op.action} ${op.object ?? ''}`.trim()).sort(),
    ['function pg_catalog.pg_sleep', 'other', 'select public.secret'],
  )
})

test('an unknown field holding an unwrapped table reference is still a read', () => {
  const walker = new StatementWalker('public', () => undefined)
  walker.walkStatement('SelectStmt', { futureClause: { relname: 'hidden', inh: true } })
  assert.deepEqual(walker.ops, [{ action: 'select', object: 'public.hidden' }])
})
