// Nothing in the project may break with the calendar: with the clock five
// years ahead (long after every example identity has expired), `validate`
// and `test` on the example still pass, and so do the project's own tests
// of the example and the demo flow. The clock is set the way an operator
// would set it, through GATEHOUSE_NOW, in child processes.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { gatehouse } from './helpers/cli.js'
import { EXAMPLE, ROOT } from './helpers/repo.js'

const FIVE_YEARS_MS = 5 * 365.25 * 86_400_000
const future = new Date(Date.now() + FIVE_YEARS_MS).toISOString()
const env = { GATEHOUSE_NOW: future }

test('validate and test pass on the example five years from now', () => {
  const validated = gatehouse(['validate', EXAMPLE], { env })
  assert.equal(validated.status, 0, validated.stderr)
  assert.match(validated.stderr, /warning\[lint\.expired_identity\]/, 'the expiries are reported, as warnings')
  assert.equal(gatehouse(['validate', EXAMPLE, '--strict'], { env }).status, 1)
  const tested = gatehouse(['test', EXAMPLE], { env })
  assert.equal(tested.status, 0, tested.stdout + tested.stderr)
  assert.match(tested.stdout, /^\d+ passed, 0 failed/m)
})

test('explain follows the clock: an identity past its expiry is refused', () => {
  const args = ['explain', EXAMPLE, '--identity', 'orders-reporting', '--resource', 'orders-db', '--sql', 'SELECT 1', '--format', 'json']
  const decision = (result: ReturnType<typeof gatehouse>) => (JSON.parse(result.stdout) as { decision: { effect: string; reasons: string[] } }).decision
  const then = decision(gatehouse(args, { env }))
  assert.equal(then.effect, 'deny')
  assert.match(then.reasons.join('\n'), /expired on/)
})

test('a clock setting that is not a date stops the program', () => {
  const result = gatehouse(['validate', EXAMPLE], { env: { GATEHOUSE_NOW: 'next tuesday' } })
  assert.equal(result.status, 2)
  assert.match(result.stderr, /GATEHOUSE_NOW must be an ISO-8601 date/)
})

test("the project's tests of the example and the demo flow pass five years from now", () => {
  const files = ['test/compiler/cli.test.ts', 'test/engine/decisions.test.ts', 'test/demo.test.ts']
  // NODE_TEST_CONTEXT would make the child report to this runner instead of running on its own.
  const { NODE_TEST_CONTEXT: _context, ...inherited } = process.env
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=dot', ...files], { cwd: ROOT, env: { ...inherited, ...env }, encoding: 'utf8', timeout: 600_000 })
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`)
})
