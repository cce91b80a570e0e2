// The schema validators are generated code, committed: this fails when a
// schema in schemas/ changed and `npm run generate` was not run, so the code
// that validates can never drift from the documented contract.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { generate, TARGETS } from '../../build/generate-validators.js'
import { ROOT } from '../helpers/repo.js'

for (const target of TARGETS) {
  test(`${target.file} is generated from the current schemas`, () => {
    assert.ok(readFileSync(path.join(ROOT, target.file), 'utf8') === generate(target), `${target.file} is stale: run \`npm run generate\``)
  })
}
