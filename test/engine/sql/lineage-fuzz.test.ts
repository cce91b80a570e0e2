// Random, mutated and generated SQL never makes outputLineage throw or hang;
// every answer is well formed (an error with a known code, or one entry per
// statement with sorted, deduplicated names), syntax errors agree with the
// classifier, and no answer names a table the classifier does not read.
// Deterministic: seeded PRNG.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, test } from 'node:test'
import { parse } from 'yaml'
import { classifySql, loadSqlParser, outputLineage, splitLineageSource, SQL_ERROR_CODES, type LineageResult } from '../../../engine/sql/index.js'

/** mulberry32, as in fuzz.test.ts. */
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
const isSortedSet = (xs: readonly string[]): boolean => xs.every((x, i) => i === 0 || xs[i - 1]! < x)

/** Well formed, and consistent with the classifier of the same text. */
function check(sql: string, result: LineageResult): void {
  const where = JSON.stringify(sql)
  const classified = classifySql(sql, { defaultSchema: 'public' })
  if (!result.ok) {
    assert.ok(CODES.has(result.error.code), `unknown code ${result.error.code} for ${where}`)
    if (result.error.position !== undefined) assert.ok(result.error.position >= 0 && result.error.position <= sql.length)
    // A text the parser refuses is refused the same way by both.
    if (!classified.ok && classified.error.code !== SQL_ERROR_CODES.tooComplex) {
      assert.equal(result.error.code, classified.error.code, where)
      assert.equal(result.error.position, classified.error.position, where)
    }
    return
  }
  if (!classified.ok) {
    // Only the bounds on work may differ between the two.
    assert.equal(classified.error.code, SQL_ERROR_CODES.tooComplex, `${where}: classifier ${classified.error.code}`)
    return
  }
  assert.equal(result.statements.length, classified.statements.length, where)
  result.statements.forEach((st, i) => {
    if (st === null) return
    const statement = classified.statements[i]!
    const reads = new Set(statement.reads)
    const unnamed = statement.operations.some((op) => op.action === 'other')
    const allowed = (table: string): boolean => reads.has(table) || (table === '*' && unnamed)
    for (const item of st.items) {
      if (item.kind === 'star') {
        assert.ok(isSortedSet(item.tables), where)
        for (const t of item.tables) assert.ok(allowed(t), `${where}: star of \`${t}\` not read`)
        continue
      }
      assert.equal(item.kind, 'column')
      assert.equal(typeof item.name, 'string')
      assert.equal(typeof item.direct, 'boolean')
      assert.ok(isSortedSet(item.sources) && isSortedSet(item.wholeRows), where)
      if (item.direct) assert.ok(item.sources.length > 0 && item.wholeRows.length === 0, `${where}: a direct column without a plain source`)
      for (const t of item.wholeRows) assert.ok(allowed(t), `${where}: whole row of \`${t}\` not read`)
      for (const s of item.sources) {
        const split = splitLineageSource(s)
        assert.ok(split, `${where}: malformed source ${s}`)
        assert.ok(allowed(split.table), `${where}: source \`${s}\` from a table not read`)
      }
    }
  })
}

const CASES_DIR = join(import.meta.dirname, '../../cases/sql')
const corpus: string[] = readdirSync(CASES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parse(readFileSync(join(CASES_DIR, f), 'utf8')) as { sql?: string; steps?: { sql: string }[] }[])
  .flatMap((c) => (c.steps ? c.steps.map((s) => s.sql) : [c.sql ?? '']))
  .filter((s) => s.length > 0)

const TOKENS = [
  'SELECT', 'FROM', 'WHERE', 'WITH', 'RECURSIVE', 'AS', '(', ')', ',', ';', '*', 'c.*', 'c', 't', 'x', 'email', 'c.email',
  '(c).email', 'row_to_json(c)', 'to_jsonb(', 'array_agg(', 'UNION', 'ALL', 'EXCEPT', 'LATERAL', 'JOIN', 'USING', 'ON',
  'VALUES', 'RETURNING', 'COPY', 'TO', 'STDOUT', 'DECLARE', 'cur', 'CURSOR', 'FOR', 'PREPARE', 'p', 'EXECUTE', 'INSERT',
  'INTO', 'UPDATE', 'SET', 'DELETE', 'MERGE', '=', '::text', '||', "'x'", '1', 'OVER', 'PARTITION', 'BY', 'ORDER',
  'WINDOW', 'w', 'customers', 'orders', 'ROW', 'ARRAY', '[', ']', 'CASE', 'WHEN', 'THEN', 'END', 'query_to_xml(', '"',
  'JSON_OBJECT(', ':', 'SEARCH', 'DEPTH', 'FIRST', 'CYCLE', 'TABLE', 'NATURAL', 'FULL', 'old', 'new', 'excluded',
]

