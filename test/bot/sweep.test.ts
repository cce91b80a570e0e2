// The stale-identity sweep: one pull request per stale identity (never two),
// YAML comments kept, the cap and the exemptions respected, evidence in the
// description, the owner asked to review, and a second run that changes nothing.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { runSweep, type SweepReport } from '../../bot/sweep/sweep.js'
import type { Database } from '../../store/database.js'
import { withHarness, openStore, pullRequestPayload, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

const NOW = new Date('2026-11-29T12:00:00Z')
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString()

const identity = (name: string, owner: string, expires: string) => `# ${name} was added by hand.
apiVersion: gatehouse.dev/v1
kind: Identity
name: ${name}
owner: "${owner}"
expires: ${expires}
roles: [reader]
credentials:
  sshKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICg3ELxQalPcd+6yAtJXBUC7mvx2Zr/H2uhVONlTaue8 ${name}
`

async function seed(h: Harness): Promise<void> {
  h.repo.git.commitFiles('main', {
    'identities/legacy.yaml': identity('legacy-bot', '@ghost', '2027-06-30'),
    'identities/temp.yaml': identity('temp-job', '@acme/data', '2026-01-01'),
    'identities/quarterly.yaml': identity('quarterly', '@acme/data', '2027-06-30'),
    '.gatehouse/exemptions.yaml': 'exemptions:\n  - identity: quarterly\n    reason: runs once a quarter\n    expires: 2027-02-01\n  - identity: temp-job\n    expires: 2027-02-01\n',
  }, { login: 'admin' })
  await store.db.exec('DELETE FROM gatehouse.identity_usage; DELETE FROM gatehouse.rule_usage;')
  const usage: Array<[string, number, number]> = [['ci-deploy', 100, 1], ['old-export', 90, 2], ['nightly-report', 90, 60], ['legacy-bot', 80, 1], ['temp-job', 80, 1]]
  for (const [name, first, last] of usage) {
    await store.db.query('INSERT INTO gatehouse.identity_usage VALUES ($1, $2, $3, 10)', [name, daysAgo(first), daysAgo(last)])
  }
  const rules: Array<[string, string, number]> = [['app/read-orders', 'ci-deploy', 1], ['reports/read-reports', 'old-export', 2], ['reports/read-reports', 'nightly-report', 60]]
  for (const [rule, name, last] of rules) await store.db.query('INSERT INTO gatehouse.rule_usage VALUES ($1, $2, $3, 5)', [rule, name, daysAgo(last)])
}

const outcomes = (report: SweepReport) => Object.fromEntries(report.results.map((r) => [r.finding.identity, `${r.outcome} ${r.finding.action}`]))
const writes = (h: Harness) => h.github.requests.filter((r) => r.method !== 'GET' && r.path.startsWith('/repos/')).length

test('the sweep proposes one pull request per stale identity, within the cap, and a second run changes nothing', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    const dry = await runSweep(h.bot.ctx, { dryRun: true, now: NOW })
    assert.equal(writes(h), 0, 'a dry run writes nothing')
    assert.deepEqual(outcomes(dry), {
      'legacy-bot': 'would-create remove',
      'nightly-report': 'would-create remove',
      'old-export': 'capped narrow',
      quarterly: 'exempt remove',
      'temp-job': 'capped remove',
    })
    assert.match(dry.warnings.join('\n'), /entry 2 needs identity, reason and expires/)

    const first = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(outcomes(first)['legacy-bot'], 'created remove')
    assert.equal(outcomes(first)['nightly-report'], 'created remove')
    assert.equal(h.repo.pullRequests().length, 2)

    await h.restart({ sweep: { everySeconds: undefined, maxPullRequests: 10 } })
    const second = await runSweep(h.bot.ctx, { now: NOW })
    assert.deepEqual(outcomes(second), {
      'legacy-bot': 'unchanged remove',
      'nightly-report': 'unchanged remove',
      'old-export': 'created narrow',
      quarterly: 'exempt remove',
      'temp-job': 'created remove',
    })
    assert.equal(h.repo.pullRequests().length, 4, 'one pull request per identity')

    const before = writes(h)
    const third = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(writes(h), before, 'the third run wrote nothing')
    assert.ok(third.results.filter((r) => r.finding.action !== 'report' && r.outcome !== 'exempt').every((r) => r.outcome === 'unchanged'))

    const branch = (name: string) => `gatehouse/sweep/${name}`
    // Removing one of two identities in a file keeps the other and its comments.
    const jobs = h.repo.git.fileAt(branch('nightly-report'), 'identities/jobs.yaml')!
    assert.doesNotMatch(jobs, /name: nightly-report/)
    assert.match(jobs, /^# Left over from a migration last year\.\nname: old-export|^# Left over from a migration last year\.\napiVersion/)
    const tests = h.repo.git.fileAt(branch('nightly-report'), 'tests/app.yaml')!
    assert.doesNotMatch(tests, /nightly-report/)
    assert.equal((tests.match(/- name:/g) ?? []).length, 3, 'the other test cases stay')
    assert.equal(h.repo.git.fileAt(branch('legacy-bot'), 'identities/legacy.yaml'), undefined, 'a file holding only the identity is deleted')
    // Narrowing edits only the subjects line and keeps the file's comment.
    const app = h.repo.git.fileAt(branch('old-export'), 'policies/app.yaml')!
    const original = h.repo.git.fileAt('main', 'policies/app.yaml')!
    assert.equal(app, original.replace('  identities: [old-export]\n', ''))

    const prOf = (name: string) => h.repo.pullRequests().find((p) => p.pull!.head === branch(name))!
    assert.match(prOf('nightly-report').body, /no activity for 60 days/)
    assert.match(prOf('nightly-report').body, /last seen by the gateway \| 2026-09-30/)
    assert.deepEqual(prOf('nightly-report').pull!.teamReviewers, ['data'], 'the owner is asked to review')
    assert.deepEqual(prOf('legacy-bot').pull!.teamReviewers, ['security'], 'a gone owner is replaced by the default approvers')
    assert.match(prOf('legacy-bot').body, /owner `@ghost` is no longer a member of acme/)
    assert.match(prOf('temp-job').body, /expired on 2026-01-01/)

    // The proposal is itself a policy pull request the bot evaluates: it compiles and only removes access.
    const number = prOf('nightly-report').number
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const run = h.repo.checkRunsFor(h.repo.git.resolve(branch('nightly-report'))!)[0]!
    assert.match(run.output.title, /waiting for approval/)
    assert.match(h.repo.comments(number)[0]!.body, /identity removed/)
  }, { sweep: { everySeconds: undefined, maxPullRequests: 2 } })
})

test('a sweep interrupted by GitHub failures finishes on the next run without duplicates', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    // Creating the first pull request fails after its branch was pushed.
    h.github.fail({ method: 'POST', path: /\/pulls$/ }, 502)
    await assert.rejects(runSweep(h.bot.ctx, { now: NOW }))
    const report = await runSweep(h.bot.ctx, { now: NOW })
    assert.ok(report.results.every((r) => ['created', 'exempt', 'reported'].includes(r.outcome)))
    assert.equal(h.repo.pullRequests().length, 4)
    assert.equal(new Set(h.repo.pullRequests().map((p) => p.pull!.head)).size, 4)
  }, { sweep: { everySeconds: undefined, maxPullRequests: 10 } })
})

test('the bot sweeps on its schedule', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    assert.equal(h.repo.pullRequests().length, 0)
    await h.restart({ sweep: { everySeconds: 3600, maxPullRequests: 10 } })
    const deadline = Date.now() + 15_000
    while (h.repo.pullRequests().length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(h.repo.pullRequests().map((p) => p.pull!.head).sort(), ['legacy-bot', 'nightly-report', 'old-export', 'temp-job'].map((n) => `gatehouse/sweep/${n}`))
  })
})
