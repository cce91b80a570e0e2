// Claim patterns as the compiler and the gateway both read them: matching,
// whether two bindings can match one token, whether one covers another, and
// the words explain and the diff use. Overlap is checked against brute force
// over every short string of a small alphabet (seeded; GATEHOUSE_FUZZ_SEED
// and GATEHOUSE_FUZZ_COUNT explore further).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { globMatch } from '../../engine/glob.js'
import type { OidcBinding } from '../../engine/types.js'
import { bindingCovers, bindingMatches, bindingsOverlap, describeBinding, GITHUB_ACTIONS_ISSUER, globsIntersect } from '../../engine/workload.js'
import { prng } from './ssh/helpers.js'

const ALPHABET = ['a', 'b', '/']

function allStrings(maxLength: number): string[] {
  const out = ['']
  let layer = ['']
  for (let n = 0; n < maxLength; n++) {
    layer = layer.flatMap((s) => ALPHABET.map((c) => s + c))
    out.push(...layer)
  }
  return out
}

function randomPattern(random: () => number): string {
  let s = ''
  for (let n = Math.floor(random() * 5); n > 0; n--) s += random() < 0.3 ? '*' : ALPHABET[Math.floor(random() * ALPHABET.length)]!
  return s
}

test('two patterns intersect exactly when some string matches both', () => {
  // A witness, if there is one, is no longer than the literal characters of both patterns together (at most 8 here).
  const strings = allStrings(8)
  const seed = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 0x515)
  const count = Number(process.env.GATEHOUSE_FUZZ_COUNT ?? 500)
  const random = prng(seed)
  for (let i = 0; i < count; i++) {
    const a = randomPattern(random)
    const b = randomPattern(random)
    const witness = strings.some((s) => globMatch(a, s) && globMatch(b, s))
    assert.equal(globsIntersect(a, b), witness, `seed ${seed}, case ${i}: \`${a}\` and \`${b}\``)
  }
})

const binding = (claims: Record<string, string>, audience = 'gatehouse'): OidcBinding => ({ issuer: GITHUB_ACTIONS_ISSUER, audience, claims })

test('bindings overlap when a token could satisfy both, and only then', () => {
  assert.ok(bindingsOverlap(binding({ repository: 'acme/orders' }), binding({ repository: 'acme/*', ref: 'refs/heads/main' })))
  assert.ok(!bindingsOverlap(binding({ repository: 'acme/orders' }), binding({ repository: 'acme/payments' })))
  assert.ok(!bindingsOverlap(binding({ repository: 'acme/orders' }), binding({ repository: 'acme/orders' }, 'elsewhere')))
  assert.ok(!bindingsOverlap(binding({ repository: 'acme/orders', ref: 'refs/heads/main' }), binding({ repository: 'acme/*', ref: 'refs/tags/*' })))
})

test('a binding covers another when every token the other accepts, it accepts too', () => {
  assert.ok(bindingCovers(binding({ repository: 'acme/*' }), binding({ repository: 'acme/orders', ref: 'refs/heads/main' })))
  assert.ok(!bindingCovers(binding({ repository: 'acme/orders', ref: 'refs/heads/main' }), binding({ repository: 'acme/orders' })))
  assert.ok(!bindingCovers(binding({ repository: 'acme/orders' }), binding({ repository: 'acme/*' })))
})

test('a token matches on its issuer, any of its audiences and every claim; only string claims match', () => {
  const b = binding({ repository: 'acme/*', run_attempt: '1' })
  assert.ok(bindingMatches(b, { iss: GITHUB_ACTIONS_ISSUER, aud: ['x', 'gatehouse'], repository: 'acme/orders', run_attempt: '1' }))
  assert.ok(!bindingMatches(b, { iss: GITHUB_ACTIONS_ISSUER, aud: 'gatehouse', repository: 'acme/orders', run_attempt: 1 }))
  assert.ok(!bindingMatches(b, { iss: `${GITHUB_ACTIONS_ISSUER}/`, aud: 'gatehouse', repository: 'acme/orders', run_attempt: '1' }))
})

test('bindings read as the workload they admit', () => {
  assert.equal(describeBinding(binding({ repository: 'acme/orders', ref: 'refs/heads/main', environment: 'production' })), 'a workflow of acme/orders on refs/heads/main, environment production (audience gatehouse)')
  assert.equal(
    describeBinding({ issuer: 'https://k8s.example', audience: 'gatehouse', claims: { sub: 'system:serviceaccount:batch:nightly' } }),
    'the Kubernetes service account nightly in namespace batch of https://k8s.example (audience gatehouse)',
  )
})
