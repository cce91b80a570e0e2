// Hostile repositories: oversized, binary and symlinked files are refused with
// a finding, never read; Git revisions load the same files a checkout would.
import assert from 'node:assert/strict'
import { cpSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { compileRepository } from '../../compiler/compile.js'
import { LIMITS, loadDirectory, loadRepository } from '../../compiler/load.js'
import { EXAMPLE, tempRepo } from '../helpers/repo.js'

const codes = (diagnostics: Array<{ code: string; file: string }>) => diagnostics.map((d) => `${d.code} ${d.file}`)

test('oversized, binary and invalid UTF-8 files are refused, and no bundle is produced', async () => {
  const repo = tempRepo(EXAMPLE)
  try {
    repo.write('identities/huge.yaml', `# ${'x'.repeat(LIMITS.fileBytes)}\n`)
    writeFileSync(path.join(repo.dir, 'policies/binary.yaml'), Buffer.from([0x6b, 0x69, 0x6e, 0x64, 0x00, 0x01]))
    writeFileSync(path.join(repo.dir, 'policies/latin1.yaml'), Buffer.from('name: caf\xe9\n', 'latin1'))
    const loaded = await loadDirectory(repo.dir)
    assert.deepEqual(codes(loaded.diagnostics).sort(), ['load.binary policies/binary.yaml', 'load.binary policies/latin1.yaml', 'load.too_large identities/huge.yaml'])
    assert.equal(loaded.files.some((f) => f.path === 'identities/huge.yaml'), false)
    const compiled = await compileRepository(loaded)
    assert.equal(compiled.bundle, undefined)
  } finally {
    repo.cleanup()
  }
})

test('a symbolic link out of the repository is refused; one inside it is followed', async () => {
  const outside = tempRepo()
  const repo = tempRepo(EXAMPLE)
  try {
    outside.write('secret.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Identity\n')
    symlinkSync(path.join(outside.dir, 'secret.yaml'), path.join(repo.dir, 'identities/leak.yaml'))
    symlinkSync(path.join(outside.dir), path.join(repo.dir, 'policies/elsewhere'))
    symlinkSync('../identities/ci-deploy.yaml', path.join(repo.dir, 'tests/alias.yml'))
    const loaded = await loadDirectory(repo.dir)
    assert.deepEqual(codes(loaded.diagnostics).sort(), ['load.symlink_outside identities/leak.yaml', 'load.symlink_outside policies/elsewhere'])
    assert.ok(loaded.files.some((f) => f.path === 'tests/alias.yml'))
  } finally {
    repo.cleanup()
    outside.cleanup()
  }
})

test('a Git revision loads what was committed, with its commit as the revision', async () => {
  const repo = tempRepo()
  try {
    repo.write('README.md', 'monorepo\n')
    repo.git('init', '-q', '-b', 'main')
    cpSync(EXAMPLE, path.join(repo.dir, 'policy'), { recursive: true })
    repo.git('add', '-A')
    repo.git('commit', '-qm', 'policies')
    const commit = repo.git('rev-parse', 'HEAD').trim()
    repo.write('policy/identities/ci-deploy.yaml', 'not: [valid\n')
    const fromGit = await loadRepository('HEAD', path.join(repo.dir, 'policy'))
    const fromDisk = await loadDirectory(path.join(EXAMPLE))
    assert.deepEqual(fromGit.diagnostics, [])
    assert.equal(fromGit.revision?.commit, commit)
    assert.deepEqual(fromGit.files.map((f) => f.path), fromDisk.files.map((f) => f.path))
    assert.deepEqual(fromGit.files.map((f) => f.text), fromDisk.files.map((f) => f.text))
    const dirty = await loadDirectory(path.join(repo.dir, 'policy'))
    assert.equal(dirty.revision?.dirty, true)
    const missing = await loadRepository('no-such-branch', path.join(repo.dir, 'policy'))
    assert.deepEqual(codes(missing.diagnostics), ['load.not_found .'])
  } finally {
    repo.cleanup()
  }
})
