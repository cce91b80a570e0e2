// The streaming masker must give exactly what masking the whole input at once
// gives, however the input is cut into chunks, while holding back only a
// bounded tail and never emitting any byte of a secret.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PRIVATE_KEY_MAX_LENGTH } from '../../../engine/masks/detectors.js'
import { maskBytes, type DetectorSpec } from '../../../engine/masks/strategies.js'
import { createStreamMasker, MAX_STREAM_HOLD } from '../../../engine/masks/stream-masker.js'
import { DETECTORS, type MaskStrategy } from '../../../engine/types.js'
import { GTH, JWT, MIXED_FIXTURES, pem, prng, randomOf, RSA_KEY } from './fixtures.js'

const HASH_KEY = Buffer.from('0123456789abcdef0123456789abcdef')

const RULE_SETS: Record<string, DetectorSpec[]> = {
  redact: [...DETECTORS],
  partial: DETECTORS.map((detector) => ({ detector, strategy: 'partial' as MaskStrategy })),
  hash: DETECTORS.map((detector) => ({ detector, strategy: 'hash' as MaskStrategy })),
  // A stream has no NULL: `null` masks like `redact`.
  null: DETECTORS.map((detector) => ({ detector, strategy: 'null' as MaskStrategy })),
  'email only': ['email'],
  'cards and keys': ['credit-card', 'private-key'],
}

/** The reference: the whole input masked at once, with `null` read as `redact`. */
function expected(input: Buffer, rules: DetectorSpec[]): Buffer {
  const asRedact = rules.map((r) => (typeof r === 'string' || r.strategy !== 'null' ? r : { detector: r.detector, strategy: 'redact' as const }))
  const out = maskBytes(input, asRedact, { hashKey: HASH_KEY })
  assert.ok(out)
  return Buffer.from(out)
}

/** The number of bytes in pieces the masker returned. */
const sizeOf = (pieces: Buffer[]) => pieces.reduce((total, piece) => total + piece.length, 0)
/** The text of pieces the masker returned. */
const textOf = (pieces: Buffer[]) => Buffer.concat(pieces).toString()

function streamed(chunks: Buffer[], rules: DetectorSpec[], onPush?: (held: number) => void): Buffer {
  const masker = createStreamMasker({ detectors: rules, hashKey: HASH_KEY })
  const out: Buffer[] = []
  for (const chunk of chunks) {
    out.push(...masker.push(chunk))
    onPush?.(masker.held)
  }
  out.push(...masker.end())
  return Buffer.concat(out)
}

test('split at every byte offset: same as masking the whole input', () => {
  let checked = 0
  for (const [name, rules] of Object.entries(RULE_SETS)) {
    for (const fixture of MIXED_FIXTURES) {
      const input = Buffer.from(fixture)
      const want = expected(input, rules)
      for (let at = 0; at <= input.length; at++) {
        const got = streamed([input.subarray(0, at), input.subarray(at)], rules)
        if (!got.equals(want)) {
          assert.equal(got.toString('latin1'), want.toString('latin1'), `${name}: ${JSON.stringify(fixture.slice(0, 60))} split at ${at}`)
        }
        checked++
      }
    }
  }
  assert.ok(checked > 5000)
})

test('seeded random chunkings: same as masking the whole input', () => {
  const all = Buffer.from(MIXED_FIXTURES.join(''))
  for (const [name, rules] of Object.entries(RULE_SETS)) {
    const want = expected(all, rules)
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(seed)
      // Chunks of 512 bytes and more are scanned in place once what is held is decided: 2000 covers that path.
      const maxChunk = [1, 3, 17, 64, 500, 2000][seed % 6]!
      const chunks: Buffer[] = []
      for (let at = 0; at < all.length; ) {
        const size = 1 + Math.floor(random() * maxChunk)
        chunks.push(all.subarray(at, at + size))
        at += size
      }
      const got = streamed(chunks, rules)
      assert.ok(got.equals(want), `${name}: seed ${seed}, chunks up to ${maxChunk}`)
    }
  }
})

