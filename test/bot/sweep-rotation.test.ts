// Rotation in the sweep: an identity whose oldest credential is older than
// `stale.rotateAfterDays` is reported with the command that rotates it, and
// one still listing a credential past its notAfter gets a pull request that
// removes it (comments kept), once: a second run changes nothing.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { runSweep, type SweepReport } from '../../bot/sweep/sweep.js'
import { scramVerifier, tokenDigest } from '../../compiler/credentials.js'
import type { Database } from '../../store/database.js'
import { openStore, readFixture, withHarness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => (store = await openStore()))
after(async () => store.close())

const NOW = new Date('2026-11-29T12:00:00Z')
const OLD = 'gth_' + 'o'.repeat(43)
const NEW = 'gth_' + 'n'.repeat(43)
const salt = Buffer.alloc(16, 7)

const rotated = `# The payments export; rotated last month.
apiVersion: gatehouse.dev/v1
kind: Identity
name: payments-job
owner: "@acme/data"
roles: [reader]
credentials:
  token:
    - scram: "${scramVerifier(OLD, salt)}"
      sha256: ${tokenDigest(OLD)}
      notAfter: "2026-11-08T00:00:00Z" # the grace period
    - scram: "${scramVerifier(NEW, salt)}"
      sha256: ${tokenDigest(NEW)}
      created: "2026-11-01T00:00:00Z"
`
const aging = `apiVersion: gatehouse.dev/v1
kind: Identity
name: ledger-job
owner: "@acme/data"
roles: [reader]
credentials:
  token:
    scram: "${scramVerifier(OLD, salt)}"
    sha256: ${tokenDigest(OLD)}
    created: "2026-05-01T00:00:00Z"
`

const ours = (report: SweepReport) => Object.fromEntries(report.results.filter((r) => ['payments-job', 'ledger-job'].includes(r.finding.identity)).map((r) => [r.finding.identity, `${r.outcome} ${r.finding.action}`]))

test('old credentials are reported, expired ones proposed for removal, once', async () => {
  await withHarness(store.db, async (h) => {
    h.repo.git.commitFiles('main', {
      'gatehouse.yaml': readFixture()['gatehouse.yaml']!.replace('  expiryWarningDays: 14\n', '  expiryWarningDays: 14\n  rotateAfterDays: 90\n'),
      'identities/payments.yaml': rotated,
      'identities/ledger.yaml': aging,
    }, { login: 'admin' })
    await store.db.exec('DELETE FROM gatehouse.identity_usage; DELETE FROM gatehouse.rule_usage;')
    const first = await runSweep(h.bot.ctx, { now: NOW })
    assert.deepEqual(ours(first), { 'ledger-job': 'reported report', 'payments-job': 'created retire' })
    const report = first.results.find((r) => r.finding.identity === 'ledger-job')!
    assert.match(report.finding.reasons[0]!, /created on 2026-05-01, 212 days ago \(rotate after 90\): `gatehouse identity rotate ledger-job --grace 7d`/)

    const file = h.repo.git.fileAt('gatehouse/rotate/payments-job', 'identities/payments.yaml')!
    assert.ok(!file.includes(tokenDigest(OLD)), 'the expired verifier is gone')
    assert.ok(file.includes(tokenDigest(NEW)))
    assert.match(file, /^# The payments export; rotated last month\./)
    const pr = h.repo.pullRequests().find((p) => p.pull!.head === 'gatehouse/rotate/payments-job')!
    assert.match(pr.title, /Remove expired credentials of payments-job/)
    assert.match(pr.body, /past its notAfter \(2026-11-08T00:00:00Z\)/)

    const second = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(ours(second)['payments-job'], 'unchanged retire')
    assert.equal(h.repo.pullRequests().filter((p) => p.pull!.head === 'gatehouse/rotate/payments-job').length, 1)
  }, { sweep: { everySeconds: undefined, maxPullRequests: 10 } })
})
