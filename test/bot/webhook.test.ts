// The webhook front and the queue: signatures, size caps, malformed and
// unknown deliveries, redeliveries, restarts, GitHub failing mid-operation,
// health, metrics and what the logs may contain.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { enqueueDelivery } from '../../bot/queue.js'
import type { Database } from '../../store/database.js'
import { commentPayload, withHarness, OLD_SECRET, openStore, policyComment, pullRequestPayload, type Harness } from './helpers.js'

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

const queued = async (db: Database) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM gatehouse.bot_deliveries'))[0]!.n

function openPullRequest(h: Harness): number {
  h.repo.git.commitFiles('change', { 'identities/ci.yaml': h.repo.git.fileAt('main', 'identities/ci.yaml')!.replace('2027-06-30', '2027-12-31') }, { from: 'main', login: 'eve' })
  return h.repo.openPullRequest({ head: 'change', author: 'eve' })
}

test('a missing or wrong signature is refused with 401 and nothing happens', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    const payload = pullRequestPayload(h.repo, number)
    const before = await queued(store.db)
    const requests = h.github.requests.length
    assert.equal((await h.deliver('pull_request', payload, { secret: null })).status, 401)
    assert.equal((await h.deliver('pull_request', payload, { secret: 'not-the-secret-at-all' })).status, 401)
    // Signed, then changed: the signature covers the exact bytes.
    const body = JSON.stringify(payload)
    const response = await fetch(`http://127.0.0.1:${h.bot.port}/webhook`, {
      method: 'POST',
      headers: { 'x-github-event': 'pull_request', 'x-github-delivery': 'tampered-1', 'x-hub-signature-256': (await import('../../bot/webhook/verify.js')).signPayload('test-webhook-secret-0001', Buffer.from(body)) },
      body: body.replace('"opened"', '"reopened"'),
    })
    assert.equal(response.status, 401)
    await h.bot.settled()
    assert.equal(await queued(store.db), before)
    assert.equal(h.github.requests.length, requests, 'no GitHub request was made')
    assert.equal(h.bot.ctx.metrics.registry.value('gatehouse_bot_webhooks_total', { result: 'unauthorized' }), 3)

    // The previous secret still works while it is being rotated out.
    assert.equal((await h.deliver('pull_request', payload, { secret: OLD_SECRET })).status, 202)
  })
})

test('oversized, malformed, unknown and foreign deliveries are refused or ignored without work', async () => {
  await withHarness(store.db, async (h) => {
    const before = await queued(store.db)
    const huge = { action: 'opened', padding: 'x'.repeat(300 * 1024) }
    assert.equal((await h.deliver('pull_request', huge)).status, 413)
    assert.equal((await h.deliver('pull_request', '{"action": "opened",')).status, 400)
    assert.equal((await h.deliver('pull_request', '[1, 2, 3]')).status, 202)
    assert.equal((await h.deliver('pull_request', 'null')).status, 202)
    assert.equal((await h.deliver('deployment', { action: 'created', repository: { full_name: h.repo.fullName } })).status, 202)
    const foreign = pullRequestPayload(h.repo, openPullRequest(h))
    foreign.repository.full_name = 'someone/fork-of-policies'
    assert.equal((await h.deliver('pull_request', foreign)).status, 202)
    const noHeaders = await fetch(`http://127.0.0.1:${h.bot.port}/webhook`, { method: 'POST', body: '{}', headers: { 'x-hub-signature-256': (await import('../../bot/webhook/verify.js')).signPayload('test-webhook-secret-0001', Buffer.from('{}')) } })
    assert.equal(noHeaders.status, 400)
    await h.bot.settled()
    assert.equal(await queued(store.db), before, 'nothing was queued')
    assert.equal((await fetch(`http://127.0.0.1:${h.bot.port}/webhook`)).status, 405)
  })
})

test('an enormous comment is not read as a command', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const c = h.repo.addComment(number, 'alice', `/approve\n${'a'.repeat(70_000)}`)
    assert.equal((await h.send('issue_comment', commentPayload(h.repo, number, c))).status, 202)
    assert.deepEqual(c.reactions, [])
    assert.doesNotMatch(policyComment(h.repo, number)[0]!.body, /@alice/)
  })
})

test('a redelivered delivery is processed once, and a queued one survives a restart', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    const payload = pullRequestPayload(h.repo, number)
    assert.equal((await h.deliver('pull_request', payload, { id: `same-${process.pid}` })).status, 202)
    assert.equal((await h.deliver('pull_request', payload, { id: `same-${process.pid}` })).status, 200)
    await h.bot.settled()
    assert.equal(h.github.count('GET', /\/pulls\/\d+$/), 1, 'the pull request was evaluated once')

    await h.bot.stop()
    const c = h.repo.addComment(number, 'alice', '/approve')
    await enqueueDelivery(store.db, { id: `queued-before-restart-${process.pid}`, event: 'issue_comment', key: `${h.repo.fullName}#${number}`, payload: commentPayload(h.repo, number, c) })
    await h.restart()
    await h.bot.settled()
    assert.deepEqual(c.reactions, ['+1'])
    assert.match(policyComment(h.repo, number)[0]!.body, /@alice/)
  })
})

