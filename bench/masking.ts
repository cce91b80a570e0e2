// Throughput of masking, in MB/s (10^6 bytes of UTF-8 input per second),
// median of several rounds, all nine detectors on:
//   (a) text with no sensitive data: log/CSV rows full of timestamps, ids,
//       UUIDs and amounts (digits everywhere: the scanner's worst ordinary case),
//   (a') prose with no digits and no `@` (the pre-check alone decides),
//   (b) the rows of (a) with 1% of the values sensitive (cards, emails, tokens, keys, ...),
// through maskText (one 4 MB string; ~100-byte values, one call each, with
// rules compiled once as a gateway session would), maskBytes (one 4 MB
// buffer) and the stream masker (64 KiB chunks). A bare loop reading every
// byte is printed first: it is the ceiling of any JS scanner on this machine.
//   node --import tsx bench/masking.ts
import { compileMaskRules, maskBytes, maskText } from '../engine/masks/strategies.js'
import { createStreamMasker } from '../engine/masks/stream-masker.js'
import { DETECTORS } from '../engine/types.js'

const ROUNDS = 9

/** mulberry32: seeded, so every run measures the same text. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const TARGET = 4 << 20
const random = prng(1)
function randomOf(alphabet: string, length: number): string {
  let out = ''
  for (let k = 0; k < length; k++) out += alphabet[Math.floor(random() * alphabet.length)]
  return out
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const AWS = 'AKIAIOSFODNN7EXAMPLE'
const GHP = 'ghp_' + randomOf(ALNUM, 36)
const GTH = 'gth_' + randomOf(ALNUM + '-_', 43)
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'
const RSA_KEY = `-----BEGIN RSA PRIVATE KEY-----\n${Array.from({ length: 25 }, () => randomOf(ALNUM + '+/', 64)).join('\n')}\n-----END RSA PRIVATE KEY-----`
const WORDS = ['ok', 'GET', '/api/orders', 'status=200', 'user', 'shipped', 'retry', 'cache', 'miss', 'warehouse', 'Ünïcode', 'café', 'eu-west-1', 'pending']
const SECRETS = [
  '4111 1111 1111 1111',
  '5555555555554444',
  'alice.smith@example.com',
  AWS,
  GHP,
  GTH,
  JWT,
  'DE89 3704 0044 0532 0130 00',
  '123-45-6789',
]

function ordinaryValue(): string {
  switch (Math.floor(random() * 6)) {
    case 0: return `2024-01-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}T10:${Math.floor(random() * 60)}:00.123Z`
    case 1: return String(Math.floor(random() * 1e13))
    case 2: return `${randomOf('0123456789abcdef', 8)}-${randomOf('0123456789abcdef', 4)}-4${randomOf('0123456789abcdef', 3)}-a${randomOf('0123456789abcdef', 3)}-${randomOf('0123456789abcdef', 12)}`
    case 3: return (random() * 1000).toFixed(2)
    default: return WORDS[Math.floor(random() * WORDS.length)]!
  }
}

/** Rows of eight space-separated values (about 100 bytes); `rate` of the values are sensitive. */
function rows(rate: number): string[] {
  const out: string[] = []
  let bytes = 0
  while (bytes < TARGET) {
    const values: string[] = []
    for (let k = 0; k < 8; k++) {
      if (random() < rate) values.push(SECRETS[Math.floor(random() * SECRETS.length)]!)
      else values.push(ordinaryValue())
    }
    if (rate > 0 && random() < 0.0005) values.push(RSA_KEY)
    const row = values.join(' ') + '\n'
    out.push(row)
    bytes += Buffer.byteLength(row)
  }
  return out
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

function mbps(bytes: number, fn: () => void): number {
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    fn()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    rates.push(bytes / 1e6 / seconds)
  }
  return median(rates)
}

function prose(): string[] {
  const words = ['the', 'gateway', 'forwards', 'rows', 'and', 'masks', 'what', 'policy', 'says', 'Überblick', 'naïve', 'session', 'closed', 'cleanly']
  const out: string[] = []
  let bytes = 0
  while (bytes < TARGET) {
    let line = ''
    while (line.length < 100) line += words[Math.floor(random() * words.length)]! + (random() < 0.1 ? ', ' : ' ')
    line += '\n'
    out.push(line)
    bytes += Buffer.byteLength(line)
  }
  return out
}

const detectors = [...DETECTORS]
const rules = compileMaskRules(detectors)
{
  const bytes = Buffer.from(rows(0).join(''))
  let sink = 0
  const rate = mbps(bytes.length, () => {
    for (let k = 0; k < bytes.length; k++) sink += bytes[k]!
  })
  console.log(`baseline: a bare loop reading every byte: ${rate.toFixed(0)} MB/s${sink < 0 ? '' : ''}`)
}
const datasets: Array<[string, string[], boolean]> = [
  ['(a) rows, no sensitive data', rows(0), false],
  ["(a') prose, no sensitive data", prose(), false],
  ['(b) rows, 1% sensitive values', rows(0.01), true],
]
for (const [label, lines, sensitive] of datasets) {
  const text = lines.join('')
  const bytes = Buffer.from(text)
  const size = bytes.length
  const masked = maskText(text, detectors)!
  if ((masked !== text) !== sensitive) throw new Error(`unexpected masking result for ${label}`)
  if (sensitive && /4111 1111 1111 1111|alice\.smith@|AKIAIOSFODNN7EXAMPLE/.test(masked)) throw new Error('a secret survived')

  const results: Array<[string, number]> = []
  results.push(['maskText, one 4 MB string', mbps(size, () => void maskText(text, rules))])
  results.push(['maskText, per ~100-byte value', mbps(size, () => { for (const line of lines) maskText(line, rules) })])
  results.push(['maskBytes, one 4 MB buffer', mbps(size, () => void maskBytes(bytes, rules))])
  results.push([
    'stream masker, 64 KiB chunks',
    mbps(size, () => {
      const masker = createStreamMasker({ detectors: rules })
      for (let at = 0; at < size; at += 65536) masker.push(bytes.subarray(at, at + 65536))
      masker.end()
    }),
  ])
  console.log(`${label}: ${(size / 1e6).toFixed(1)} MB, ${lines.length} rows, median of ${ROUNDS} rounds`)
  for (const [name, rate] of results) console.log(`  ${name.padEnd(34)} ${rate.toFixed(0).padStart(6)} MB/s`)
}
