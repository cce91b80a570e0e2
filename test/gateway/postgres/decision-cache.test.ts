// Decisions cached per statement shape decide exactly as deciding afresh:
// the example repository's SQL cases, with their numbers changed, from every
// identity on every resource, at seeded random times that cross identity
// expiries and the hours and weekdays that conditional rules read.
// SEED=n COUNT=n to explore by hand.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { compileRepository } from '../../../compiler/compile.js'
import { loadDirectory } from '../../../compiler/load.js'
import { createEngine, type Engine } from '../../../engine/engine.js'
import { decideStatements } from '../../../engine/requests.js'
import { createSqlClassifier, loadSqlParser } from '../../../engine/sql/index.js'
import { createDecisionCache } from '../../../gateway/postgres/decision-cache.js'
import { prng } from '../../helpers/prng.js'
import { EXAMPLE } from '../../helpers/repo.js'

const SEED = Number(process.env.SEED ?? 1616)
const COUNT = Number(process.env.COUNT ?? 3000)

let engine: Engine
let texts: string[]

before(async () => {
  await loadSqlParser()
  const compiled = await compileRepository(await loadDirectory(EXAMPLE))
  const created = createEngine(compiled.bundle!)
  assert.ok(created.ok)
  engine = created.engine
  texts = [...new Set(compiled.model!.tests.flatMap((s) => s.cases).flatMap((c) => (c.sql !== undefined ? [c.sql] : [])))]
  assert.ok(texts.length > 5)
})

test('a cached decision is the decision made afresh, at any time, for any identity and resource', () => {
  const random = prng(SEED)
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!
  const identities = [...Object.keys(engine.bundle.identities), 'nobody']
  const resources = Object.keys(engine.bundle.resources)
  const classifier = createSqlClassifier()
  // Smaller than the number of keys, so entries are evicted along the way too.
  const cache = createDecisionCache(200)
  for (let i = 0; i < COUNT; i++) {
    // Same shape, other numbers: one digit for another keeps the shape; sometimes the shape changes.
    const sql = pick(texts).replace(/\d/g, () => String(Math.floor(random() * (random() < 0.9 ? 10 : 1000))))
    const identity = pick(identities)
    const resource = pick(resources)
    // Late 2026 to early 2028, at any hour of any weekday.
    const time = new Date(Date.UTC(2026, 10, 1) + Math.floor(random() * 450 * 86_400_000))
    const context = { time, source: '10.0.0.1', session: { id: `s${i % 7}`, application: '' } }
    const classified = classifier.classify(sql, { defaultSchema: 'public' })
    if (!classified.ok) continue
    const request = { identity, resource, statements: classified.statements, context }
    const expected = decideStatements(engine, request)
    const actual = cache.decide(engine, { ...request, shape: classified.shape })
    assert.deepEqual(actual, expected, `seed ${SEED} step ${i}: ${identity} on ${resource} at ${time.toISOString()}: ${sql}`)
  }
  assert.ok(cache.hits > COUNT / 10, `the cache served decisions (${cache.hits} of ${COUNT})`)
})

test('no decision is cached for a pair with a conditional rule, nor once the identity has expired', () => {
  const classifier = createSqlClassifier()
  const cache = createDecisionCache()
  const classified = classifier.classify('SELECT id FROM orders WHERE id = 1', { defaultSchema: 'public' })
  assert.ok(classified.ok && classified.shape)
  const conditional = Object.keys(engine.bundle.identities).flatMap((identity) =>
    Object.keys(engine.bundle.resources).filter((resource) => engine.pair(identity, resource)?.rules.some((r) => r.condition)).map((resource) => ({ identity, resource })),
  )
  assert.ok(conditional.length > 0, 'the example has conditional rules')
  for (const { identity, resource } of conditional) {
    for (let i = 0; i < 3; i++) cache.decide(engine, { identity, resource, statements: classified.statements, context: { time: new Date() }, shape: classified.shape })
  }
  assert.equal(cache.hits, 0)
  const [identity, expires] = Object.entries(engine.bundle.identities).find(([name, id]) => id.expires && !conditional.some((p) => p.identity === name))!.map((v) => (typeof v === 'string' ? v : v.expires!))
  const resource = Object.keys(engine.bundle.resources).find((r) => engine.pair(identity!, r)?.hasAccess)!
  const request = (time: Date) => ({ identity: identity!, resource, statements: classified.statements, context: { time }, shape: classified.shape })
  const lastDay = new Date(`${expires}T12:00:00Z`)
  cache.decide(engine, request(lastDay))
  assert.equal(cache.decide(engine, request(lastDay)).decision.effect, decideStatements(engine, request(lastDay)).decision.effect)
  assert.equal(cache.hits, 1)
  const after = cache.decide(engine, request(new Date(lastDay.getTime() + 86_400_000)))
  assert.equal(after.decision.effect, 'deny')
  assert.match(after.decision.reasons[0]!, /expired/)
  assert.equal(cache.hits, 1, 'past the expiry the cached decision is not served')
})
