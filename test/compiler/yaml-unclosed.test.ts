// Unclosed brackets and quotes are reported where they open. Properties over
// every YAML file of the project: a valid file has nothing left open; with
// one closing `]`, `}` or quote removed (seeded, `--seed`/`--count` through
// GATEHOUSE_FUZZ_SEED / GATEHOUSE_FUZZ_COUNT), parsing never throws, and a
// finding that says something is not closed points at an opening character.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { parseFile } from '../../compiler/parse.js'
import { findUnclosed } from '../../compiler/yaml-unclosed.js'
import { prng } from '../helpers/prng.js'
import { EXAMPLE, ROOT } from '../helpers/repo.js'

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(dir, f))
}

const validFiles = [...yamlFiles(EXAMPLE), ...yamlFiles(path.join(ROOT, 'test', 'cases', 'gateway-repo'))]
  .map((file) => ({ path: path.relative(ROOT, file), text: readFileSync(file, 'utf8') }))
  .filter((f) => parseFile(f).diagnostics.length === 0)

test('a valid file has nothing left open', () => {
  assert.ok(validFiles.length > 10)
  for (const file of validFiles) assert.equal(findUnclosed(file.text, file.text.length), undefined, file.path)
})

test('examples: brackets and quotes are found where they open', () => {
  assert.deepEqual(findUnclosed('roles: [a, b\nnext: 1\n', 14), { offset: 7, char: '[' })
  assert.deepEqual(findUnclosed('a: {b: "x\nc: d\n', 12), { offset: 7, char: '"' })
  // Inside plain scalars, comments and block scalars, these characters open nothing.
  assert.equal(findUnclosed("a: it's [fine\nb: c # [no\nd: |\n  [x\n  'y\ne: f\n", 44), undefined)
})

test('removing one closing character: never a throw, and "not closed" points at an opener', () => {
  const seed = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 20261206)
  const count = Number(process.env.GATEHOUSE_FUZZ_COUNT ?? 400)
  const random = prng(seed)
  let pointed = 0
  for (let round = 0; round < count; round++) {
    const file = validFiles[Math.floor(random() * validFiles.length)]!
    const closers = [...file.text.matchAll(/[\]}"']/g)].map((m) => m.index!)
    if (closers.length === 0) continue
    const at = closers[Math.floor(random() * closers.length)]!
    const text = file.text.slice(0, at) + file.text.slice(at + 1)
    const lines = text.split('\n')
    for (const d of parseFile({ path: file.path, text }).diagnostics) {
      if (!/is not closed/.test(d.message)) continue
      pointed++
      const char = lines[d.line - 1]![d.col - 1]
      assert.ok(char !== undefined && '[{"\''.includes(char), `seed ${seed} round ${round}: ${file.path}:${d.line}:${d.col} is \`${char}\``)
    }
  }
  assert.ok(pointed > 0, 'some removals leave something open across lines')
})
