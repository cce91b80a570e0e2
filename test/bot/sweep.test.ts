// The stale-identity sweep through its own entry point, against the fake
// GitHub and a real store: findings only from evidence that can be defended
// (fresh usage records, an identity's first commit, explicit membership
// answers), proposals that validate and pass their tests with minimal line
// edits, every open proposal re-checked on every run, a person's decisions
// (closing, pushing) respected, and what proposes nothing reported in a
// summary issue.
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

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000)
const DAY = 86_400_000
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY).toISOString()
const inDays = (n: number) => daysAgo(-n).slice(0, 10)

const identity = (name: string, owner: string, options: { roles?: string; expires?: string; comment?: string } = {}) => `${options.comment ?? ''}apiVersion: gatehouse.dev/v1
kind: Identity
name: ${name}
owner: "${owner}"
expires: ${options.expires ?? '2027-06-30'}
roles: ${options.roles ?? '[reader]'}
credentials:
  sshKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICg3ELxQalPcd+6yAtJXBUC7mvx2Zr/H2uhVONlTaue8 ${name}
`

const BOTS = [
  identity('idle-bot', '@acme/platform', { comment: '# Bots of the platform team.\n' }),
  identity('ghost-bot', '@acme/data'),
  identity('user-bot', '@paula'),
  identity('team-bot', '@acme/renamed'),
  identity('leaver-bot', '@ghost'),
  identity('gone-bot', '@ghost'),
  identity('import-bot', '@acme/data', { roles: '[importer]' }),
  identity('solo-bot', '@acme/data', { roles: '[]' }),
  identity('partial-bot', '@acme/data', { roles: '[]' }),
  identity('expiring-bot', '@acme/data', { expires: inDays(3) }),
].join('---\n')

/** A policy allowing one SELECT rule, its subjects written as given (each layout the sweep must edit by lines). */
const policy = (name: string, subjects: string, rule: string) => `apiVersion: gatehouse.dev/v1
kind: Policy
name: ${name}
subjects:${subjects}
resources: {names: [orders-db]}
rules:
  - name: ${rule}
    effect: allow
    actions: [select]
    tables: [public.orders]
`

const MORE_POLICIES = [
  `# Importers and one-offs.\n${policy('imports', '\n  roles: [importer]', 'load')}`,
  policy('solo', ' {identities: [solo-bot]}', 'peek'),
  policy('partial', '\n  identities:\n  - partial-bot\n  - idle-bot        # the old importer', 'export'),
].join('---\n')

const MORE_TESTS = `apiVersion: gatehouse.dev/v1
kind: Test
name: more
cases:
  - name: partial-bot exports
    identity: partial-bot
    resource: orders-db
    sql: SELECT * FROM orders
    expect: {effect: allow, rule: partial/export}
  - name: import-bot loads
    identity: import-bot
    resource: orders-db
    sql: SELECT * FROM orders
    expect: {effect: allow, rule: imports/load}
`

/** identity, first seen and last seen (days ago); rules used (rule, identity, days ago). */
const USAGE: Array<[string, number, number]> = [
  ['ci-deploy', 100, 0.1], ['old-export', 90, 2], ['nightly-report', 90, 60], ['idle-bot', 120, 100], ['user-bot', 90, 1], ['team-bot', 90, 1],
  ['leaver-bot', 90, 1], ['gone-bot', 120, 100], ['import-bot', 120, 100], ['solo-bot', 120, 100], ['partial-bot', 90, 1], ['expiring-bot', 90, 1],
]
const RULES: Array<[string, string, number]> = [
  ['app/read-orders', 'ci-deploy', 0.1], ['reports/read-reports', 'old-export', 2], ['reports/read-reports', 'nightly-report', 60],
  ['reports/read-reports', 'user-bot', 1], ['reports/read-reports', 'team-bot', 1], ['reports/read-reports', 'leaver-bot', 1], ['reports/read-reports', 'expiring-bot', 1],
]

/** Records USAGE and RULES, with the last use of the identities in `lastUse` (days ago) moved. */
async function recordUsage(lastUse: Record<string, number> = {}, usage = USAGE, rules = RULES): Promise<void> {
  await store.db.exec('DELETE FROM gatehouse.identity_usage; DELETE FROM gatehouse.rule_usage;')
  for (const [name, first, last] of usage) await store.db.query('INSERT INTO gatehouse.identity_usage VALUES ($1, $2, $3, 10)', [name, daysAgo(first), daysAgo(lastUse[name] ?? last)])
  for (const [rule, name, last] of rules) await store.db.query('INSERT INTO gatehouse.rule_usage VALUES ($1, $2, $3, 5)', [rule, name, daysAgo(lastUse[name] ?? last)])
}

