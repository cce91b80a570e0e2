// Mangled policy files must give findings, never an exception or a hang:
// every file of the example repository is cut, spliced and corrupted with a
// seeded generator and compiled again.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileRepository } from '../../compiler/compile.js'
import { loadDirectory, type SourceFile } from '../../compiler/load.js'
import { prng } from '../helpers/prng.js'
import { EXAMPLE } from '../helpers/repo.js'

const FRAGMENTS = ['\n', ':', '- ', '[', ']', '{', '}', '&a ', '*a', '!!binary ', '"', "'", '|', '>', '---\n', '\t', '\\', '#', 'kind: Policy\n', 'when: ', '${', '\u0000', '\uFFFF', 'ß', '🔑', '   ']

function mutate(text: string, random: () => number): string {
  let out = text
  const edits = 1 + Math.floor(random() * 4)
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (out.length + 1))
    const choice = random()
    if (choice < 0.3) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 20))
    else if (choice < 0.7) out = out.slice(0, at) + FRAGMENTS[Math.floor(random() * FRAGMENTS.length)] + out.slice(at)
    else out = out.slice(0, at)
  }
  return out
}

test('mutated repositories compile to findings, never to an exception', { timeout: 120_000 }, async () => {
  const base = await loadDirectory(EXAMPLE)
  const random = prng(20261129)
  let withFindings = 0
  for (let round = 0; round < 400; round++) {
    const victim = Math.floor(random() * base.files.length)
    const files: SourceFile[] = base.files.map((f, i) => (i === victim ? { path: f.path, text: mutate(f.text, random) } : f))
    const result = await compileRepository({ files, diagnostics: [] })
    for (const d of result.diagnostics) {
      assert.ok(d.line >= 1 && d.col >= 1, `${d.code} has a position: ${JSON.stringify(d)} in ${JSON.stringify(files[victim]!.text)}`)
      assert.ok(d.message.length > 0)
    }
    if (result.diagnostics.some((d) => d.severity === 'error')) {
      withFindings++
      assert.equal(result.bundle, undefined, 'no partial bundle')
    }
  }
  assert.ok(withFindings > 100, `most mutations are findings (${withFindings})`)
})
