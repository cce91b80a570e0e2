// Adversarial inputs of a few MB: each would take minutes if any detector
// backtracked or rescanned quadratically. Nothing here measures time; the
// test runner's timeout fails a slow run.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findSensitive } from '../../../engine/masks/detectors.js'
import { maskBytes } from '../../../engine/masks/strategies.js'
import { createStreamMasker } from '../../../engine/masks/stream-masker.js'
import { DETECTORS } from '../../../engine/types.js'

const SIZE = 4 << 20

function fill(unit: string, size = SIZE): string {
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size)
}

const ADVERSARIAL: Record<string, string> = {
  'one digit run': fill('4'),
  'spaced digit groups': fill('4111 '),
  'dashed digit groups': fill('4111-'),
  'almost SSNs': fill('123-45-'),
  'digits and dashes': fill('1-'),
  'at signs': fill('@'),
  'a@ pairs': fill('a@'),
  'long local parts': fill('a'.repeat(64) + '.'),
  'endless domain': 'x@' + fill('a.'),
  'email-ish chain': fill('a@a.'),
  'eyJ repeated': fill('eyJ'),
  'eyJ segments': fill('eyJhbGciOiJIUzI1NiJ9.'),
  'dotted eyJ': fill('.eyJ'),
  'BEGIN without a label': fill('-----BEGIN '),
  'BEGIN headers, no END': fill('-----BEGIN RSA PRIVATE KEY-----'),
  'one header, many false ENDs': '-----BEGIN RSA PRIVATE KEY-----' + fill('-----END '),
  'END lines only': fill('-----END RSA PRIVATE KEY-----'),
  dashes: fill('-'),
  'AKIA repeated': fill('AKIA'),
  'spaced AKIA': fill(' AKIA'),
  'IBAN prefixes': fill(' DE89 3704'),
  'gh repeated': fill('gh'),
  'ghp_ prefixes': fill(' ghp_'),
  'github_pat_ repeated': fill('github_pat_'),
  'gth_ prefixes': fill(' gth_'),
}

test('adversarial inputs finish: whole text, bytes and stream', { timeout: 20000 }, () => {
  for (const [name, text] of Object.entries(ADVERSARIAL)) {
    const matches = findSensitive(text, DETECTORS)
    for (let k = 1; k < matches.length; k++) assert.ok(matches[k]!.start >= matches[k - 1]!.end, name)
    const bytes = Buffer.from(text, 'latin1')
    const whole = maskBytes(bytes, [...DETECTORS])
    assert.ok(whole, name)
    const masker = createStreamMasker({ detectors: [...DETECTORS] })
    const out: Buffer[] = []
    for (let at = 0; at < bytes.length; at += 65536) out.push(...masker.push(bytes.subarray(at, at + 65536)))
    out.push(...masker.end())
    assert.ok(Buffer.concat(out).equals(Buffer.from(whole)), `${name}: stream differs from whole`)
  }
})

test('a byte-at-a-time writer of base64 runs does not make the stream masker quadratic', { timeout: 20000 }, () => {
  // A held JWT candidate grows to 8 KiB; rescanning it on every byte would cost ~1.6e10 steps here
  // (about 35 s measured with the deferral disabled, against 2 s with it).
  const bytes = Buffer.from(fill('eyJ' + 'a'.repeat(20000) + '.b.c ', SIZE), 'latin1')
  const masker = createStreamMasker({ detectors: [...DETECTORS] })
  let length = 0
  for (let at = 0; at < bytes.length; at++) for (const piece of masker.push(bytes.subarray(at, at + 1))) length += piece.length
  for (const piece of masker.end()) length += piece.length
  assert.equal(length, bytes.length)
})