async function seed(h: Harness): Promise<void> {
  h.repo.git.setClock(daysAgo(200))
  h.repo.git.commitFiles('main', {
    'identities/bots.yaml': BOTS,
    'policies/more.yaml': MORE_POLICIES,
    'tests/more.yaml': MORE_TESTS,
    '.gatehouse/exemptions.yaml': 'exemptions:\n  - identity: nobody\n    expires: 2027-02-01\n',
  }, { login: 'admin' })
  // Added minutes ago: not yet used, and not "never used" either.
  h.repo.git.setClock(new Date(NOW.getTime() - 10 * 60_000).toISOString())
  h.repo.git.commitFiles('main', { 'identities/fresh.yaml': identity('fresh-bot', '@acme/data') }, { login: 'admin' })
  // The bot's token belongs to someone outside the organisation for this member: GitHub answers 302 to the
  // public membership, which (not public) would answer 404: followed, the redirect would read as "left".
  h.github.fail({ path: /^\/orgs\/acme\/members\/paula$/ }, 302, { times: 1000, headers: { location: `${h.github.url}/orgs/acme/public_members/paula` } })
  await recordUsage()
}

const outcomes = (report: SweepReport) => Object.fromEntries(report.results.map((r) => [r.identity, `${r.outcome} ${r.action ?? 'report'}`]))
const writes = (h: Harness) => h.github.requests.filter((r) => r.method !== 'GET' && r.path.startsWith('/repos/')).length
const branch = (name: string) => `gatehouse/sweep/${name}`
const prOf = (h: Harness, name: string) => h.repo.pullRequests().filter((p) => p.pull!.head === branch(name)).at(-1)!
const BIG = { sweep: { everySeconds: undefined, maxPullRequests: 20, freshnessSeconds: 86_400, graceSeconds: 7 * 86_400 } }

/** Lines of `before` missing from `after`, and lines of `after` not in `before` (as multisets). */
function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const count = (text: string) => text.split(/(?<=\n)/).reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map<string, number>())
  const a = count(before)
  const b = count(after)
  const removed = [...a].flatMap(([l, n]) => Array<string>(Math.max(0, n - (b.get(l) ?? 0))).fill(l))
  const added = [...b].flatMap(([l, n]) => Array<string>(Math.max(0, n - (a.get(l) ?? 0))).fill(l))
  return { removed, added }
}