test('fuzz: random texts built from fragments of secrets, random chunkings', () => {
  const fragments = [
    '4111', '1111', ' ', '-', '.', ',', '@', 'example', '.com', 'john', 'eyJ', 'hbGciOiJIUzI1NiJ9', 'x', '_', 'ghp_', 'gth_', 'github_pat_',
    'AKIA', 'ASIA', 'IOSFODNN7EXAMPLE', 'DE89', '3704', '0044', '123-45-', '6789', '\n', '\n', 'é', '😀',
    '-----BEGIN RSA PRIVATE KEY-----', '-----END RSA PRIVATE KEY-----', '-----END ', 'PRIVATE KEY', '-----', 'a'.repeat(40), '0'.repeat(7),
    JWT, GTH, '4111 1111 1111 1111', '378282246310005', 'DE89 3704 0044 0532 0130 00', '123-45-6789', 'a.b@example.co.uk', '..', '+', '\r\n',
  ]
  const random = prng(2024)
  for (let round = 0; round < 400; round++) {
    let text = ''
    // Every fourth round: long texts in chunks large enough to be scanned in place.
    const large = round % 4 === 3
    const pieces = large ? 100 + Math.floor(random() * 400) : 5 + Math.floor(random() * 60)
    for (let k = 0; k < pieces; k++) text += fragments[Math.floor(random() * fragments.length)]!
    const input = Buffer.from(text)
    const rules = Object.values(RULE_SETS)[round % Object.keys(RULE_SETS).length]!
    const want = expected(input, rules)
    const chunks: Buffer[] = []
    for (let at = 0; at < input.length; ) {
      const size = 1 + Math.floor(random() * (large ? 1500 : 12))
      chunks.push(input.subarray(at, at + size))
      at += size
    }
    assert.ok(streamed(chunks, rules).equals(want), `round ${round}: ${JSON.stringify(text)}`)
  }
})

test('every split of a card number, an email and a key is still masked', () => {
  for (const secret of ['4111111111111111', '4111 1111 1111 1111', 'john.doe@example.com', RSA_KEY, JWT, GTH]) {
    const input = Buffer.from(`before ${secret} after`)
    for (let at = 0; at <= input.length; at++) {
      const got = streamed([input.subarray(0, at), input.subarray(at)], [...DETECTORS]).toString()
      assert.ok(!got.includes(secret) && got.startsWith('before [redacted:') && got.endsWith('] after'), `split at ${at}: ${got.slice(0, 80)}`)
    }
  }
})

test('a private key delivered a byte at a time is suppressed, never emitted in part', () => {
  const masker = createStreamMasker({ detectors: ['private-key'] })
  const input = Buffer.from(`ok\n${pem('OPENSSH PRIVATE KEY', 300)}\nafter\n`)
  let out = ''
  let maxHeld = 0
  for (let k = 0; k < input.length; k++) {
    out += textOf(masker.push(input.subarray(k, k + 1)))
    maxHeld = Math.max(maxHeld, masker.held)
  }
  out += textOf(masker.end())
  assert.equal(out, 'ok\n[redacted:private-key]\nafter\n')
  assert.ok(maxHeld < 128, `held ${maxHeld} bytes`)
})

test('a key block longer than the cap: suppressed up to the cap, then the text resumes as whole-input masking says', () => {
  const body = randomOf('ABCDEFGHIJ\n', PRIVATE_KEY_MAX_LENGTH + 5000)
  const input = Buffer.from(`x -----BEGIN RSA PRIVATE KEY-----\n${body}`)
  const want = expected(input, ['private-key'])
  assert.ok(want.toString().startsWith('x [redacted:private-key]'))
  assert.equal(want.length, 'x [redacted:private-key]'.length + input.length - 2 - PRIVATE_KEY_MAX_LENGTH)
  for (const size of [1000, 4096, 65536]) {
    const chunks: Buffer[] = []
    for (let at = 0; at < input.length; at += size) chunks.push(input.subarray(at, at + size))
    let maxHeld = 0
    assert.ok(streamed(chunks, ['private-key'], (h) => (maxHeld = Math.max(maxHeld, h))).equals(want), `chunks of ${size}`)
    assert.ok(maxHeld < 128)
  }
})

