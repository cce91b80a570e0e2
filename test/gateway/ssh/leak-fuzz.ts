// A seeded leak fuzzer for SSH output: the host prints texts full of unique
// sensitive values (alone, side by side, and overlapping: a card number in an
// email's domain, a token as a JWT's last segment, an AWS key as an email's
// local part), on stdout and stderr, in writes of random sizes down to one
// byte, through the real sshd and the gateway to a real ssh client. Any part
// of a value that its mask must hide reaching the client fails the run.
//
// `npm test` runs it with a fixed seed (test/gateway/ssh/leak-fuzz.test.ts).
// By hand, longer or with another seed (starts its own PostgreSQL and sshd):
//
//   node --import tsx test/gateway/ssh/leak-fuzz.ts --seed 7 --count 400
import assert from 'node:assert/strict'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { SSH_DEFAULTS } from '../../../gateway/ssh/settings.js'
import type { Detector } from '../../../engine/types.js'
import { prng, withLuhn } from '../../engine/masks/fixtures.js'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

/** Every built-in detector, with the strategies that show the most (`partial`), so overlaps are tested where they leak. */
const MASKS: Record<Detector, string> = {
  'credit-card': 'partial',
  email: 'partial',
  'aws-access-key': 'hash',
  'github-token': 'partial',
  'gatehouse-token': 'redact',
  'private-key': 'redact',
  jwt: 'partial',
  iban: 'partial',
  'us-ssn': 'partial',
}

/** A value and the parts of it that must never reach the client (what its partial form does not show). */
interface Secret {
  text: string
  hidden: string[]
}

type Random = () => number

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

function chars(random: Random, alphabet: string, length: number): string {
  let out = ''
  for (let k = 0; k < length; k++) out += alphabet[Math.floor(random() * alphabet.length)]
  return out
}

const DIGITS = '0123456789'
const LOWER = 'abcdefghijklmnopqrstuvwxyz'
const ALNUM = LOWER + LOWER.toUpperCase() + DIGITS
const B64URL = ALNUM + '-_'

