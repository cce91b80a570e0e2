// Runs the SQL classification corpus (test/cases/sql/*.yaml). Every case
// states every operation of every statement (action and object, as a
// multiset: order does not matter, nothing may be missing or extra), the reads
// and readOnly; a case may also expect an error code and position, or a
// sequence of steps sharing one session. Each case runs through classifySql
// and through a cached classifier (twice, the second time from the cache):
// all three must agree.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { parse } from 'yaml'
import { classifySql, createSqlClassifier, createSqlSession, loadSqlParser } from '../../../engine/sql/index.js'
import type { SqlClassification, SqlSessionState } from '../../../engine/types.js'

const CASES_DIR = join(import.meta.dirname, '../../cases/sql')

interface ExpectedStatement {
  text?: string
  kind?: string
  ops: string[]
  reads?: string[]
  readOnly: boolean
}

interface Step {
  sql: string
  defaultSchema?: string
  statements?: ExpectedStatement[]
  ops?: string[]
  reads?: string[]
  readOnly?: boolean
  kind?: string
  text?: string
  error?: { code: string; position?: number }
  /** Names in session.prepared after this step. */
  prepared?: string[]
}

interface Case extends Step {
  name: string
  steps?: Step[]
}

/** `select public.t` → action `select`, object `public.t`; a lone action has no object. */
function opKey(action: string, object: string | undefined): string {
  return object === undefined ? action : `${action} ${object}`
}

function expectedStatements(step: Step): ExpectedStatement[] {
  if (step.statements) return step.statements
  assert.ok(step.ops, 'a case needs `ops`, `statements` or `error`')
  const one: ExpectedStatement = { ops: step.ops, readOnly: step.readOnly ?? assert.fail('`readOnly` is required') }
  if (step.reads) one.reads = step.reads
  if (step.kind) one.kind = step.kind
  if (step.text) one.text = step.text
  return [one]
}

/** By default the reads are the objects of the expected select and copy-out operations. */
function defaultReads(ops: string[]): string[] {
  return ops.filter((op) => /^(select|copy-out) /.test(op)).map((op) => op.slice(op.indexOf(' ') + 1))
}

const sorted = (values: Iterable<string>): string[] => [...values].sort()

function check(step: Step, result: SqlClassification, label: string): void {
  if (step.error) {
    assert.equal(result.ok, false, `${label}: expected error ${step.error.code}, got ${JSON.stringify(result)}`)
    if (result.ok) return
    assert.equal(result.error.code, step.error.code, `${label}: error code (${result.error.message})`)
    if (step.error.position !== undefined) assert.equal(result.error.position, step.error.position, `${label}: error position`)
    return
  }
  assert.ok(result.ok, `${label}: expected success, got ${JSON.stringify(result)}`)
  const expected = expectedStatements(step)
  assert.equal(result.statements.length, expected.length, `${label}: statement count in ${JSON.stringify(result.statements)}`)
  expected.forEach((want, i) => {
    const got = result.statements[i]!
    const where = `${label}, statement ${i + 1} (${got.text})`
    assert.deepEqual(sorted(got.operations.map((op) => opKey(op.action, op.object))), sorted(want.ops), `${where}: operations`)
    assert.deepEqual(sorted(new Set(got.reads)), sorted(new Set(want.reads ?? defaultReads(want.ops))), `${where}: reads`)
    assert.equal(got.readOnly, want.readOnly, `${where}: readOnly`)
    if (want.kind !== undefined) assert.equal(got.kind, want.kind, `${where}: kind`)
    if (want.text !== undefined) assert.equal(got.text, want.text, `${where}: text`)
    for (const op of got.operations) {
      if (op.action === 'other') assert.ok(op.note, `${where}: an \`other\` operation says why`)
    }
  })
}

function loadCases(): { file: string; cases: Case[] }[] {
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, cases: parse(readFileSync(join(CASES_DIR, file), 'utf8')) as Case[] }))
}

const files = loadCases()

before(async () => {
  await loadSqlParser()
})

test('the corpus has enough cases, each named once', () => {
  const names = files.flatMap(({ cases }) => cases.map((c) => c.name))
  assert.ok(names.length >= 120, `only ${names.length} cases`)
  assert.equal(new Set(names).size, names.length, 'duplicate case names')
})

for (const { file, cases } of files) {
  describe(file, () => {
    for (const c of cases) {
      test(c.name, () => {
        const steps: Step[] = c.steps ?? [c]
        const cached = createSqlClassifier({ cacheSize: 16 })
        // One session per path, so that each path sees the same history.
        const sessions: SqlSessionState[] = [createSqlSession(), createSqlSession(), createSqlSession()]
        for (const [n, step] of steps.entries()) {
          const defaultSchema = step.defaultSchema ?? c.defaultSchema ?? 'public'
          const label = steps.length > 1 ? `step ${n + 1}` : 'classifySql'
          check(step, classifySql(step.sql, { defaultSchema, session: sessions[0]! }), label)
          check(step, cached.classify(step.sql, { defaultSchema, session: sessions[1]! }), `${label} (cache miss)`)
          const again = createSqlClassifier({ cacheSize: 16 })
          again.classify(step.sql, { defaultSchema, session: createSqlSession() })
          check(step, again.classify(step.sql, { defaultSchema, session: sessions[2]! }), `${label} (cache hit)`)
          if (step.prepared) {
            for (const session of sessions) assert.deepEqual(sorted(session.prepared.keys()), sorted(step.prepared), `${label}: prepared names`)
          }
        }
      })
    }
  })
}
