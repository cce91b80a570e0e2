// Values of two detectors that overlap are masked as one union: neither is
// ever shown through the other's partial form (`c***@4111111111111111.example.com`
// showed the card). One case per pair of built-in detectors, checked at once,
// on bytes and through the stream masker cut at every offset.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findSensitive } from '../../../engine/masks/detectors.js'
import { maskBytes, maskText } from '../../../engine/masks/strategies.js'
import { createStreamMasker } from '../../../engine/masks/stream-masker.js'
import { DETECTORS, type Detector } from '../../../engine/types.js'
import { AWS, GHP, randomOf, RSA_KEY, withLuhn } from './fixtures.js'

const CARD = '4111111111111111'
const SSN = '123-45-6789'
const IBAN = 'DE89370400440532013000'
// Header and payload of a JWS (`{"alg":"HS256"}`, `{"a":1}`); a third segment makes it whole.
const JWT_HEAD = 'eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ'
const JWT = `${JWT_HEAD}.c2ln`

/** A gatehouse token whose last characters, after a `-`, are `inner` (the body is 43 base64url characters). */
function gthEndingWith(inner: string): string {
  return `gth_${randomOf('abcdefghij', 42 - inner.length)}-${inner}`
}

/** An IBAN (grouped in fours) whose digits after the check digits are a card number, so both detectors match. */
function ibanAroundCard(): string {
  const bban = withLuhn('411111111111111') + '22'
  // ISO 13616 check digits: the BBAN, then the country code as digits and `00`, mod 97.
  const numeric = bban + '1611' + '00'
  let rest = 0
  for (const ch of numeric) rest = (rest * 10 + Number(ch)) % 97
  const iban = `GB${String(98 - rest).padStart(2, '0')}${bban}`
  return iban.replace(/(.{4})(?!$)/g, '$1 ')
}

/**
 * For each pair, a text where a value of each overlaps (or, for the pairs
 * whose values cannot overlap directly, both lie inside a third that joins them).
 */
const CASES: Record<string, string> = {
  'credit-card+email': `carol@${CARD}.example.com`,
  'credit-card+aws-access-key': `${CARD}.${AWS}@example.com`,
  'credit-card+github-token': `${CARD}.${GHP}@example.com`,
  'credit-card+gatehouse-token': gthEndingWith(CARD),
  'credit-card+private-key': RSA_KEY.replace('\n', `\n${CARD}\n`),
  'credit-card+jwt': `${JWT_HEAD}.${CARD}`,
  'credit-card+iban': ibanAroundCard(),
  'credit-card+us-ssn': `${CARD}.x.${SSN}@example.com`,
  'email+aws-access-key': `${AWS}@example.com`,
  'email+github-token': `${GHP}@example.com`,
  'email+gatehouse-token': `${gthEndingWith('x')}@example.com`,
  'email+private-key': RSA_KEY.replace('\n', '\ncarol@example.com\n'),
  'email+jwt': `${JWT}@example.com`,
  'email+iban': `carol@${IBAN}.example.com`,
  'email+us-ssn': `${SSN}@example.com`,
  'aws-access-key+github-token': `${AWS}.${GHP}@example.com`,
  'aws-access-key+gatehouse-token': gthEndingWith(AWS),
  'aws-access-key+private-key': RSA_KEY.replace('\n', `\n${AWS}\n`),
  'aws-access-key+jwt': `${JWT_HEAD}.${AWS}`,
  'aws-access-key+iban': `${AWS}.${IBAN}@example.com`,
  'aws-access-key+us-ssn': `${AWS}.${SSN}@example.com`,
  'github-token+gatehouse-token': gthEndingWith(`ghp_${randomOf('ABCDEF0123', 36)}`),
  'github-token+private-key': RSA_KEY.replace('\n', `\n${GHP}\n`),
  'github-token+jwt': `${JWT_HEAD}.${GHP}`,
  'github-token+iban': `${IBAN}.${GHP}@example.com`,
  'github-token+us-ssn': `${SSN}.${GHP}@example.com`,
  'gatehouse-token+private-key': RSA_KEY.replace('\n', `\n${gthEndingWith('x')}\n`),
  'gatehouse-token+jwt': `${JWT_HEAD}.${gthEndingWith('x')}`,
  'gatehouse-token+iban': gthEndingWith(IBAN),
  'gatehouse-token+us-ssn': gthEndingWith(SSN),
  'private-key+jwt': RSA_KEY.replace('\n', `\n${JWT}\n`),
  'private-key+iban': RSA_KEY.replace('\n', `\n${IBAN}\n`),
  'private-key+us-ssn': RSA_KEY.replace('\n', `\n${SSN}\n`),
  'jwt+iban': `${JWT_HEAD}.${IBAN}`,
  'jwt+us-ssn': `${JWT_HEAD}.${SSN}`,
  'iban+us-ssn': `${SSN}.${IBAN}@example.com`,
}

