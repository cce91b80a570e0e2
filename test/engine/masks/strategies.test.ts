// What each strategy produces, for column values and for matches in text, on
// strings and on bytes; and the errors a misconfiguration gives.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  detectorRules,
  hashValue,
  maskBytes,
  maskText,
  maskValue,
  maskValueBytes,
} from '../../../engine/masks/strategies.js'
import { PRIVATE_KEY_MAX_LENGTH } from '../../../engine/masks/detectors.js'
import { DETECTORS, type Detector } from '../../../engine/types.js'
import { AWS, GHP, GITHUB_PAT, GTH, JWT, prng, randomOf, RSA_KEY } from './fixtures.js'

const KEY = Buffer.from('0123456789abcdef0123456789abcdef')
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210')

test('column values: redact, null, hash', () => {
  assert.equal(maskValue('alice@example.com', 'redact'), '***')
  assert.equal(maskValue('alice@example.com', 'null'), null)
  const h = maskValue('alice@example.com', 'hash', { hashKey: KEY })
  assert.match(h!, /^h:[0-9a-f]{16}$/)
  assert.equal(maskValue('alice@example.com', 'hash', { hashKey: KEY }), h, 'deterministic: joinable')
  assert.notEqual(maskValue('alice@example.com', 'hash', { hashKey: OTHER_KEY }), h, 'keyed')
  assert.notEqual(maskValue('bob@example.com', 'hash', { hashKey: KEY }), h)
  assert.equal(Buffer.from(maskValueBytes(Buffer.from('alice@example.com'), 'hash', { hashKey: KEY })!).toString(), h, 'bytes and strings agree')
  assert.equal(maskValueBytes(Buffer.from('x'), 'null'), null)
  assert.equal(Buffer.from(maskValueBytes(Buffer.from('x'), 'redact')!).toString(), '***')
})

const PARTIAL_VALUES: Array<[string, string]> = [
  ['alice@example.com', 'a***@example.com'],
  ['4111111111111111', '************1111'],
  ['4111 1111 1111 1111', '**** **** **** 1111'],
  ['378282246310005', '************005'],
  ['123-45-6789', '***-**-**89'],
  ['DE89370400440532013000', 'DE*****************000'],
  [AWS, 'AKIA***LE'],
  [GHP, `ghp_***${GHP.slice(-4)}`],
  [GTH, `gth_***${GTH.slice(-4)}`],
  [JWT, `eyJ***${JWT.slice(-4)}`],
  [GITHUB_PAT, `github_pat_***${GITHUB_PAT.slice(-4)}`],
  [RSA_KEY, '[redacted:private-key]'],
  ['Jonathan Smith', 'J***h'],
  ['Alexandra Konstantinopoulou', 'Ale***lou'],
  ['Bob', '***'],
  ['1234567', '***'],
  ['😀😁😂🤣😃😄😅😆', '😀***😆'],
]

test('partial column values', () => {
  for (const [value, want] of PARTIAL_VALUES) {
    assert.equal(maskValue(value, 'partial'), want, value.slice(0, 40))
    assert.equal(Buffer.from(maskValueBytes(Buffer.from(value), 'partial')!).toString(), want, `bytes of ${value.slice(0, 40)}`)
  }
})

test('partial never reveals more than a quarter of an ordinary value, nor splits a character', () => {
  const random = prng(9)
  for (let k = 0; k < 2000; k++) {
    const value = randomOf('abcdefghij KLMNOP éü日😀', 1 + Math.floor(random() * 80), random)
    const out = maskValue(value, 'partial')!
    const kept = Array.from(out.replace('***', '')).length
    assert.ok(kept <= Array.from(value).length / 4, `${value} -> ${out}`)
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(out), `lone surrogate in ${out}`)
  }
})

const TEXT = `user alice@example.com paid with 4111 1111 1111 1111 using ${AWS}`

test('maskText: each strategy', () => {
  assert.equal(maskText(TEXT, [...DETECTORS]), 'user [redacted:email] paid with [redacted:credit-card] using [redacted:aws-access-key]')
  assert.equal(
    maskText(TEXT, [...DETECTORS], { strategy: 'partial' }),
    'user a***@example.com paid with **** **** **** 1111 using AKIA***LE',
  )
  const hashed = maskText(TEXT, [...DETECTORS], { strategy: 'hash', hashKey: KEY })!
  assert.match(hashed, /^user h:[0-9a-f]{16} paid with h:[0-9a-f]{16} using h:[0-9a-f]{16}$/)
  // A hashed email in text joins with the same email hashed as a column.
  assert.ok(hashed.includes(hashValue('alice@example.com', KEY)))
  assert.equal(maskText(TEXT, [...DETECTORS], { strategy: 'null' }), null)
  // Per-detector strategies.
  assert.equal(
    maskText(TEXT, [
      { detector: 'email', strategy: 'partial' },
      { detector: 'credit-card', strategy: 'redact' },
    ]),
    `user a***@example.com paid with [redacted:credit-card] using ${AWS}`,
  )
})