test('findings come only from evidence that holds, and every proposal validates and passes its tests', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    const report = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(report.refused, undefined)
    assert.deepEqual(outcomes(report), {
      'ci-deploy': 'reported report',
      'expiring-bot': 'reported report',
      'ghost-bot': 'created remove',
      'gone-bot': 'created remove',
      'idle-bot': 'created remove',
      'import-bot': 'created remove',
      'leaver-bot': 'created change-owner',
      'nightly-report': 'created remove',
      'old-export': 'created narrow',
      'partial-bot': 'created narrow',
      'solo-bot': 'created remove',
      'team-bot': 'reported report',
      'user-bot': 'reported report',
    })
    const reasons = (name: string) => report.results.find((r) => r.identity === name)!.reports.map((f) => f.reason).join('\n')
    assert.match(reasons('user-bot'), /unknown: GitHub answered 302/, 'a 302 is not "left"')
    assert.match(reasons('team-bot'), /unknown: GitHub answered 404/, 'a team answering 404 is not "gone"')
    assert.match(prOf(h, 'ghost-bot').body, /never used in 120 days: added .*usage recorded since/)
    assert.equal(report.results.some((r) => r.identity === 'fresh-bot'), false, 'an identity added minutes ago is not "never used"')
    assert.match(prOf(h, 'leaver-bot').title, /^Change the owner of leaver-bot: @ghost left acme/)
    assert.match(prOf(h, 'gone-bot').body, /no activity for 100 days[\s\S]*owner `@ghost` is no longer a member/)

    // Each proposal is a policy pull request the bot evaluates: it validates and its tests pass.
    for (const p of h.repo.pullRequests()) {
      await h.send('pull_request', pullRequestPayload(h.repo, p.number))
      const run = h.repo.checkRunsFor(h.repo.git.resolve(p.pull!.head)!).at(-1)!
      assert.match(run.output.title, /waiting for approval|all approval rules satisfied/, `${p.pull!.head}: ${run.output.title}`)
    }
    // What had to go for that: the only holder's role, the only subject's policy, the test that expected a narrowed grant.
    const more = (name: string) => h.repo.git.fileAt(branch(name), 'policies/more.yaml')!
    assert.doesNotMatch(more('import-bot'), /name: imports/)
    assert.doesNotMatch(more('solo-bot'), /name: solo\n/)
    assert.doesNotMatch(h.repo.git.fileAt(branch('partial-bot'), 'tests/more.yaml')!, /partial-bot exports/)
    assert.match(h.repo.git.fileAt(branch('partial-bot'), 'tests/more.yaml')!, /import-bot loads/)

    // Minimal edits: only the identity's own lines change; an unrelated line is never rewritten.
    const base = h.repo.git.fileAt('main', 'policies/more.yaml')!
    assert.deepEqual(changedLines(base, more('partial-bot')), { removed: ['  - partial-bot\n'], added: [] })
    assert.deepEqual(changedLines(base, more('idle-bot')), { removed: ['  - idle-bot        # the old importer\n'], added: [] })
    const bots = h.repo.git.fileAt('main', 'identities/bots.yaml')!
    const withoutIdle = h.repo.git.fileAt(branch('idle-bot'), 'identities/bots.yaml')!
    assert.ok(withoutIdle.startsWith('# Bots of the platform team.\napiVersion: gatehouse.dev/v1\nkind: Identity\nname: ghost-bot\n'), 'the header comment stays')
    assert.ok(changedLines(bots, withoutIdle).removed.every((l) => !/name: (?!idle-bot)/.test(l)))
    assert.equal(changedLines(bots, withoutIdle).added.length, 0)
    assert.deepEqual(changedLines(bots, h.repo.git.fileAt(branch('leaver-bot'), 'identities/bots.yaml')!), { removed: ['owner: "@ghost"\n'], added: ['owner: "@acme/security"\n'] })

    // Per-rule evidence, labels, and a summary of what proposes nothing.
    assert.match(prOf(h, 'old-export').body, /\| `app\/read-orders` \| 0 \| never \|\n\| `app\/migrations` \| 0 \| never \|\n\| `reports\/read-reports` \| 5 \| \d{4}-/, 'uses per rule')
    assert.deepEqual(prOf(h, 'old-export').labels, ['gatehouse-sweep', 'gatehouse-sweep:narrow'])
    const summary = [...h.repo.issues.values()].find((i) => i.labels.includes('gatehouse-sweep-summary'))!
    assert.equal(report.summary, summary.number)
    assert.match(summary.body, /`expiring-bot`: expires on .*, in 3 days/)
    assert.match(summary.body, /`ci-deploy`: rule `app\/migrations` decided nothing for it in the last 30 days/)
    assert.match(summary.body, /`user-bot`: whether its owner `@paula` is still there is unknown/)
    assert.match(summary.body, /entry 1 needs identity, reason and expires/)

    const before = writes(h)
    const again = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(writes(h), before, 'a second run writes nothing')
    assert.ok(again.results.every((r) => r.outcome === 'unchanged' || r.outcome === 'reported'))
  }, BIG)
})

test('a store that stopped receiving usage makes the sweep refuse, not propose everything', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    await recordUsage({}, USAGE.map(([name, first, last]) => [name, first + 96, last + 96]), [])
    const report = await runSweep(h.bot.ctx, { now: NOW })
    assert.match(report.refused ?? '', /newest usage record is from .*older than the freshness window of 24 hours/)
    assert.equal(report.results.length, 0)
    assert.equal(h.repo.pullRequests().length, 0)
    const summary = [...h.repo.issues.values()].find((i) => i.labels.includes('gatehouse-sweep-summary'))!
    assert.match(summary.body, /The sweep refused to judge/)
    await store.db.exec('DELETE FROM gatehouse.identity_usage')
    assert.match((await runSweep(h.bot.ctx, { now: NOW, dryRun: true })).refused ?? '', /no usage records/)
  }, BIG)
})