const ALL_PARTIAL = DETECTORS.map((detector) => ({ detector, strategy: 'partial' as const }))

test('there is a case for every pair of built-in detectors', () => {
  const pairs = DETECTORS.flatMap((a, i) => DETECTORS.slice(i + 1).map((b) => `${a}+${b}`))
  assert.deepEqual(Object.keys(CASES).sort(), pairs.sort())
})

for (const [pair, text] of Object.entries(CASES)) {
  const [a, b] = pair.split('+') as [Detector, Detector]
  test(`${pair}: overlapping values are masked as one, at once and in a stream`, () => {
    const framed = `before ${text} after`
    const matches = findSensitive(framed, DETECTORS)
    assert.equal(matches.length, 1, `one union: ${JSON.stringify(matches)}`)
    const [m] = matches
    assert.equal(m!.start, 7)
    assert.equal(m!.end, 7 + text.length)
    // A private key is redacted whole: what it contains need not be found.
    if (a !== 'private-key' && b !== 'private-key') for (const d of [a, b]) assert.ok(m!.union?.includes(d), `${d} in ${JSON.stringify(m)}`)
    const expected = `before [redacted:${(m!.union ?? [m!.detector]).join('+')}] after`
    // `partial` is where one value could be shown through the other's form: a union shows nothing.
    assert.equal(maskText(framed, ALL_PARTIAL), expected)
    assert.equal(Buffer.from(maskBytes(Buffer.from(framed), ALL_PARTIAL)!).toString(), expected)
    const bytes = Buffer.from(framed)
    for (let cut = 0; cut <= bytes.length; cut++) {
      const masker = createStreamMasker({ detectors: ALL_PARTIAL })
      const out = [...masker.push(bytes.subarray(0, cut)), ...masker.push(bytes.subarray(cut)), ...masker.end()]
      assert.equal(Buffer.concat(out).toString(), expected, `cut at ${cut}`)
    }
  })
}

test('a union takes the strongest strategy of its detectors', () => {
  const text = `carol@${CARD}.example.com`
  assert.equal(maskText(text, [{ detector: 'email', strategy: 'partial' }, { detector: 'credit-card', strategy: 'hash' }], { hashKey: Buffer.alloc(16, 1) })!.slice(0, 2), 'h:')
  assert.equal(maskText(text, [{ detector: 'email', strategy: 'null' }, { detector: 'credit-card', strategy: 'partial' }]), null)
  // Only the detectors in force take part: with the email detector alone, the address is shown as usual.
  assert.equal(maskText(text, [{ detector: 'email', strategy: 'partial' }]), `c***@${CARD}.example.com`)
})

test('a chain of overlapping values is cut into unions of bounded span, the same at once and in a stream', () => {
  // Every `eyJ` segment starts a JWT overlapping the previous one.
  const text = `${JWT_HEAD}.`.repeat(2000)
  const whole = maskText(text, [...DETECTORS])!
  assert.ok(!whole.includes('eyJ'), 'nothing of the chain is shown')
  const bytes = Buffer.from(text)
  const masker = createStreamMasker({ detectors: [...DETECTORS] })
  const out: Buffer[] = []
  for (let at = 0; at < bytes.length; at += 1000) out.push(...masker.push(bytes.subarray(at, at + 1000)))
  out.push(...masker.end())
  assert.equal(Buffer.concat(out).toString(), whole)
})
