// Each folder of test/cases/compiler is a small policy repository and the
// findings it must produce (code, severity and position; wording is free).
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { compileRepository } from '../../compiler/compile.js'
import { loadDirectory } from '../../compiler/load.js'

const root = path.join(import.meta.dirname, '..', 'cases', 'compiler')
const NOW = new Date('2026-12-01T12:00:00Z')

interface Expected {
  bundle: boolean
  diagnostics: Array<{ code: string; severity?: string; file: string; line: number; col: number; help?: boolean }>
}

for (const name of readdirSync(root).sort()) {
  test(`compiler case ${name}`, async () => {
    const dir = path.join(root, name)
    const expected = parse(readFileSync(path.join(dir, 'expected.yaml'), 'utf8')) as Expected
    const result = await compileRepository(await loadDirectory(dir), { now: NOW })
    const actual = result.diagnostics.map((d) => ({ code: d.code, severity: d.severity, file: d.file, line: d.line, col: d.col, help: d.help !== undefined }))
    const want = expected.diagnostics.map((d) => ({ severity: 'error', help: false, ...d }))
    assert.deepEqual(actual, want, result.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.code}: ${d.message}`).join('\n'))
    assert.equal(result.bundle !== undefined, expected.bundle)
  })
}
