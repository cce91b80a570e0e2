// Shared by the SSH classifier tests: a seeded PRNG, the real shells, and a
// minimal bundle so corpus cases are decided by the same engine the gateway runs.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createEngine, type Engine } from '../../../engine/engine.js'
import type { Bundle, BundleRule } from '../../../engine/types.js'

/** mulberry32: small, fast, good enough to spread inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

// Command generator for the differential and fuzz tests.
const PLAIN = [
  'a', 'b', 'z', 'Q', '0', '9', '-', '_', '.', '/', ':', '=', '@', '%', '+', ',', ']', '}', '{', '!', '^', 'é', '€', '😀', '；',
  '\u00a0', '\u200b', '\v', '\f', '\x01', '\x7f', '#', '~', 'if', '--x=y',
]
const ANY = [...PLAIN, ' ', '\t', '\n', '\r', '"', "'", '\\', '$', '`', '*', '?', '[', ';', '&', '|', '<', '>', '(', ')', '{a,b}', '..']
const DOUBLE_SAFE = [...PLAIN, ' ', '\t', '\n', '\r', "'", '*', '?', '[', ';', '&', '|', '<', '>', '(', ')', '\\\\', '\\"', '\\$', '\\`', '\\a', '\\\n', '\\n']

function fragment(random: () => number, syntaxRate: number): string {
  const r = random()
  if (r < 0.3) return pick(random, PLAIN)
  if (r < 0.45) {
    // single quotes: anything but a single quote
    let s = ''
    for (let n = Math.floor(random() * 5); n > 0; n--) s += pick(random, ANY).replaceAll("'", '')
    return `'${s}'`
  }
  if (r < 0.6) {
    let s = ''
    for (let n = Math.floor(random() * 5); n > 0; n--) s += pick(random, DOUBLE_SAFE)
    if (random() < syntaxRate) s += pick(random, ['$x', '`id`', '$(id)', '$'])
    return `"${s}"`
  }
  if (r < 0.75) return `\\${pick(random, ANY).slice(0, 2)}`
  if (r < 0.8) return '\\\n'
  if (random() < syntaxRate) return pick(random, ANY)
  return pick(random, PLAIN)
}

/** A random command line: words of plain text, quoted runs, escapes and continuations; shell syntax at `syntaxRate`. */
export function generateCommand(random: () => number, syntaxRate = 0.05): string {
  const words: string[] = []
  for (let w = 1 + Math.floor(random() * 5); w > 0; w--) {
    let word = ''
    for (let f = 1 + Math.floor(random() * 4); f > 0; f--) word += fragment(random, syntaxRate)
    words.push(word)
  }
  let command = ''
  for (const word of words) command += (command ? pick(random, [' ', '  ', '\t', ' \\\n ']) : pick(random, ['', ' '])) + word
  return command
}

export const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s))

/** What the shell prints for `printf '%s\0' <text>`: the words it made of `text`, or undefined when it failed. */
export function shellSplit(shell: string, text: string): string[] | undefined {
  const run = spawnSync(shell, ['-c', `printf '%s\\0' ${text}`], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, timeout: 10_000 })
  if (run.status !== 0) return undefined
  const out = run.stdout
  return out.endsWith('\0') ? out.slice(0, -1).split('\0') : undefined
}

/**
 * The argv bash builds for `text` in command position: with no PATH, every
 * non-builtin command lands in command_not_found_handle, which prints it.
 */
export function bashCommandArgv(text: string): string[] | undefined {
  const script = `command_not_found_handle() { printf '%s\\0' "$@"; }\n${text}`
  const run = spawnSync('/bin/bash', ['-c', script], { encoding: 'utf8', env: { PATH: '/nonexistent', LC_ALL: 'C.UTF-8' }, timeout: 10_000 })
  if (run.status !== 0) return undefined
  const out = run.stdout
  return out.endsWith('\0') ? out.slice(0, -1).split('\0') : undefined
}

/** Whether the shell refuses to parse `text` at all (`sh -n`). */
export function shellRejects(shell: string, text: string): boolean {
  const run = spawnSync(shell, ['-n', '-c', text], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, timeout: 10_000 })
  return run.status !== 0
}

/** An engine with one SSH resource `host`, one identity `bot`, and the given rules (each in its own policy). */
export function engineWithRules(rules: Array<Partial<BundleRule> & { name: string }>): Engine {
  const bundleRules: BundleRule[] = rules.map((r) => ({
    id: `p-${r.name}/${r.name}`,
    policy: `p-${r.name}`,
    effect: 'allow',
    mode: 'enforce',
    kind: 'ssh',
    source: 'test',
    ...r,
  }))
  const bundle: Bundle = {
    manifest: { format: 'gatehouse.bundle/v1', revision: 'test', sequence: 1, compiler: 'test', digest: 'sha256:0' },
    settings: {
      organisation: 'test',
      approvers: [],
      approvals: { required: 1, highRisk: 2, ownerMayApprove: false },
      stale: { inactiveDays: 90, expiryWarningDays: 14 },
      requireExpiry: false,
    },
    identities: {
      bot: { name: 'bot', description: '', owner: 'test', roles: [], labels: {}, credentials: { sshKeys: [] }, source: 'test' },
    },
    resources: {
      host: { name: 'host', type: 'ssh', description: '', owner: 'test', labels: {}, audit: { mode: 'sync' }, source: 'test' },
    },
    policies: bundleRules.map((r, i) => ({
      name: r.policy,
      description: '',
      mode: 'enforce',
      subjects: { roles: [], identities: ['bot'] },
      resources: ['host'],
      rules: [i],
      masks: [],
      source: 'test',
    })),
    rules: bundleRules,
    index: { identities: { bot: bundleRules.map((_, i) => i) }, resources: { host: bundleRules.map((_, i) => i) } },
  }
  const built = createEngine(bundle)
  if (!built.ok) throw new Error(`test bundle does not compile: ${built.errors.join('; ')}`)
  return built.engine
}
