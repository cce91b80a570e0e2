// Rotation in the sweep: an identity whose oldest credential is older than
// `stale.rotateAfterDays` is reported (in the summary issue) with the command
// that rotates it, and one still listing a credential past its notAfter gets
// a pull request that removes it (comments kept), once: a second run changes
// nothing, and once the credential is gone the pull request is closed.
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

const ours = (report: SweepReport) => Object.fromEntries(report.results.filter((r) => ['payments-job', 'ledger-job'].includes(r.identity)).map((r) => [r.identity, `${r.outcome} ${r.action ?? 'report'}`]))

test('old credentials are reported, expired ones proposed for removal, once', async () => {
  await withHarness(store.db, async (h) => {
    h.repo.git.commitFiles('main', {
      'gatehouse.yaml': readFixture()['gatehouse.yaml']!.replace('  expiryWarningDays: 14\n', '  expiryWarningDays: 14\n  rotateAfterDays: 90\n'),
      'identities/payments.yaml': rotated,
      'identities/ledger.yaml': aging,
    }, { login: 'admin' })
    await store.db.exec('DELETE FROM gatehouse.identity_usage; DELETE FROM gatehouse.rule_usage;')
    // One fresh record, so the sweep judges at all; too recent to make anything look idle.
    const hourAgo = new Date(NOW.getTime() - 3_600_000).toISOString()
    await store.db.query('INSERT INTO gatehouse.identity_usage VALUES ($1, $2, $3, 1)', ['payments-job', hourAgo, hourAgo])
    const first = await runSweep(h.bot.ctx, { now: NOW })
    assert.deepEqual(ours(first), { 'ledger-job': 'reported report', 'payments-job': 'created retire' })
    const report = first.results.find((r) => r.identity === 'ledger-job')!
    assert.match(report.reports[0]!.reason, /created on 2026-05-01, 212 days ago \(rotate after 90\): `gatehouse identity rotate ledger-job --grace 7d`/)
    const summary = [...h.repo.issues.values()].find((i) => i.labels.includes('gatehouse-sweep-summary'))!
    assert.match(summary.body, /`ledger-job`: its token was created on 2026-05-01, 212 days ago/)
    assert.match(summary.body, /\| `payments-job` \| retire \| #\d+ \|/)

    const file = h.repo.git.fileAt('gatehouse/rotate/payments-job', 'identities/payments.yaml')!
    assert.ok(!file.includes(tokenDigest(OLD)), 'the expired verifier is gone')
    assert.ok(file.includes(tokenDigest(NEW)))
    assert.match(file, /^# The payments export; rotated last month\./)
    const pr = h.repo.pullRequests().find((p) => p.pull!.head === 'gatehouse/rotate/payments-job')!
    assert.match(pr.title, /Remove expired credentials of payments-job/)
    assert.match(pr.body, /past its notAfter \(2026-11-08T00:00:00Z\)/)
    assert.deepEqual(pr.labels, ['gatehouse-sweep', 'gatehouse-sweep:retire'])

    const second = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(ours(second)['payments-job'], 'unchanged retire')
    assert.equal(h.repo.pullRequests().filter((p) => p.pull!.head === 'gatehouse/rotate/payments-job').length, 1)

    // The expired verifier removed by hand: the proposal no longer holds and is closed, saying why.
    h.repo.git.commitFiles('main', { 'identities/payments.yaml': file }, { login: 'admin' })
    const third = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(ours(third)['payments-job'], 'closed report')
    assert.equal(h.repo.pullRequests().find((p) => p.number === pr.number)!.state, 'closed')
    assert.match(h.repo.comments(pr.number).at(-1)!.body, /Closed by the sweep: `payments-job` lists no credential past its notAfter any more/)
  }, { sweep: { everySeconds: undefined, maxPullRequests: 10, freshnessSeconds: 86_400, graceSeconds: 7 * 86_400 } })
})
