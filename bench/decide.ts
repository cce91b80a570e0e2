// Decision latency for already-normalised requests against a large bundle
// (bench/generate-repo.ts: 10,000 identities, 1,000 resources, 2,000
// policies). Goal: median under 5 µs.
//   node --import tsx bench/decide.ts BUNDLE.json
import { readFileSync } from 'node:fs'
import { decide } from '../engine/decide.js'
import { createEngine } from '../engine/engine.js'
import type { Bundle, DecisionRequest } from '../engine/types.js'
import { median, microsPerCall } from './stats.js'

const path = process.argv[2]
if (!path) throw new Error('usage: decide.ts BUNDLE.json')
const bundle = JSON.parse(readFileSync(path, 'utf8')) as Bundle
const built = createEngine(bundle)
if (!built.ok) throw new Error(built.errors.join('\n'))
const engine = built.engine

// Requests drawn from real pairs: half match a rule of the pair, half are random actions.
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
const identities = Object.keys(bundle.identities)
const ACTIONS = ['select', 'insert', 'update', 'delete', 'truncate', 'create'] as const
const requests: DecisionRequest[] = []
const time = new Date('2026-12-01T10:00:00Z')
while (requests.length < 20_000) {
  const identity = identities[Math.floor(random() * identities.length)]!
  const policies = bundle.index.identities[identity] ?? []
  const policy = bundle.policies[policies[Math.floor(random() * policies.length)] ?? -1]
  const resource = policy?.resources[Math.floor(random() * policy.resources.length)]
  if (!resource || bundle.resources[resource]?.type !== 'postgres') continue
  const rule = bundle.rules[policy.rules[0]!]!
  const matching = random() < 0.5 && rule.kind === 'postgres'
  const action = matching ? rule.actions![0]! : ACTIONS[Math.floor(random() * ACTIONS.length)]!
  const table = matching && rule.tables ? rule.tables[0]! : 'public.orders'
  requests.push({ identity, resource, operations: [{ kind: 'postgres', action, object: table }], reads: [table], context: { time } })
}
const effects = { allow: 0, deny: 0, approve: 0 }
for (const r of requests) effects[decide(engine, r).effect]++

const rounds: number[] = []
for (let round = 0; round < 9; round++) rounds.push(microsPerCall(requests.length, (i) => decide(engine, requests[i]!)))
console.log(`decide: ${requests.length} requests over ${Object.keys(bundle.identities).length} identities (${effects.allow} allow, ${effects.deny} deny, ${effects.approve} approve)`)
console.log(`median ${median(rounds).toFixed(2)} µs per decision (rounds: ${rounds.map((r) => r.toFixed(2)).join(', ')})`)
