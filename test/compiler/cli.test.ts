// The command line as a user meets it: exit codes, formats, and the promises
// each command makes (byte-identical bundles, tokens shown once, signatures).
import assert from 'node:assert/strict'
import { createHash, createHmac, createPublicKey, pbkdf2Sync } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { checkIntegrity } from '../../engine/bundle-integrity.js'
import type { Bundle } from '../../engine/types.js'
import { gatehouse } from '../helpers/cli.js'
import { EXAMPLE, ROOT, tempRepo } from '../helpers/repo.js'

const CASES = path.join(ROOT, 'test', 'cases')

test('--version, --help and every subcommand\'s --help', () => {
  assert.match(gatehouse(['--version']).stdout, /^gatehouse \d+\.\d+\.\d+/)
  const help = gatehouse(['--help'])
  assert.equal(help.status, 0)
  for (const command of ['validate', 'compile', 'test', 'explain', 'diff', 'identity', 'keygen']) {
    assert.match(help.stdout, new RegExp(`\\n  ${command} `))
    const own = gatehouse([command, '--help'])
    assert.equal(own.status, 0, command)
    assert.match(own.stdout, new RegExp(`^usage: gatehouse ${command}`))
  }
})

test('usage errors exit 2 without a stack trace', () => {
  for (const args of [['frobnicate'], ['compile', EXAMPLE], ['validate', '--format', 'xml'], ['diff', 'only-one'], ['explain', EXAMPLE], ['validate', '--no-such-flag']]) {
    const result = gatehouse(args)
    assert.equal(result.status, 2, args.join(' '))
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
  }
})

test('validate: clean example exits 0; findings exit 1 with file:line:col, code, caret and help', () => {
  assert.equal(gatehouse(['validate', EXAMPLE]).status, 0)
  const broken = gatehouse(['validate', path.join(CASES, 'compiler', 'unknown-refs')])
  assert.equal(broken.status, 1)
  assert.match(broken.stderr, /^policies\/deploy\.yaml:6:16: error\[ref\.unknown_identity\]: unknown identity `ci-deployer`$/m)
  assert.match(broken.stderr, /^6 \|   identities: \[ci-deployer\]$/m)
  assert.match(broken.stderr, /^  \|\s{16}\^{11}$/m)
  assert.match(broken.stderr, /^help: did you mean `ci-deploy`\?$/m)
  const json = JSON.parse(gatehouse(['validate', path.join(CASES, 'compiler', 'unknown-refs'), '--format', 'json']).stdout) as { diagnostics: Array<{ code: string }> }
  assert.deepEqual(json.diagnostics.map((d) => d.code), ['lint.unused_role', 'ref.unknown_role', 'ref.unknown_identity', 'ref.unknown_resource'])
  const github = gatehouse(['validate', path.join(CASES, 'compiler', 'unknown-refs'), '--format', 'github']).stdout
  assert.match(github, /^::error file=.*unknown-refs\/policies\/deploy\.yaml,line=6,col=16,endLine=6,endColumn=27,title=ref\.unknown_identity::unknown identity `ci-deployer`%0Ahelp: did you mean `ci-deploy`\?$/m)
})

test('compile: byte-identical output, signed bundles verify, and errors write nothing', () => {
  const out = tempRepo()
  try {
    const a = path.join(out.dir, 'a.json')
    const b = path.join(out.dir, 'b.json')
    assert.equal(gatehouse(['compile', EXAMPLE, '-o', a]).status, 0)
    assert.equal(gatehouse(['compile', EXAMPLE, '-o', b]).status, 0)
    assert.deepEqual(readFileSync(a), readFileSync(b))

    const key = path.join(out.dir, 'signing')
    assert.equal(gatehouse(['keygen', '-o', key]).status, 0)
    assert.equal(statSync(key).mode & 0o777, 0o600)
    assert.equal(gatehouse(['keygen', '-o', key]).status, 2, 'never overwrites a key')
    const signed = path.join(out.dir, 'signed.json')
    assert.equal(gatehouse(['compile', EXAMPLE, '-o', signed, '--sign', key]).status, 0)
    const bundle = JSON.parse(readFileSync(signed, 'utf8')) as Bundle
    const publicKey = createPublicKey(readFileSync(`${key}.pub`))
    assert.equal(checkIntegrity(bundle, publicKey), undefined)
    const tampered = structuredClone(bundle)
    tampered.identities['ci-deploy']!.roles.push('admin')
    assert.equal(checkIntegrity(tampered, publicKey)?.code, 'bundle.digest_mismatch')

    const failed = path.join(out.dir, 'failed.json')
    assert.equal(gatehouse(['compile', path.join(CASES, 'compiler', 'schema-errors'), '-o', failed]).status, 1)
    assert.equal(existsSync(failed), false)
  } finally {
    out.cleanup()
  }
})