test('open proposals are re-checked on every run; a person closing or pushing is respected', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    await runSweep(h.bot.ctx, { now: NOW })
    const idle = prOf(h, 'nightly-report')
    const ghost = prOf(h, 'ghost-bot')
    const leaver = prOf(h, 'leaver-bot')
    const gone = prOf(h, 'gone-bot')

    // nightly-report runs again; ghost-bot is exempted; a person closes leaver-bot's proposal and pushes a fix to gone-bot's.
    await recordUsage({ 'nightly-report': 0.5, 'old-export': 3 })
    h.repo.git.commitFiles('main', { '.gatehouse/exemptions.yaml': 'exemptions:\n  - identity: ghost-bot\n    reason: runs at year end\n    expires: 2027-02-01\n' }, { login: 'admin' })
    h.repo.setState(leaver.number, 'closed')
    const human = h.repo.git.commitFiles(branch('gone-bot'), { 'README.md': 'keep the key for the audit\n' }, { login: 'alice' })

    const writesBefore = writes(h)
    const dry = await runSweep(h.bot.ctx, { now: NOW, dryRun: true })
    assert.equal(outcomes(dry)['nightly-report'], 'would-close report')
    assert.equal(writes(h), writesBefore, 'a dry run closes nothing')
    const second = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(idle.state, 'closed')
    assert.match(h.repo.comments(idle.number).at(-1)!.body, /Closed by the sweep: `nightly-report` was used again \(last seen /)
    assert.equal(ghost.state, 'closed')
    assert.match(h.repo.comments(ghost.number).at(-1)!.body, /`ghost-bot` is exempted: runs at year end/)
    assert.equal(outcomes(second)['old-export'], 'updated narrow', 'changed evidence updates the description')
    assert.ok(prOf(h, 'old-export').body.includes(`| last seen by the gateway | ${daysAgo(3)} |`))
    assert.equal(outcomes(second)['leaver-bot'], 'declined change-owner')
    assert.equal(h.repo.pullRequests().filter((p) => p.pull!.head === branch('leaver-bot')).length, 1, 'no new pull request for a declined proposal')
    assert.equal(outcomes(second)['gone-bot'], 'human-pushed remove')
    assert.equal(h.repo.git.resolve(branch('gone-bot')), human, 'a person\'s push is never overwritten')
    assert.match(h.repo.comments(gone.number).at(-1)!.body, /commits the bot did not make/)
    const comments = h.repo.comments(gone.number).length
    await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(h.repo.comments(gone.number).length, comments, 'said once per head commit')
    assert.equal(idle.state, 'closed', 'closed proposals stay closed')

    // The evidence changes materially for leaver-bot (now unused too): its own pull request is reopened, discussion kept.
    await recordUsage({ 'nightly-report': 0.5, 'old-export': 3, 'leaver-bot': 100 })
    const third = await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(outcomes(third)['leaver-bot'], 'reopened remove')
    assert.equal(leaver.state, 'open')
    assert.match(leaver.title, /^Remove stale identity leaver-bot/)
    assert.equal(h.repo.git.fileAt(branch('leaver-bot'), 'identities/bots.yaml')!.includes('name: leaver-bot'), false)
  }, BIG)
})

test('a dry run writes nothing, the cap limits new pull requests, and a sweep interrupted by GitHub failures finishes without duplicates', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    const dry = await runSweep(h.bot.ctx, { dryRun: true, now: NOW })
    assert.equal(writes(h), 0, 'a dry run writes nothing')
    assert.equal(dry.results.filter((r) => r.outcome === 'would-create').length, 2)
    assert.equal(dry.results.filter((r) => r.outcome === 'capped').length, 7)
    h.github.fail({ method: 'POST', path: /\/pulls$/ }, 502)
    await assert.rejects(runSweep(h.bot.ctx, { now: NOW }))
    await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(h.repo.pullRequests().length, 2)
    await h.restart(BIG)
    await runSweep(h.bot.ctx, { now: NOW })
    assert.equal(h.repo.pullRequests().length, 9)
    assert.equal(new Set(h.repo.pullRequests().map((p) => p.pull!.head)).size, 9)
  }, { sweep: { ...BIG.sweep, maxPullRequests: 2 } })
})

test('the bot sweeps on its schedule', async () => {
  await withHarness(store.db, async (h) => {
    await seed(h)
    assert.equal(h.repo.pullRequests().length, 0)
    await h.restart({ sweep: { ...BIG.sweep, everySeconds: 3600 } })
    const deadline = Date.now() + 30_000
    while (h.repo.pullRequests().length < 9 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(h.repo.pullRequests().length, 9)
  })
})
