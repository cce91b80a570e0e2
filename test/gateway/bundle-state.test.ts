// Swapping bundles: verified, never older than the one in force, signed when
// a key is configured, persisted when good.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { compileRepository } from '../../compiler/compile.js'
import { loadDirectory } from '../../compiler/load.js'
import { bundleDigest, canonicalJson, signBundle } from '../../engine/bundle-integrity.js'
import type { Bundle } from '../../engine/types.js'
import { BundleState } from '../../gateway/bundle/state.js'
import { silentLogger } from '../../runtime/log.js'
import { EXAMPLE } from '../helpers/repo.js'

async function exampleBundle(): Promise<Bundle> {
  const compiled = await compileRepository(await loadDirectory(EXAMPLE))
  return compiled.bundle!
}

function reseal(bundle: Bundle, change: (b: Bundle) => void): Bundle {
  const copy = structuredClone(bundle)
  delete copy.signature
  change(copy)
  copy.manifest.digest = bundleDigest(copy)
  return copy
}

test('a newer bundle replaces the one in force; an older one is refused as a rollback', async () => {
  const base = await exampleBundle()
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-state-'))
  try {
    const state = new BundleState({ log: silentLogger, persistDir: dir })
    const changes: string[] = []
    state.onChange((next) => changes.push(next.revision))
    const newer = reseal(base, (b) => ((b.manifest.sequence = 200), (b.manifest.revision = 'r200')))
    const older = reseal(base, (b) => ((b.manifest.sequence = 100), (b.manifest.revision = 'r100')))
    assert.equal(await state.offer(canonicalJson(newer), 'test'), 'loaded')
    assert.equal(await state.offer(canonicalJson(newer), 'test'), 'unchanged')
    assert.equal(await state.offer(canonicalJson(older), 'test'), 'rejected')
    assert.equal(state.lastRejection?.code, 'bundle.rollback')
    assert.equal(state.current?.revision, 'r200')
    assert.deepEqual(changes, ['r200'])
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'last-good-bundle.json'), 'utf8')).manifest.revision, 'r200')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('with a public key, unsigned, wrongly signed and altered bundles are refused', async () => {
  const base = await exampleBundle()
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519')
  const state = new BundleState({ log: silentLogger, publicKey })
  assert.equal(await state.offer(canonicalJson(base), 'unsigned'), 'rejected')
  assert.equal(state.lastRejection?.code, 'bundle.unsigned')
  assert.equal(await state.offer(canonicalJson(signBundle(base, other.privateKey)), 'other key'), 'rejected')
  assert.equal(state.lastRejection?.code, 'bundle.bad_signature')
  const altered = structuredClone(signBundle(base, privateKey))
  altered.identities['ci-deploy']!.roles.push('admin')
  assert.equal(await state.offer(canonicalJson(altered), 'altered'), 'rejected')
  assert.equal(state.lastRejection?.code, 'bundle.digest_mismatch')
  assert.equal(state.current, undefined, 'still nothing in force: everything is denied')
  assert.equal(await state.offer(canonicalJson(signBundle(base, privateKey)), 'signed'), 'loaded')
})

test('a bundle no newer than the one in force is refused unless rollbacks are allowed; every refusal reaches the listeners', async () => {
  const base = await exampleBundle()
  const a = reseal(base, (b) => ((b.manifest.sequence = 300), (b.manifest.revision = 'a')))
  const sameSequence = reseal(base, (b) => ((b.manifest.sequence = 300), (b.manifest.revision = 'b'), (b.settings = { ...b.settings })))
  const differentContent = reseal(sameSequence, (b) => (b.manifest.revision = 'b2'))
  const older = reseal(base, (b) => ((b.manifest.sequence = 299), (b.manifest.revision = 'older')))
  const strict = new BundleState({ log: silentLogger })
  const refused: string[] = []
  strict.onReject((r) => refused.push(r.code))
  assert.equal(await strict.offer(canonicalJson(a), 'test'), 'loaded')
  assert.equal(await strict.offer(canonicalJson(differentContent), 'test'), 'rejected')
  assert.equal(strict.lastRejection?.code, 'bundle.not_newer')
  assert.equal(await strict.offer(canonicalJson(older), 'test'), 'rejected')
  assert.equal(await strict.offer('not a bundle', 'test'), 'rejected')
  assert.deepEqual(refused.slice(0, 2), ['bundle.not_newer', 'bundle.rollback'])
  assert.equal(refused.length, 3)
  assert.equal(strict.current?.revision, 'a')
  const lenient = new BundleState({ log: silentLogger, allowRollback: true })
  assert.equal(await lenient.offer(canonicalJson(a), 'test'), 'loaded')
  assert.equal(await lenient.offer(canonicalJson(older), 'test'), 'loaded')
  assert.equal(lenient.current?.revision, 'older')
})