test('maskText: null only when a null-strategy detector matched', () => {
  assert.equal(maskText('nothing here', [{ detector: 'email', strategy: 'null' }]), 'nothing here')
  assert.equal(maskText(TEXT, [{ detector: 'iban', strategy: 'null' }, 'email']), 'user [redacted:email] paid with 4111 1111 1111 1111 using ' + AWS)
  assert.equal(maskText(TEXT, [{ detector: 'email', strategy: 'null' }]), null)
})

test('a detector listed twice takes the stronger strategy', () => {
  const rules = [
    { detector: 'email' as Detector, strategy: 'partial' as const },
    { detector: 'email' as Detector, strategy: 'redact' as const },
    { detector: 'email' as Detector, strategy: 'hash' as const },
  ]
  assert.equal(maskText('a@example.com', rules, { hashKey: KEY }), '[redacted:email]')
})

test('maskText returns the very string when nothing matched', () => {
  const text = 'SELECT 1; -- nothing to see'
  assert.equal(maskText(text, [...DETECTORS]), text)
})

test('maskBytes: the same buffer when nothing matched, masked bytes otherwise', () => {
  const clean = Buffer.from('ordinary row data 42 ✓')
  assert.equal(maskBytes(clean, [...DETECTORS]), clean)
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x34, 0x31, 0x80, 0xc3])
  assert.equal(maskBytes(binary, [...DETECTORS]), binary)
  const dirty = Buffer.concat([Buffer.from([0xff, 0xc3]), Buffer.from(' 4111111111111111 é')])
  const out = Buffer.from(maskBytes(dirty, [...DETECTORS])!)
  assert.ok(out.equals(Buffer.concat([Buffer.from([0xff, 0xc3]), Buffer.from(' [redacted:credit-card] é')])))
  assert.equal(maskBytes(dirty, [{ detector: 'credit-card', strategy: 'null' }]), null)
  // Bytes and strings agree.
  assert.equal(Buffer.from(maskBytes(Buffer.from(TEXT), [...DETECTORS], { strategy: 'hash', hashKey: KEY })!).toString(), maskText(TEXT, [...DETECTORS], { strategy: 'hash', hashKey: KEY }))
})

test('hash without a usable key fails with a code, even when nothing would match', () => {
  assert.throws(() => maskValue('x', 'hash'), { code: 'mask.hash_key_missing' })
  assert.throws(() => maskValue('x', 'hash', { hashKey: Buffer.from('short') }), { code: 'mask.hash_key_too_short' })
  assert.throws(() => maskText('nothing', ['email'], { strategy: 'hash' }), { code: 'mask.hash_key_missing' })
  assert.throws(() => maskBytes(Buffer.from('nothing'), [{ detector: 'jwt', strategy: 'hash' }]), { code: 'mask.hash_key_missing' })
})

test('detectorRules turns decision masks into rules and refuses unknown detectors', () => {
  assert.deepEqual(
    detectorRules([
      { id: 'public.customers.email', strategy: 'partial' },
      { id: 'detector:credit-card', strategy: 'redact' },
    ]),
    [{ detector: 'credit-card', strategy: 'redact' }],
  )
  assert.throws(() => detectorRules([{ id: 'detector:passport', strategy: 'redact' }]), TypeError)
})

test('a string whose private-key cap falls inside a multi-byte character keeps whole characters', () => {
  const text = '-----BEGIN RSA PRIVATE KEY-----\nx' + 'é'.repeat(40000) + ' tail'
  const out = maskText(text, ['private-key'])!
  assert.match(out, /^\[redacted:private-key\]é+ tail$/)
  // The cap counts UTF-8 bytes, as the bytes path and the stream do.
  const bytesOut = Buffer.from(maskBytes(Buffer.from(text), ['private-key'])!)
  assert.equal(bytesOut.length - Buffer.byteLength('[redacted:private-key]'), Buffer.byteLength(text) - PRIVATE_KEY_MAX_LENGTH)
  assert.ok(Math.abs(Buffer.byteLength(out) - bytesOut.length) <= 1)
})

test('a plain Uint8Array works like a Buffer, and comes back as itself when clean', () => {
  const clean = new Uint8Array([104, 105, 32, 49])
  assert.equal(maskBytes(clean, [...DETECTORS]), clean)
  const dirty = new Uint8Array(Buffer.from('x 4111111111111111'))
  assert.equal(Buffer.from(maskBytes(dirty, [...DETECTORS])!).toString(), 'x [redacted:credit-card]')
})
