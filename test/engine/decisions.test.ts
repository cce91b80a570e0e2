// The decision semantics as data: test/cases/decisions is a policy
// repository whose Test documents pin down precedence, conditions, observe
// mode, masks, session control, expiry and SSH matching.
import assert from 'node:assert/strict'
import path from 'node:path'
import { before, test } from 'node:test'
import { compileRepository } from '../../compiler/compile.js'
import { loadDirectory } from '../../compiler/load.js'
import { runTests } from '../../compiler/test-runner.js'
import { createEngine } from '../../engine/engine.js'
import { decideSql } from '../../engine/requests.js'
import { loadSqlParser } from '../../engine/sql/index.js'
import { EXAMPLE, ROOT } from '../helpers/repo.js'

const CASES = path.join(ROOT, 'test', 'cases', 'decisions')
const NOW = new Date('2026-12-01T12:00:00Z')

before(() => loadSqlParser())

async function compile(dir: string) {
  const result = await compileRepository(await loadDirectory(dir), { now: NOW })
  assert.ok(result.bundle && result.model, result.diagnostics.map((d) => d.message).join('\n'))
  return { bundle: result.bundle, model: result.model }
}

for (const [name, dir] of [['conformance cases', CASES], ['the example repository', EXAMPLE]] as const) {
  test(`every case of ${name} passes`, async () => {
    const { bundle, model } = await compile(dir)
    const report = runTests(bundle, model.tests, NOW)
    assert.ok(report.results.length > 10)
    const failed = report.results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.failures.join('; ')}`)
    assert.deepEqual(failed, [])
  })
}

test('a wrong expectation fails, naming what differed', async () => {
  const { bundle, model } = await compile(CASES)
  const suite = model.tests[0]!
  const first = suite.cases[0]!
  const mutated = { ...suite, cases: [{ ...first, expect: { effect: 'allow' as const, rule: 'precedence/read-everything', masks: ['x.y.z'] } }] }
  const [result] = runTests(bundle, [mutated], NOW).results
  assert.equal(result?.passed, false)
  assert.equal(result?.failures.length, 3)
  assert.match(result!.failures[0]!, /^effect: expected allow, got deny/)
})

test('overlapping column masks keep the strongest strategy; observe-mode masks are reported, not applied', async () => {
  const { bundle } = await compile(CASES)
  const built = createEngine(bundle)
  assert.ok(built.ok)
  const { decision } = decideSql(built.engine, { identity: 'app', resource: 'db', sql: 'SELECT email, ssn FROM app.users', context: { time: NOW } })
  assert.deepEqual(decision.masks.map((m) => [m.id, m.strategy]), [['app.users.email', 'redact']])
  assert.deepEqual(decision.observed?.masks.map((m) => m.id).sort(), ['app.users.email', 'app.users.ssn'])
})

test('observe mode reports what it would have decided', async () => {
  const { bundle } = await compile(CASES)
  const built = createEngine(bundle)
  assert.ok(built.ok)
  const { decision } = decideSql(built.engine, { identity: 'app', resource: 'db', sql: 'DELETE FROM app.orders', context: { time: NOW } })
  assert.equal(decision.effect, 'allow')
  assert.deepEqual({ effect: decision.observed?.effect, rule: decision.observed?.rule }, { effect: 'deny', rule: 'precedence/trial-no-deletes' })
})

test('an approval carries the rule\'s approvers, count and timeout', async () => {
  const { bundle } = await compile(CASES)
  const built = createEngine(bundle)
  assert.ok(built.ok)
  const { decision } = decideSql(built.engine, { identity: 'app', resource: 'db', sql: 'SELECT * FROM vault.secrets', context: { time: NOW } })
  assert.deepEqual(decision.approval, { approvers: ['@acme/security'], count: 2, timeout: 300 })
})
