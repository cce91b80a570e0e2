// The package as a user gets it: `npm pack`, then `npm install --global` of
// that tarball into an empty prefix, then the installed `gatehouse` run from
// a directory that has nothing to do with this repository.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { EXAMPLE, ROOT } from '../helpers/repo.js'

const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-package-'))
const prefix = path.join(work, 'prefix')
let files: string[] = []
let tarball = ''

// npm, run by `npm test`, passes its own settings down in npm_config_* variables; a user's install has none of them.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
}

before(() => {
  // The test command has just built dist/: pack what is there.
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = path.join(work, packed!.filename)
  files = packed!.files.map((f) => f.path)
  npm(['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work)
})

after(() => rmSync(work, { recursive: true, force: true }))

function gatehouse(args: string[], cwd = work) {
  return spawnSync(path.join(prefix, 'bin', 'gatehouse'), args, { cwd, env, encoding: 'utf8' })
}

test('the package is named for what it is and promises the Node.js versions it is tested on', () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; engines: { node: string }; bin: Record<string, string> }
  assert.equal(manifest.name, 'gatehouse-access')
  assert.deepEqual(Object.keys(manifest.bin), ['gatehouse'])
  assert.equal(manifest.engines.node, '>=20.19.0')
})

test('the tarball holds the built code, the schemas, the example and the store template, and nothing else', () => {
  const allowed = /^(package\.json|README\.md|dist\/(bin|cli|runtime|engine|compiler|gateway|store|bot)\/.+\.js|dist\/package\.json|dist\/pglite-[\d.]+-store-[0-9a-f]+\.tar\.gz|schemas\/.+\.(json|sql)|policies\.example\/.+\.ya?ml|deploy\/.+)$/
  const unexpected = files.filter((file) => !allowed.test(file))
  assert.deepEqual(unexpected, [])
  for (const required of ['dist/bin/gatehouse.js', 'dist/compiler/schema-validators.generated.js', 'schemas/store/001-audit-approvals-usage.sql', 'policies.example/gatehouse.yaml'])
    assert.ok(files.includes(required), required)
  assert.ok(files.some((file) => /^dist\/pglite-.*\.tar\.gz$/.test(file)), 'the embedded store template')
  assert.ok(!files.some((file) => file.endsWith('.ts') || file.startsWith('dist/test/') || file.startsWith('dist/bench/')))
})

test('the installed gatehouse validates and tests the example repository', () => {
  const repo = path.join(work, 'policies')
  cpSync(EXAMPLE, repo, { recursive: true })
  const validate = gatehouse(['validate', repo])
  assert.equal(validate.status, 0, validate.stderr)
  assert.match(validate.stdout + validate.stderr, /no findings/)
  const tests = gatehouse(['test', repo])
  assert.equal(tests.status, 0, tests.stdout + tests.stderr)
  const version = gatehouse(['--version'])
  assert.match(version.stdout, /^gatehouse \d+\.\d+\.\d+/)
})

test('the installed gatehouse finds its SQL parser', () => {
  const explain = gatehouse(['explain', EXAMPLE, '--identity', 'orders-reporting', '--resource', 'orders-db', '--sql', 'DELETE FROM orders', '--format', 'json'])
  assert.equal(explain.status, 0, explain.stderr)
  assert.equal((JSON.parse(explain.stdout) as { decision: { effect: string } }).decision.effect, 'deny')
})
