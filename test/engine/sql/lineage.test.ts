// Runs the output-lineage corpus (test/cases/sql/lineage*.yaml): every case
// states every output item of every statement exactly (names, sources, whole
// rows, direct, stars, order). The same files are classification cases too
// (corpus.test.ts), so each case's operations are checked there.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { parse } from 'yaml'
import { loadSqlParser, outputLineage, SQL_ERROR_CODES, type LineageItem, type StatementLineage } from '../../../engine/sql/index.js'

const CASES_DIR = join(import.meta.dirname, '../../cases/sql')

type ExpectedItem = { column: string; sources?: string[]; wholeRows?: string[]; direct?: boolean } | { star: string[] }

interface Case {
  name: string
  sql: string
  defaultSchema?: string
  items?: ExpectedItem[]
  lineage?: Array<ExpectedItem[] | null>
  error?: { code: string; position?: number }
}

function toItem(want: ExpectedItem): LineageItem {
  if ('star' in want) return { kind: 'star', tables: [...want.star].sort() }
  return {
    kind: 'column',
    name: String(want.column),
    sources: [...(want.sources ?? [])].sort(),
    wholeRows: [...(want.wholeRows ?? [])].sort(),
    direct: want.direct ?? false,
  }
}

function expected(c: Case): Array<StatementLineage | null> {
  if (c.items) return [{ items: c.items.map(toItem) }]
  assert.ok(c.lineage, `${c.name}: a case needs \`items\`, \`lineage\` or \`error\``)
  return c.lineage.map((items) => (items === null ? null : { items: items.map(toItem) }))
}

const files = readdirSync(CASES_DIR)
  .filter((f) => /^lineage.*\.yaml$/.test(f))
  .sort()
  .map((file) => ({ file, cases: parse(readFileSync(join(CASES_DIR, file), 'utf8')) as Case[] }))

before(async () => {
  await loadSqlParser()
})

test('the lineage corpus has enough cases, each with an expectation', () => {
  const cases = files.flatMap((f) => f.cases)
  assert.ok(cases.length >= 60, `only ${cases.length} lineage cases`)
  for (const c of cases) assert.ok(c.items || c.lineage || c.error, `${c.name}: no expectation`)
})

for (const { file, cases } of files) {
  describe(file, () => {
    for (const c of cases) {
      test(c.name, () => {
        const result = outputLineage(c.sql, { defaultSchema: c.defaultSchema ?? 'public' })
        if (c.error) {
          assert.equal(result.ok, false, `expected error ${c.error.code}, got ${JSON.stringify(result)}`)
          if (result.ok) return
          assert.equal(result.error.code, c.error.code, result.error.message)
          if (c.error.position !== undefined) assert.equal(result.error.position, c.error.position)
          return
        }
        assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`)
        assert.deepEqual(result.statements, expected(c))
      })
    }
  })
}

describe('outputLineage', () => {
  test('answers with the classifier error codes and positions', () => {
    const syntax = outputLineage('SELECT upper(email FROM customers', { defaultSchema: 'public' })
    assert.equal(syntax.ok, false)
    if (!syntax.ok) {
      assert.equal(syntax.error.code, SQL_ERROR_CODES.syntax)
      assert.equal(syntax.error.position, 19)
    }
    const nul = outputLineage('SELECT 1\0', { defaultSchema: 'public' })
    assert.deepEqual(nul.ok ? undefined : [nul.error.code, nul.error.position], [SQL_ERROR_CODES.invalidText, 8])
    const large = outputLineage(`SELECT '${'x'.repeat(100)}'`, { defaultSchema: 'public', maxBytes: 50 })
    assert.equal(large.ok ? undefined : large.error.code, SQL_ERROR_CODES.tooLarge)
    const schema = outputLineage('SELECT 1', { defaultSchema: '' })
    assert.equal(schema.ok ? undefined : schema.error.code, SQL_ERROR_CODES.unclassifiable)
  })

  test('an empty string has no statements', () => {
    assert.deepEqual(outputLineage('', { defaultSchema: 'public' }), { ok: true, statements: [] })
  })

  test('a tree nested beyond the bound is too complex, not a crash', () => {
    const deep = `SELECT ${'upper('.repeat(3000)}email${')'.repeat(3000)} FROM customers`
    const result = outputLineage(deep, { defaultSchema: 'public' })
    assert.equal(result.ok, false)
    if (!result.ok) assert.equal(result.error.code, SQL_ERROR_CODES.tooComplex)
    const nested = `SELECT ${'(SELECT '.repeat(400)}email${' FROM customers)'.repeat(400)}`
    const r2 = outputLineage(nested, { defaultSchema: 'public' })
    assert.ok(!r2.ok || r2.statements.length === 1)
  })

  test('a recursive CTE rotating many columns still reaches its fixed point', () => {
    const n = 40
    const cols = Array.from({ length: n }, (_, i) => `c${i}`)
    const rotated = [...cols.slice(1), cols[0]].join(', ')
    const sql = `WITH RECURSIVE t(${cols.join(', ')}) AS (SELECT ssn, ${cols.slice(1).map(() => '1').join(', ')} FROM customers UNION ALL SELECT ${rotated} FROM t) SELECT c${n - 1} FROM t`
    const result = outputLineage(sql, { defaultSchema: 'public' })
    assert.ok(result.ok, JSON.stringify(result))
    const item = result.statements[0]?.items[0]
    assert.ok(item?.kind === 'column' && item.sources.includes('public.customers.ssn'), JSON.stringify(item))
  })

  test('unknown names fall back to every row in scope', () => {
    // `nosuch.*` inside an expression names no relation and no column: everything in scope.
    const result = outputLineage('SELECT to_jsonb(nosuch.*) FROM customers c, orders o', { defaultSchema: 'public' })
    assert.ok(result.ok)
    const item = result.statements[0]?.items[0]
    assert.ok(item?.kind === 'column')
    assert.deepEqual(item.wholeRows, ['public.customers', 'public.orders'])
  })
})
