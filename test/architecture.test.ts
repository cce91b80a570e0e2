// Imports point one way: schemas ← engine ← compiler; engine and store ←
// gateway; compiler and store ← bot; `runtime` (logs and metrics of the
// long-running processes) is shared by the gateway and the bot. The gateway never imports the bot or the
// compiler, the bot never imports the gateway, and the engine and the store
// import neither. This test reads every import and fails on a backwards arrow.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { ROOT } from './helpers/repo.js'

const AREAS = ['cli', 'runtime', 'engine', 'compiler', 'store', 'gateway', 'bot', 'bin', 'bench'] as const
type Area = (typeof AREAS)[number] | 'schemas' | 'test'

// `cli` is the command contract every area's commands implement; it imports nothing.
const ALLOWED: Record<(typeof AREAS)[number], readonly Area[]> = {
  cli: [],
  runtime: [],
  engine: ['schemas'],
  compiler: ['engine', 'schemas', 'cli'],
  store: ['engine', 'schemas'],
  gateway: ['engine', 'store', 'schemas', 'cli', 'runtime'],
  bot: ['compiler', 'engine', 'store', 'schemas', 'cli', 'runtime'],
  bin: ['cli', 'compiler', 'gateway', 'bot', 'engine', 'store', 'schemas', 'runtime'],
  // Benchmarks start their servers with the test command's provisioning.
  bench: ['compiler', 'engine', 'store', 'schemas', 'test'],
}

function sources(dir: string): string[] {
  const full = path.join(ROOT, dir)
  if (!statSync(full, { throwIfNoEntry: false })?.isDirectory()) return []
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(full, f))
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

test('imports only point the way data flows', () => {
  const violations: string[] = []
  let checked = 0
  for (const area of AREAS) {
    for (const file of sources(area)) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(IMPORT)) {
        const specifier = match[1] ?? match[2]!
        if (!specifier.startsWith('.')) continue
        checked++
        const target = path.relative(ROOT, path.resolve(path.dirname(file), specifier)).split(path.sep)[0] as Area
        if (target === area || target === 'package.json' as Area) continue
        if (!ALLOWED[area].includes(target)) violations.push(`${path.relative(ROOT, file)} imports ${specifier} (${area} → ${target})`)
      }
    }
  }
  assert.ok(checked > 50, 'the scan found the imports')
  assert.deepEqual(violations, [])
})