test('bounded memory on a huge input', { timeout: 20000 }, () => {
  const masker = createStreamMasker({ detectors: [...DETECTORS] })
  const line = `2024-01-15T10:30:00Z user=jane@example.com card=4111111111111111 token=${GTH} ok ${randomOf('abc def 0123 ', 200)}\n`
  const chunk = Buffer.from(line.repeat(Math.ceil(65536 / line.length)))
  let outBytes = 0
  let maxHeld = 0
  const rounds = 1024 // 64+ MiB in all
  for (let k = 0; k < rounds; k++) {
    const out = masker.push(chunk)
    outBytes += sizeOf(out)
    if (k === 0) assert.ok(!Buffer.concat(out).toString().includes('4111111111111111'))
    maxHeld = Math.max(maxHeld, masker.held)
  }
  outBytes += sizeOf(masker.end())
  assert.ok(maxHeld <= MAX_STREAM_HOLD, `held ${maxHeld}`)
  assert.ok(outBytes > rounds * chunk.length * 0.8)
})

test('an unfinished JWT is held at most to its limit, then released', () => {
  const masker = createStreamMasker({ detectors: ['jwt'] })
  const input = Buffer.from('eyJhbGciOiJIUzI1NiJ9.' + 'a'.repeat(20000))
  let out = 0
  for (let at = 0; at < input.length; at += 7) {
    out += sizeOf(masker.push(input.subarray(at, at + 7)))
    assert.ok(masker.held <= MAX_STREAM_HOLD)
  }
  out += sizeOf(masker.end())
  assert.equal(out, input.length)
})

test('binary data passes through byte-exact', () => {
  const random = prng(42)
  const input = Buffer.alloc(1 << 20)
  for (let k = 0; k < input.length; k++) input[k] = Math.floor(random() * 256)
  const want = expected(input, [...DETECTORS])
  for (const size of [1, 13, 4096, 65536]) {
    const chunks: Buffer[] = []
    for (let at = 0; at < (size === 1 ? 65536 : input.length); at += size) chunks.push(input.subarray(at, at + size))
    const whole = size === 1 ? expected(input.subarray(0, 65536), [...DETECTORS]) : want
    assert.ok(streamed(chunks, [...DETECTORS]).equals(whole), `chunks of ${size}`)
  }
  // Random bytes contain no secret: nothing changed at all.
  assert.ok(want.equals(input))
})

test('multi-byte UTF-8 split inside a character is reassembled byte-exact', () => {
  const input = Buffer.from('é€😀日本語 ' .repeat(50) + '4111111111111111 ' + '😀'.repeat(20))
  for (let at = 0; at <= input.length; at++) {
    const got = streamed([input.subarray(0, at), input.subarray(at)], [...DETECTORS])
    assert.equal(got.toString(), input.toString().replace('4111111111111111', '[redacted:credit-card]'))
  }
})

test('text without candidates is emitted at once', () => {
  const masker = createStreamMasker({ detectors: [...DETECTORS] })
  assert.equal(textOf(masker.push(Buffer.from('$ ls -la\ntotal 0\n'))), '$ ls -la\ntotal 0\n')
  assert.equal(masker.held, 0)
  // Only the word that could still become an email's local part is held.
  assert.equal(textOf(masker.push(Buffer.from('Downloading foo'))), 'Downloading ')
  assert.equal(masker.held, 3)
  assert.equal(textOf(masker.push(Buffer.from('bar\n'))), 'foobar\n')
  assert.equal(sizeOf(masker.end()), 0)
})

test('push or end after end fails with a code', () => {
  const masker = createStreamMasker({ detectors: ['email'] })
  masker.end()
  assert.throws(() => masker.push(Buffer.from('x')), { code: 'mask.stream_ended' })
  assert.throws(() => masker.end(), { code: 'mask.stream_ended' })
})

test('hash needs a key', () => {
  assert.throws(() => createStreamMasker({ detectors: [{ detector: 'email', strategy: 'hash' }] }), { code: 'mask.hash_key_missing' })
})
