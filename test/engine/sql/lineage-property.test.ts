// Lineage never invents a table: over every statement of the SQL corpus
// (test/cases/sql/*.yaml), every table an output column is said to come from
// (a source's table, a whole row, a star) is one the classifier reports as
// read by that statement. `*` (a function reading tables nobody can name) is
// allowed only where the classifier also could not name them (an `other`
// operation). And every SELECT that returns rows has lineage.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, test } from 'node:test'
import { parse } from 'yaml'
import { classifySql, loadSqlParser, outputLineage, splitLineageSource, type StatementLineage } from '../../../engine/sql/index.js'
import type { SqlStatement } from '../../../engine/types.js'

const CASES_DIR = join(import.meta.dirname, '../../cases/sql')

interface CorpusStatement {
  sql: string
  defaultSchema: string
  from: string
}

const corpus: CorpusStatement[] = readdirSync(CASES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((file) => {
    const cases = parse(readFileSync(join(CASES_DIR, file), 'utf8')) as {
      name: string
      sql?: string
      defaultSchema?: string
      steps?: { sql: string; defaultSchema?: string }[]
    }[]
    return cases.flatMap((c) =>
      (c.steps ?? [{ sql: c.sql ?? '', ...(c.defaultSchema ? { defaultSchema: c.defaultSchema } : {}) }]).map((s) => ({
        sql: s.sql,
        defaultSchema: s.defaultSchema ?? c.defaultSchema ?? 'public',
        from: `${file}: ${c.name}`,
      })),
    )
  })

/** Every table the lineage of one statement draws on. */
function lineageTables(lineage: StatementLineage): string[] {
  const tables = new Set<string>()
  for (const item of lineage.items) {
    if (item.kind === 'star') {
      for (const t of item.tables) tables.add(t)
      continue
    }
    for (const t of item.wholeRows) tables.add(t)
    for (const s of item.sources) {
      const split = splitLineageSource(s)
      assert.ok(split, `malformed source \`${s}\``)
      tables.add(split.table)
    }
  }
  return [...tables]
}

/** The property, for one statement. */
function assertNoInventedTable(lineage: StatementLineage, statement: SqlStatement, where: string): void {
  const reads = new Set(statement.reads)
  const unnamed = statement.operations.some((op) => op.action === 'other')
  for (const table of lineageTables(lineage)) {
    if (table === '*' && unnamed) continue
    assert.ok(reads.has(table), `${where}: lineage names \`${table}\`, which the classifier does not read (${[...reads].join(', ')})`)
  }
}

before(async () => {
  await loadSqlParser()
})

test('lineage only names tables the classifier reads', () => {
  let selects = 0
  let withLineage = 0
  for (const { sql, defaultSchema, from } of corpus) {
    const classified = classifySql(sql, { defaultSchema })
    const lineage = outputLineage(sql, { defaultSchema })
    // Same parser, same input checks: both accept or refuse the same text.
    assert.equal(lineage.ok, classified.ok, `${from}: lineage ${JSON.stringify(lineage)} vs classification ${JSON.stringify(classified)}`)
    if (!lineage.ok || !classified.ok) {
      if (!lineage.ok && !classified.ok) assert.equal(lineage.error.code, classified.error.code, from)
      continue
    }
    assert.equal(lineage.statements.length, classified.statements.length, from)
    lineage.statements.forEach((st, i) => {
      const statement = classified.statements[i]!
      const where = `${from}, statement ${i + 1} (${statement.text})`
      if (statement.kind === 'SelectStmt') {
        selects++
        // Only SELECT INTO (which creates its table) returns no rows.
        if (!statement.operations.some((op) => op.action === 'create')) assert.ok(st, `${where}: a SELECT without lineage`)
      }
      if (!st) return
      withLineage++
      assertNoInventedTable(st, statement, where)
    })
  }
  // The property was checked on real statements, not on nothing.
  assert.ok(selects >= 180, `only ${selects} SELECT statements in the corpus`)
  assert.ok(withLineage >= 210, `only ${withLineage} statements with lineage`)
})