test('a delivery that failed for good is processed again when GitHub redelivers it', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    const payload = pullRequestPayload(h.repo, number)
    const id = `failing-${process.pid}`
    const status = async () => (await store.db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM gatehouse.bot_deliveries WHERE id = $1', [id]))[0]
    h.github.fail({ method: 'GET', path: /\/pulls\/\d+$/ }, 404, { times: 5 })
    assert.equal((await h.deliver('pull_request', payload, { id })).status, 202)
    await waitFor(async () => (await status())?.status === 'failed')
    assert.equal((await status())!.attempts, 5, 'tried maxAttempts times')
    assert.equal(policyComment(h.repo, number).length, 0)
    assert.equal((await h.deliver('pull_request', payload, { id })).status, 202)
    await h.bot.settled()
    assert.equal((await status())!.status, 'done')
    assert.equal(policyComment(h.repo, number).length, 1)
    assert.equal((await h.deliver('pull_request', payload, { id })).status, 200, 'a finished delivery is never run again')
  })
})

test('GitHub failing or rate-limiting mid-operation leaves one comment and one check, finished', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    // A read fails twice with 502 (retried in place), the comment edit is rate-limited once,
    // and creating the check run fails with 500 (not repeated in place: the delivery runs again).
    h.github.fail({ method: 'GET', path: /\/git\/trees\// }, 502, { times: 2 })
    h.github.fail({ method: 'POST', path: /\/check-runs$/ }, 500)
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    await waitFor(async () => (await h.bot.ctx.db.query<{ status: string }>(`SELECT status FROM gatehouse.bot_deliveries WHERE key = $1`, [`${h.repo.fullName}#${number}`.toLowerCase()]))[0]?.status === 'done')
    h.github.fail({ method: 'PATCH', path: /\/issues\/comments\/\d+$/ }, 403, { headers: { 'retry-after': '0' } })
    h.github.fail({ method: 'GET', path: /\/pulls\/\d+$/ }, 429, { headers: { 'retry-after': '0' } })
    await h.send('pull_request', pullRequestPayload(h.repo, number, 'synchronize'))

    assert.equal(policyComment(h.repo, number).length, 1)
    const sha = h.repo.git.resolve('change')!
    assert.equal(h.repo.checkRunsFor(sha).length, 1)
    assert.equal(h.repo.checkRunsFor(sha)[0]!.status, 'completed')
    const metrics = h.bot.ctx.metrics
    assert.ok(metrics.registry.value('gatehouse_bot_github_retries_total', { reason: 'server_error' }) >= 2)
    assert.equal(metrics.registry.value('gatehouse_bot_github_retries_total', { reason: 'rate_limit' }), 2)
    assert.equal(metrics.registry.value('gatehouse_bot_deliveries_total', { event: 'pull_request', outcome: 'retry' }), 1)
  })
})

test('a GitHub request that never answers times out and is retried', async () => {
  await withHarness(store.db, async (h) => {
    await h.restart({ github: { ...h.bot.ctx.config.github, timeoutSeconds: 1 } })
    const number = openPullRequest(h)
    h.github.slowDown(new RegExp(`/pulls/${number}/commits$`), 1500)
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    h.github.slowDown(/^$/, 0)
    await waitFor(async () => policyComment(h.repo, number).length === 1)
    assert.ok(h.bot.ctx.metrics.registry.value('gatehouse_bot_github_retries_total', { reason: 'server_error' }) >= 1)
  })
})

test('deliveries run with bounded concurrency, one at a time per pull request', async () => {
  await withHarness(store.db, async (h) => {
    const numbers = Array.from({ length: 6 }, (_, i) => {
      h.repo.git.commitFiles(`change-${i}`, { [`policies/extra-${i}.yaml`]: '# nothing yet\n' }, { from: 'main', login: 'eve' })
      return h.repo.openPullRequest({ head: `change-${i}`, author: 'eve' })
    })
    h.github.slowDown(/\/pulls\/\d+$/, 150)
    // Two deliveries for the first pull request: they must not overlap.
    const payloads = [numbers[0]!, ...numbers].map((n) => pullRequestPayload(h.repo, n, 'synchronize'))
    for (const p of payloads) assert.equal((await h.deliver('pull_request', p)).status, 202)
    await h.bot.settled()
    assert.equal(h.github.maxInFlight, 2, 'worker.concurrency is 2 in the tests')
    assert.equal(h.github.maxInFlightByPath.get(`/repos/${h.repo.fullName}/pulls/${numbers[0]}`), 1, 'the two deliveries of one pull request never overlap')
    assert.equal(h.github.count('GET', new RegExp(`/pulls/${numbers[0]}$`)), 2)
    for (const n of numbers) assert.equal(policyComment(h.repo, n).length, 1)
  })
})

test('health, metrics, and logs without tokens or payloads', async () => {
  await withHarness(store.db, async (h) => {
    const number = openPullRequest(h)
    await h.send('pull_request', pullRequestPayload(h.repo, number))
    const c = h.repo.addComment(number, 'nina', 'secret plans in the comment body\n/approve')
    await h.send('issue_comment', commentPayload(h.repo, number, c))
    assert.equal((await fetch(`http://127.0.0.1:${h.bot.port}/healthz`)).status, 200)
    const metrics = await (await fetch(`http://127.0.0.1:${h.bot.port}/metrics`)).text()
    assert.match(metrics, /gatehouse_bot_webhooks_total\{result="accepted"\} 2/)
    assert.match(metrics, /gatehouse_bot_queue_depth 0/)
    assert.match(metrics, /gatehouse_bot_commands_total\{outcome="refused"\} 1/)
    const logs = h.logs.join('\n')
    assert.ok(h.logs.length > 3)
    assert.doesNotMatch(logs, /ghs_|ghp_|BEGIN PRIVATE KEY|secret plans|test-webhook-secret/)
  })
})

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
