// How findings add up to proposals when credential retirement is among them:
// retiring expired credentials is its own proposal beside the identity's
// access change (removal, change of owner, narrowing), except beside a
// removal, where it is only reported; every report is listed exactly once.
// A seeded fuzzer over mixes of findings checks the same (SEED and COUNT by
// hand).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findAll, type Action, type Finder, type Finding, type SweepEvidence } from '../../../bot/sweep/findings.js'
import { proposalBranch } from '../../../bot/sweep/propose.js'
import { seeded } from '../../helpers/seeded.js'

// The finders below read no evidence.
const NO_EVIDENCE = {} as SweepEvidence
const finder = (findings: Finding[]): Finder => async () => findings
const finding = (identity: string, action: Action, kind: string): Finding => ({ identity, action, kind, reason: `${identity} ${kind}` })

test('retiring is proposed beside a narrowing, and only reported beside a removal', async () => {
  const found = await findAll(NO_EVIDENCE, [
    finder([finding('a-job', 'narrow', 'unused-policy'), finding('b-job', 'remove', 'expired'), finding('c-job', 'report', 'expiring')]),
    finder([finding('a-job', 'retire', 'past-not-after'), finding('b-job', 'retire', 'past-not-after'), finding('c-job', 'retire', 'past-not-after')]),
  ])
  assert.deepEqual(found.map((f) => [f.identity, f.action ?? 'report', f.reasons.map((r) => r.kind), f.reports.map((r) => r.kind)]), [
    ['a-job', 'narrow', ['unused-policy'], []],
    ['a-job', 'retire', ['past-not-after'], []],
    ['b-job', 'remove', ['expired'], ['past-not-after']],
    ['c-job', 'retire', ['past-not-after'], ['expiring']],
  ])
  assert.deepEqual(found.map((f) => proposalBranch(f.identity, f.action)), ['gatehouse/sweep/a-job', 'gatehouse/rotate/a-job', 'gatehouse/sweep/b-job', 'gatehouse/rotate/c-job'])
})

test('fuzzed mixes of findings: one proposal per branch, reports once, retirement never beside a removal', async () => {
  const { seed, count, random, pick } = seeded(15, 200)
  const actions: Action[] = ['remove', 'change-owner', 'narrow', 'retire', 'report']
  for (let n = 0; n < count; n++) {
    const findings = Array.from({ length: random(8) }, (_, i) => finding(pick(['a-job', 'b-job', 'c-job']), pick(actions), `kind-${i}`))
    const found = await findAll(NO_EVIDENCE, [finder(findings.slice(0, 4)), finder(findings.slice(4))])
    const context = `seed ${seed}, round ${n}: ${JSON.stringify(findings.map((f) => [f.identity, f.action]))}`
    const branches = found.map((f) => proposalBranch(f.identity, f.action))
    assert.equal(new Set(branches).size, branches.length, context)
    for (const f of findings) {
      const listed = found.filter((e) => e.identity === f.identity).flatMap((e) => [...e.reasons, ...e.reports]).filter((r) => r.kind === f.kind)
      assert.equal(listed.length, 1, `${context}: ${f.kind} listed ${listed.length} times`)
      const removed = findings.some((o) => o.identity === f.identity && o.action === 'remove')
      if (f.action === 'retire') assert.equal(listed[0]!.action, removed ? 'report' : 'retire', context)
    }
    for (const f of found) assert.ok(f.action !== undefined || f.reasons.length === 0, context)
    for (const f of found.filter((e) => e.action === 'retire')) assert.ok(!found.some((e) => e.identity === f.identity && e.action === 'remove'), context)
  }
})
