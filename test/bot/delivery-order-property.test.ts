// Property: for a seeded sequence of comments and reviews on a policy pull
// request, any order of their deliveries, with any of them delivered again
// (GitHub's redelivery, same id) or replayed under a new delivery id, gives
// the same recorded commands, standing votes, holds, approvals table and
// check as delivering each once, in the order written. Fixed seed in CI; by hand:
// GATEHOUSE_SEED=123 GATEHOUSE_COUNT=20 npm test -- test/bot/delivery-order-property.test.ts
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { listCommands } from '../../bot/policy/state.js'
import { standingHolds, standingVotes } from '../../bot/policy/status.js'
import type { Database } from '../../store/database.js'
import { pick, prng } from '../engine/ssh/helpers.js'
import { commentPayload, openStore, policyComment, pullRequestPayload, reviewPayload, withHarness, type Harness } from './helpers.js'

const SEED = Number(process.env.GATEHOUSE_SEED ?? 20_261_206)
const COUNT = Number(process.env.GATEHOUSE_COUNT ?? 2)
const ORDERS_PER_SEQUENCE = 3

let store: { db: Database; close(): Promise<void> }
before(async () => {
  store = await openStore()
})
after(async () => {
  await store.close()
})

// Few people, so the same person often votes several times and the order matters; some may not vote at all.
const PEOPLE = ['alice', 'alice', 'bob', 'bob', 'dave', 'dana', 'nina', 'eve']
const BODIES = ['/approve', '/approve', '/deny', '/deny', '/approve cancel', '/hold', '/unhold', 'Checked.\n\n/approve', '> quoted\n/approve', '/approve\n/deny']
const REVIEWERS = ['alice', 'bob', 'paula']

/** What happened, in the order written: a comment, a review, or the dismissal of an earlier review. */
type Step = { kind: 'comment'; user: string; body: string } | { kind: 'review'; user: string } | { kind: 'dismiss'; review: number }

function sequence(random: () => number): Step[] {
  const steps: Step[] = []
  const length = 10 + Math.floor(random() * 5)
  for (let i = 0; i < length; i++) {
    const reviews = steps.flatMap((s, at) => (s.kind === 'review' ? [at] : []))
    const roll = random()
    if (roll < 0.2) steps.push({ kind: 'review', user: pick(random, REVIEWERS) })
    else if (roll < 0.3 && reviews.length > 0) steps.push({ kind: 'dismiss', review: pick(random, reviews) })
    else steps.push({ kind: 'comment', user: pick(random, PEOPLE), body: pick(random, BODIES) })
  }
  return steps
}

function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

let branches = 0

/** Opens a fresh pull request with the same change (a write grant: every kind of approver is asked). */
async function openPullRequest(h: Harness): Promise<number> {
  const app = h.repo.git.fileAt('main', 'policies/app.yaml')!
  const branch = `change-${++branches}`
  h.repo.git.commitFiles(branch, { 'policies/app.yaml': app.replace('actions: [select]', 'actions: [select, insert]') }, { from: 'main', login: 'eve' })
  const number = h.repo.openPullRequest({ head: branch, author: 'eve' })
  await h.send('pull_request', pullRequestPayload(h.repo, number))
  return number
}

/** The signed deliveries the steps make on `number`, in the order written, each with its own delivery id. */
function deliveriesFor(h: Harness, number: number, steps: readonly Step[], label: string, start: number): Array<{ event: string; body: string; id: string }> {
  const head = h.repo.git.resolve(h.repo.issues.get(number)!.pull!.head)!
  const reviews = new Map<number, Record<string, any>>()
  return steps.map((step, at) => {
    const writtenAt = new Date(start + at * 1_000).toISOString()
    const id = `${label}-${number}-${at}`
    if (step.kind === 'comment') {
      const c = h.repo.addComment(number, step.user, step.body)
      c.created_at = writtenAt
      return { event: 'issue_comment', body: JSON.stringify(commentPayload(h.repo, number, c)), id }
    }
    if (step.kind === 'review') {
      const review = reviewPayload(h.repo, number, { user: step.user, state: 'approved', commitId: head, submittedAt: writtenAt })
      reviews.set(at, review)
      return { event: 'pull_request_review', body: JSON.stringify(review), id }
    }
    const dismissed = structuredClone(reviews.get(step.review)!)
    dismissed.action = 'dismissed'
    dismissed.review.state = 'dismissed'
    return { event: 'pull_request_review', body: JSON.stringify(dismissed), id }
  })
}

/** What must not depend on the order of deliveries; `start` maps written times back to step numbers. */
async function outcome(h: Harness, number: number, start: number) {
  const repo = h.repo.fullName.toLowerCase()
  const head = h.repo.git.resolve(h.repo.issues.get(number)!.pull!.head)!
  const state = (await store.db.query<{ evaluation: any }>('SELECT evaluation FROM gatehouse.bot_pull_requests WHERE repo = $1 AND number = $2', [repo, number]))[0]!
  const evaluation = (typeof state.evaluation === 'string' ? JSON.parse(state.evaluation) : state.evaluation).evaluation
  const commands = await listCommands(store.db, repo, number)
  const body = policyComment(h.repo, number)[0]!.body
  const run = h.repo.checkRunsFor(head)
  assert.equal(run.length, 1)
  return {
    recorded: commands.map((c) => `${(Date.parse(c.writtenAt) - start) / 1000}:${c.login}:${c.command}`).sort(),
    votes: standingVotes(commands, evaluation).map((v) => `${v.login}:${v.vote}`).sort(),
    holds: standingHolds(commands).sort(),
    approvals: body.slice(body.indexOf('#### Approvals'), body.indexOf('#### Validation')),
    check: { conclusion: run[0]!.conclusion, title: run[0]!.output.title },
  }
}

test('the same comments and reviews give the same votes and check, whatever the order and number of their deliveries', async () => {
  await withHarness(store.db, async (h) => {
    const random = prng(SEED)
    for (let n = 0; n < COUNT; n++) {
      const steps = sequence(random)
      const reference = await openPullRequest(h)
      // Written one second apart (GitHub's resolution), from a few seconds after the pull request was evaluated.
      const start = Date.now() + 2_000
      for (const d of deliveriesFor(h, reference, steps, `ref${n}`, start)) await h.deliver(d.event, d.body, { id: d.id })
      await h.bot.settled()
      const expected = await outcome(h, reference, start)

      for (let k = 0; k < ORDERS_PER_SEQUENCE; k++) {
        const number = await openPullRequest(h)
        const at = Date.now() + 2_000
        const once = deliveriesFor(h, number, steps, `perm${n}-${k}`, at)
        const extra = once.flatMap((d, i) => {
          const roll = random()
          // GitHub redelivering the same delivery, or a captured body replayed under a new delivery id.
          if (roll < 0.25) return [d]
          if (roll < 0.5) return [{ ...d, id: `${d.id}-replay-${i}` }]
          return []
        })
        const order = shuffle(random, [...once, ...extra])
        for (const d of order) await h.deliver(d.event, d.body, { id: d.id })
        await h.bot.settled()
        const context = `seed ${SEED}, sequence ${n}, order ${k}: ${JSON.stringify(steps)}\ndelivered: ${order.map((d) => d.id).join(' ')}`
        assert.deepEqual(await outcome(h, number, at), expected, context)
      }
    }
  })
})