/** A random but mostly valid SELECT, to reach the analysis rather than the parser. */
function generate(random: () => number, depth: number, ctes: string[] = []): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const aliases = ['a', 'b', 'c', 't']
  const tables = ['customers', 'orders', 'public.products', 'pg_class', ...ctes]
  const cols = ['email', 'ssn', 'id', 'x', 'c', 'a.email', 'b.id', 't.x', 'c.ssn', '"Mixed"']
  let withClause = ''
  const names = [...ctes]
  if (depth > 0 && random() < 0.25) {
    const recursive = random() < 0.4
    const n = 1 + Math.floor(random() * 2)
    const defs: string[] = []
    for (let i = 0; i < n; i++) {
      const name = `q${depth}${i}`
      const body = recursive && random() < 0.6 ? `${generate(random, depth - 1, names)} UNION ALL SELECT * FROM ${name}` : generate(random, depth - 1, names)
      defs.push(`${name}${random() < 0.3 ? '(e, f)' : ''} AS (${body})`)
      names.push(name)
    }
    withClause = `WITH ${recursive ? 'RECURSIVE ' : ''}${defs.join(', ')} `
  }
  const from: string[] = []
  const nFrom = Math.floor(random() * 3)
  for (let i = 0; i < nFrom; i++) {
    const alias = aliases[i]!
    const r = random()
    if (r < 0.45) from.push(`${pick([...tables, ...names])} ${alias}${random() < 0.15 ? '(x, y)' : ''}`)
    else if (r < 0.65 && depth > 0) from.push(`${random() < 0.5 ? 'LATERAL ' : ''}(${generate(random, depth - 1, names)}) ${alias}`)
    else if (r < 0.75) from.push(`unnest(ARRAY[1]) ${alias}`)
    else if (r < 0.85) from.push(`(VALUES (1, 'x')) ${alias}(x, y)`)
    else from.push(`customers ${alias} JOIN orders USING (id)`)
  }
  const targets: string[] = []
  const nTargets = 1 + Math.floor(random() * 3)
  for (let i = 0; i < nTargets; i++) {
    const col = pick(cols)
    const r = random()
    if (r < 0.2) targets.push(col)
    else if (r < 0.3) targets.push(random() < 0.5 ? '*' : `${pick(aliases)}.*`)
    else if (r < 0.4) targets.push(`upper(${col}::text)`)
    else if (r < 0.5) targets.push(`row_to_json(${pick(aliases)})`)
    else if (r < 0.6 && depth > 0) targets.push(`(${generate(random, depth - 1, names)} LIMIT 1)`)
    else if (r < 0.7) targets.push(`(${pick(aliases)}).${pick(['email', 'x', '*'])}`)
    else if (r < 0.8) targets.push(`string_agg(${col}, ',' ORDER BY ${pick(cols)}) OVER (PARTITION BY ${pick(cols)})`)
    else if (r < 0.9) targets.push(`CASE WHEN ${col} IS NULL THEN ${pick(cols)} END AS k${i}`)
    else targets.push(`to_jsonb(${pick(aliases)}.*)`)
  }
  let sql = `${withClause}SELECT ${targets.join(', ')}${from.length > 0 ? ` FROM ${from.join(', ')}` : ''}`
  if (depth > 0 && random() < 0.15) sql += ` UNION SELECT ${targets.map(() => pick(cols)).join(', ')} FROM customers`
  return sql
}

before(async () => {
  await loadSqlParser()
})

test('the fuzz corpus is not empty', () => {
  assert.ok(corpus.length > 250, `${corpus.length} corpus statements`)
})

test('random token soup never throws', () => {
  const random = prng(0x11e4)
  for (let i = 0; i < 3000; i++) {
    const n = 1 + Math.floor(random() * 25)
    let sql = ''
    for (let j = 0; j < n; j++) sql += TOKENS[Math.floor(random() * TOKENS.length)]! + (random() < 0.8 ? ' ' : '')
    check(sql, outputLineage(sql, { defaultSchema: 'public' }))
  }
})

test('random characters never throw', () => {
  const random = prng(99)
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(random() * 60)
    let sql = ''
    for (let j = 0; j < n; j++) {
      const r = random()
      const code = r < 0.8 ? 32 + Math.floor(random() * 95) : r < 0.85 ? Math.floor(random() * 32) : r < 0.95 ? 0xa0 + Math.floor(random() * 0xd000) : r < 0.98 ? 0x1f600 + Math.floor(random() * 80) : 0xd800 + Math.floor(random() * 0x800)
      sql += String.fromCodePoint(code)
    }
    check(sql, outputLineage(sql, { defaultSchema: 'public' }))
  }
})

test('mutated corpus statements never throw and never hang', () => {
  const random = prng(2024)
  let slowest = 0
  for (let i = 0; i < 3000; i++) {
    let sql = corpus[Math.floor(random() * corpus.length)]!
    const mutations = 1 + Math.floor(random() * 4)
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * (sql.length + 1))
      const r = random()
      if (r < 0.3) sql = sql.slice(0, at) + sql.slice(at + 1 + Math.floor(random() * 5))
      else if (r < 0.6) sql = sql.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)]! + ' ' + sql.slice(at)
      else if (r < 0.8) sql = sql.slice(0, at) + sql.slice(Math.floor(random() * sql.length))
      else sql = sql + ';' + corpus[Math.floor(random() * corpus.length)]!
    }
    const start = process.hrtime.bigint()
    const result = outputLineage(sql, { defaultSchema: 'public' })
    slowest = Math.max(slowest, Number(process.hrtime.bigint() - start) / 1e6)
    check(sql, result)
  }
  assert.ok(slowest < 1000, `slowest lineage took ${slowest} ms`)
})

test('generated queries are analysed, not refused, and stay consistent', () => {
  const random = prng(7)
  let analysed = 0
  for (let i = 0; i < 1500; i++) {
    const sql = generate(random, 3)
    const result = outputLineage(sql, { defaultSchema: 'public' })
    check(sql, result)
    if (result.ok) analysed++
  }
  // The generator writes valid SQL: nearly all of it must get past the parser.
  assert.ok(analysed > 1400, `only ${analysed} generated queries analysed`)
})