test('identity new: the token goes to stderr once, the YAML holds only verifiers that match it', () => {
  const result = gatehouse(['identity', 'new', 'nightly-export', '--owner', '@acme/data', '--expires', '2027-01-01', '--role', 'analyst'])
  assert.equal(result.status, 0)
  const token = /gth_[A-Za-z0-9_-]{43}/.exec(result.stderr)?.[0]
  assert.ok(token)
  assert.doesNotMatch(result.stdout, /gth_/)
  const doc = parse(result.stdout) as { name: string; credentials: { token: { scram: string; sha256: string } } }
  assert.equal(doc.name, 'nightly-export')
  assert.equal(doc.credentials.token.sha256, createHash('sha256').update(token).digest('hex'))
  const [, iterations, salt, storedKey] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):/.exec(doc.credentials.token.scram)!
  const salted = pbkdf2Sync(token, Buffer.from(salt!, 'base64'), Number(iterations), 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  assert.equal(createHash('sha256').update(clientKey).digest('base64'), storedKey)

  const repo = tempRepo(EXAMPLE)
  try {
    repo.write('identities/nightly-export.yaml', result.stdout.replace(/description: .*/, 'description: Nightly export'))
    repo.write('policies/export.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Policy\nname: export\nsubjects: {roles: [analyst]}\nresources: {names: [analytics-db]}\nrules:\n  - {name: read, effect: allow, actions: [select]}\n')
    repo.write('tests/export.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Test\nname: export\ncases:\n  - {name: reads, identity: nightly-export, resource: analytics-db, sql: SELECT 1, expect: {effect: allow, rule: export/read}}\n')
    const validated = gatehouse(['validate', repo.dir])
    assert.equal(validated.status, 0, validated.stderr)
  } finally {
    repo.cleanup()
  }
})

test('test: failures and low coverage exit 1; json and github formats', () => {
  const decisions = path.join(CASES, 'decisions')
  assert.equal(gatehouse(['test', decisions]).status, 0)
  const low = gatehouse(['test', decisions, '--coverage-min', '100'])
  assert.equal(low.status, 1)
  assert.match(low.stdout, /precedence\/gold-inserts-only \(policies\/a-precedence\.yaml:19\)/)
  const json = JSON.parse(gatehouse(['test', decisions, '--format', 'json']).stdout) as { failed: number; untested: unknown[]; cases: unknown[] }
  assert.equal(json.failed, 0)
  assert.equal(json.untested.length, 1)
  assert.ok(json.cases.length >= 20)

  const repo = tempRepo(EXAMPLE)
  try {
    const tests = readFileSync(path.join(EXAMPLE, 'tests', 'hosts.yaml'), 'utf8').replace('expect: {effect: deny, rule: null}', 'expect: {effect: allow, rule: null}')
    repo.write('tests/hosts.yaml', tests)
    const failing = gatehouse(['test', repo.dir])
    assert.equal(failing.status, 1)
    assert.match(failing.stdout, /^FAIL hosts › shell syntax cannot ride on an allowed command \(tests\/hosts\.yaml:\d+:\d+\)$/m)
    assert.match(failing.stdout, /effect: expected allow, got deny/)
    assert.match(failing.stdout, /trace:\n\s+skipped\s+web-ops\/inspect-service/)
    assert.match(gatehouse(['test', repo.dir, '--format', 'github']).stdout, /^::error file=.*tests\/hosts\.yaml,line=\d+.*title=test\.failed::/m)
  } finally {
    repo.cleanup()
  }
})

test('explain: permissions of an identity, and one request with its trace', () => {
  const text = gatehouse(['explain', EXAMPLE, '--identity', 'backup-bot'])
  assert.equal(text.status, 0)
  assert.match(text.stdout, /^backup-1 \(ssh; env=production, role=backup\)$/m)
  assert.match(text.stdout, /allow   read files \/var\/backups\/\*\*  \[backups\/fetch-dumps\]/)
  const json = JSON.parse(gatehouse(['explain', EXAMPLE, '--identity', 'orders-reporting', '--resource', 'orders-db', '--sql', 'SELECT email FROM customers', '--time', '2027-01-04T10:00:00Z', '--format', 'json']).stdout) as {
    decision: { effect: string; rule: string; masks: Array<{ id: string }>; trace: unknown[] }
  }
  assert.equal(json.decision.effect, 'allow')
  assert.equal(json.decision.rule, 'orders-read/read-orders')
  assert.deepEqual(json.decision.masks.map((m) => m.id), ['detector:credit-card', 'public.customers.email', 'public.customers.phone'])
  assert.ok(json.decision.trace.length > 0)
  assert.equal(gatehouse(['explain', EXAMPLE, '--identity', 'nobody']).status, 1)
})

test('compile outside Git: the sequence comes from --sequence, else SOURCE_DATE_EPOCH, else the clock, never 0', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    const out = path.join(repo.dir, 'bundle.json')
    const sequence = () => (JSON.parse(readFileSync(out, 'utf8')) as Bundle).manifest.sequence
    const env = { ...process.env }
    delete env.SOURCE_DATE_EPOCH
    assert.equal(gatehouse(['compile', repo.dir, '-o', out, '--sequence', '456'], { env }).status, 0)
    assert.equal(sequence(), 456)
    assert.equal(gatehouse(['compile', repo.dir, '-o', out], { env: { ...env, SOURCE_DATE_EPOCH: '123' } }).status, 0)
    assert.equal(sequence(), 123)
    const before = Math.floor(Date.now() / 1000)
    assert.equal(gatehouse(['compile', repo.dir, '-o', out], { env }).status, 0)
    assert.ok(sequence() >= before, 'the clock, in seconds')
    assert.equal(gatehouse(['compile', repo.dir, '-o', out, '--sequence', 'soon'], { env }).status, 2)
  } finally {
    repo.cleanup()
  }
})
