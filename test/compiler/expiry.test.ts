// Expiry dates against the clock: `validate` warns within the settings'
// `expiryWarningDays` and exits 0 on warnings alone; `gatehouse test` cases
// without a `time` test the rules, not the calendar; a case with a `time`
// after the expiry is refused as the gateway would refuse it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gatehouse } from '../helpers/cli.js'
import { EXAMPLE, tempRepo } from '../helpers/repo.js'

// billing-migrator expires on 2027-01-31; the example warns 14 days ahead.
const at = (time: string) => ({ env: { GATEHOUSE_NOW: time } })

test('an identity expiring within expiryWarningDays is a warning, and warnings exit 0 unless --strict', () => {
  const result = gatehouse(['validate', EXAMPLE, '--format', 'json'], at('2027-01-27T09:00:00Z'))
  assert.equal(result.status, 0, result.stdout)
  const findings = (JSON.parse(result.stdout) as { diagnostics: Array<{ code: string; severity: string; file: string; line: number; message: string }> }).diagnostics
  const expiring = findings.filter((d) => d.code === 'lint.expiring_identity')
  assert.deepEqual(expiring.map((d) => [d.file, d.line, d.severity]), [['identities/data-jobs.yaml', 19, 'warning']])
  assert.match(expiring[0]!.message, /`billing-migrator` expires on 2027-01-31, in 4 days/)
  assert.equal(gatehouse(['validate', EXAMPLE, '--strict'], at('2027-01-27T09:00:00Z')).status, 1)
  // Outside the window: no finding at all.
  const early = gatehouse(['validate', EXAMPLE], at('2027-01-10T09:00:00Z'))
  assert.equal(early.status, 0)
  assert.match(early.stderr, /no findings/)
})

test('a test case with a time after the expiry is refused; one without a time is not', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    repo.write('tests/expiry.yaml', `apiVersion: gatehouse.dev/v1
kind: Test
name: expiry
cases:
  - name: the migrator reads billing
    identity: billing-migrator
    resource: orders-db
    sql: SELECT * FROM billing.invoices
    expect: {effect: allow, rule: billing-migrations/read-billing}
  - name: not after its expiry
    identity: billing-migrator
    resource: orders-db
    sql: SELECT * FROM billing.invoices
    time: "2027-02-01T10:00:00Z"
    expect: {effect: deny, rule: null}
`)
    for (const time of ['2027-01-04T10:00:00Z', '2032-06-01T10:00:00Z']) {
      const result = gatehouse(['test', repo.dir], at(time))
      assert.equal(result.status, 0, `${time}: ${result.stdout}`)
    }
  } finally {
    repo.cleanup()
  }
})