/** Generators of unique values, one per detector; each says what of it must stay hidden. */
const VALUES: Record<Detector, (random: Random) => Secret> = {
  'credit-card': (r) => {
    const card = withLuhn('4' + chars(r, DIGITS, 14))
    return { text: card, hidden: [card.slice(0, 12)] }
  },
  email: (r) => {
    const local = chars(r, LOWER, 10)
    return { text: `${local}@${chars(r, LOWER, 6)}.example.com`, hidden: [local] }
  },
  'aws-access-key': (r) => {
    const key = 'AKIA' + chars(r, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)
    return { text: key, hidden: [key.slice(4)] }
  },
  'github-token': (r) => {
    const body = chars(r, ALNUM, 36)
    return { text: `ghp_${body}`, hidden: [body.slice(0, 30)] }
  },
  'gatehouse-token': (r) => {
    const body = chars(r, ALNUM, 43)
    return { text: `gth_${body}`, hidden: [body] }
  },
  'private-key': (r) => {
    const lines = Array.from({ length: 6 }, () => chars(r, ALNUM + '+/', 64))
    return { text: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----`, hidden: lines }
  },
  jwt: (r) => {
    const payload = 'eyJ' + chars(r, ALNUM, 30)
    return { text: `eyJhbGciOiJIUzI1NiJ9.${payload}.${chars(r, B64URL, 43)}`, hidden: [payload] }
  },
  iban: (r) => {
    const bban = chars(r, DIGITS, 18)
    // ISO 13616 check digits for DE: the BBAN, then D=13 E=14 and 00, mod 97.
    let rest = 0
    for (const ch of bban + '131400') rest = (rest * 10 + Number(ch)) % 97
    const iban = `DE${String(98 - rest).padStart(2, '0')}${bban}`
    return { text: iban, hidden: [iban.slice(2, 16)] }
  },
  'us-ssn': (r) => {
    const area = String(100 + Math.floor(r() * 565)).padStart(3, '0')
    const ssn = `${area}-${String(10 + Math.floor(r() * 89))}-${String(1000 + Math.floor(r() * 8999))}`
    return { text: ssn, hidden: [ssn.slice(0, 6)] }
  },
}

const DETECTOR_NAMES = Object.keys(VALUES) as Detector[]

/** Values that overlap, built from fresh ones: the union must hide every part of each. */
const OVERLAPS: ReadonlyArray<(r: Random) => Secret[]> = [
  (r) => {
    const card = VALUES['credit-card'](r)
    const local = chars(r, LOWER, 8)
    return [{ text: `${local}@${card.text}.example.com`, hidden: [local, ...card.hidden] }]
  },
  (r) => {
    const aws = VALUES['aws-access-key'](r)
    return [{ text: `${aws.text}@example.com`, hidden: aws.hidden }]
  },
  (r) => {
    const token = VALUES[pick(r, ['github-token', 'gatehouse-token', 'aws-access-key', 'credit-card'] as const)](r)
    const payload = 'eyJ' + chars(r, ALNUM, 20) + 'Q'
    return [{ text: `eyJhbGciOiJIUzI1NiJ9.${payload}.${token.text}`, hidden: [payload, ...token.hidden] }]
  },
  (r) => {
    const inner = VALUES[pick(r, ['credit-card', 'us-ssn', 'aws-access-key'] as const)](r)
    const pad = chars(r, LOWER, 42 - inner.text.length)
    return [{ text: `gth_${pad}-${inner.text}`, hidden: [pad, ...inner.hidden] }]
  },
  (r) => {
    const ssn = VALUES['us-ssn'](r)
    const iban = VALUES.iban(r)
    return [{ text: `${ssn.text}.${iban.text}@example.com`, hidden: [...ssn.hidden, ...iban.hidden] }]
  },
]

const FILLER = ['lorem ipsum ', 'status: ok\n', '\t', ' | ', 'naïve café ', '日本語 ', '{"k":"', '"}', ', ', '; ', '\r\n', '0.5 ', '2026-12-06 ', 'id=42 ']

/** One text the host prints, with the values in it and a plain word that must arrive (so a run that printed nothing fails). */
interface Payload {
  text: string
  secrets: Secret[]
  canary: string
}

function payload(random: Random, n: number): Payload {
  const secrets: Secret[] = []
  const canary = `canary-${n}-${chars(random, LOWER, 6)}`
  let text = `${canary} `
  const items = 4 + Math.floor(random() * 10)
  for (let k = 0; k < items; k++) {
    text += pick(random, FILLER)
    const found = random() < 0.35 ? pick(random, OVERLAPS)(random) : [VALUES[pick(random, DETECTOR_NAMES)](random)]
    for (const s of found) {
      secrets.push(s)
      text += s.text
    }
    text += pick(random, [' ', '\n', ', ', '"', ')', '\t'])
  }
  return { text: text + '\n', secrets, canary }
}

/** How the host writes a file: at once, or in writes of a random size (down to a byte), on stdout or stderr. */
function printCommand(random: Random, file: string): string {
  const stream = random() < 0.3 ? ' >&2' : ''
  const way = random()
  if (way < 0.25) return `cat ${file}${stream}`
  const size = way < 0.5 ? 1 + Math.floor(random() * 4) : 1 + Math.floor(random() * 200)
  return `dd if=${file} bs=${size} status=none${stream}`
}

/** The policies of the test repository with every detector masked. */
export async function maskEverything(gw: SshGateway): Promise<void> {
  const before = gw.gateway.context.state.current?.revision
  await gw.recompile((repo) => {
    const file = path.join(repo, 'policies', 'deploy.yaml')
    const masks = Object.entries(MASKS).map(([detector, strategy]) => `  - {detector: ${detector}, strategy: ${strategy}}`)
    const text = (readFileSync(file, 'utf8').split('\nmasks:\n')[0] ?? '') + `\nmasks:\n${masks.join('\n')}\n`
    writeFileSync(file, text)
  })
  await eventually(async () => gw.gateway.context.state.current?.revision, (revision) => revision !== before)
  const masks = gw.gateway.context.state.current?.bundle.policies
  assert.ok(JSON.stringify(masks).includes('us-ssn'), 'the bundle masking every detector is in force')
}

export interface FuzzResult {
  payloads: number
  secrets: number
}

/** Prints `count` payloads (in runs of ten) through the gateway and checks what the client received. */
export async function fuzzSshOutput(gw: SshGateway, seed: number, count: number): Promise<FuzzResult> {
  const random = prng(seed)
  let secrets = 0
  for (let done = 0; done < count; ) {
    const batch = Array.from({ length: Math.min(10, count - done) }, (_, k) => payload(random, done + k))
    const lines: string[] = []
    batch.forEach((p, k) => {
      const file = path.join(gw.scripts, `leak-${seed}-${done + k}.txt`)
      writeFileSync(file, p.text)
      chmodSync(file, 0o644)
      lines.push(printCommand(random, file))
    })
    const script = gw.writeScript(`leak-${seed}-${done}.sh`, lines.join('\n') + '\n')
    const run = await gw.ssh('deployer', 'web-1', `bash ${script}`)
    const received = run.stdout.toString('latin1') + run.stderr
    assert.equal(run.status, 0, `seed ${seed}, payloads from ${done}: ${run.stderr.slice(0, 500)}`)
    for (const p of batch) {
      assert.ok(received.includes(p.canary), `seed ${seed}: ${p.canary} did not arrive`)
      for (const s of p.secrets) {
        for (const hidden of s.hidden) {
          assert.ok(!received.includes(hidden), `seed ${seed}: \`${hidden}\` of \`${s.text}\` reached the client\n--- printed:\n${p.text}`)
        }
      }
      secrets += p.secrets.length
    }
    done += batch.length
  }
  return { payloads: count, secrets }
}

/** The gateway settings the fuzzer runs with: a hold long enough that a busy machine never releases half a value. */
export const FUZZ_SSH_SETTINGS = { ...SSH_DEFAULTS, maskHoldMs: 10_000 }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' }, count: { type: 'string', default: '200' } } })
  const seed = Number(values.seed)
  const count = Number(values.count)
  const { startPostgres } = await import('../../services/postgres.js')
  const { startSshd } = await import('../../services/sshd.js')
  const { postgresEnv, sshdEnv } = await import('../../services/env.js')
  const [postgres, sshd] = await Promise.all([startPostgres(), startSshd()])
  Object.assign(process.env, postgresEnv(postgres), sshdEnv(sshd))
  const gw = await startSshGateway({ config: { ssh: FUZZ_SSH_SETTINGS } })
  try {
    await maskEverything(gw)
    const result = await fuzzSshOutput(gw, seed, count)
    console.log(`seed ${seed}: ${result.payloads} payloads, ${result.secrets} values, none reached the client`)
  } finally {
    await gw.stop()
    await postgres.stop()
    await sshd.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
