// Credential changes in the permission diff: a workload identity binding that
// admits more workloads is high risk on an existing identity, one that
// admits fewer is low, and a token rotation reads as one; explain says in
// words which workload an identity signs in as.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileRepository } from '../../compiler/compile.js'
import { diffBundles, type PermissionChange } from '../../compiler/diff.js'
import { loadDirectory } from '../../compiler/load.js'
import type { Bundle } from '../../engine/types.js'
import { GITHUB_ACTIONS_ISSUER } from '../../engine/workload.js'
import { gatehouse } from '../helpers/cli.js'
import { EXAMPLE, tempRepo } from '../helpers/repo.js'

const VERIFIER = { scram: 'SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', sha256: 'a'.repeat(64) }
const NEXT = { scram: VERIFIER.scram.replace(/\$A/, '$B'), sha256: 'b'.repeat(64) }

function identity(credentials: string): string {
  return `apiVersion: gatehouse.dev/v1\nkind: Identity\nname: orders-job\nowner: "@acme/app"\nexpires: 2027-06-30\nroles: [deployer]\ncredentials:\n${credentials}`
}
const binding = (claims: string) => `  oidc:\n    - issuer: ${GITHUB_ACTIONS_ISSUER}\n      audience: gatehouse\n      claims: ${claims}\n`

async function bundleWith(files: Record<string, string>): Promise<Bundle> {
  const repo = tempRepo(EXAMPLE)
  try {
    for (const [file, text] of Object.entries(files)) repo.write(file, text)
    const compiled = await compileRepository(await loadDirectory(repo.dir))
    assert.ok(compiled.bundle, compiled.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line} ${d.message}`).join('\n'))
    return compiled.bundle
  } finally {
    repo.cleanup()
  }
}

async function credentialChanges(base: string | undefined, head: string): Promise<Array<Pick<PermissionChange, 'kind' | 'risk' | 'detail'>>> {
  const result = diffBundles(await bundleWith(base ? { 'identities/orders-job.yaml': identity(base) } : {}), await bundleWith({ 'identities/orders-job.yaml': identity(head) }))
  assert.ok(result.ok)
  return result.diff.changes.filter((c) => c.identity === 'orders-job' && !/^(grant|mask)-/.test(c.kind)).map(({ kind, risk, detail }) => ({ kind, risk, detail }))
}

const MAIN = binding('{repository: acme/billing, ref: refs/heads/main}')

test('a binding widened to every branch is high risk, and says what it admits now and before', async () => {
  const changes = await credentialChanges(MAIN, binding('{repository: acme/billing, ref: "refs/heads/*"}'))
  assert.deepEqual(changes.map((c) => [c.kind, c.risk]), [['binding-widened', 'high']])
  assert.equal(changes[0]!.detail, 'accepts tokens of a workflow of acme/billing on refs/heads/* (audience gatehouse); was a workflow of acme/billing on refs/heads/main (audience gatehouse)')
})

test('a binding for another repository on an existing identity is high risk; a new identity\'s binding is a new credential', async () => {
  const added = await credentialChanges(MAIN, `${MAIN}    - {issuer: "${GITHUB_ACTIONS_ISSUER}", audience: gatehouse, claims: {repository: acme/payments}}\n`)
  assert.deepEqual(added.map((c) => [c.kind, c.risk]), [['binding-added', 'high']])
  const fresh = await credentialChanges(undefined, MAIN)
  assert.deepEqual(fresh.map((c) => [c.kind, c.risk]), [['identity-added', 'medium'], ['binding-added', 'medium']])
})

test('narrowing or removing a binding is low risk; rewriting it to admit the same tokens is no change', async () => {
  assert.deepEqual((await credentialChanges(MAIN, binding('{repository: acme/billing, ref: refs/heads/main, environment: production}'))).map((c) => [c.kind, c.risk]), [['binding-narrowed', 'low']])
  assert.deepEqual((await credentialChanges(MAIN, '  sshKeys: []\n')).map((c) => [c.kind, c.risk]), [['binding-removed', 'low']])
  assert.deepEqual(await credentialChanges(MAIN, binding('{ref: refs/heads/main, repository: acme/billing}')), [])
})

test('a token rotation reads as one, with the day the old token stops', async () => {
  const changes = await credentialChanges(
    `  token: {scram: "${VERIFIER.scram}", sha256: ${VERIFIER.sha256}}\n`,
    `  token:\n    - {scram: "${VERIFIER.scram}", sha256: ${VERIFIER.sha256}, notAfter: "2027-01-08T00:00:00Z"}\n    - {scram: "${NEXT.scram}", sha256: ${NEXT.sha256}, created: "2027-01-01T00:00:00Z"}\n`,
  )
  assert.deepEqual(changes, [{ kind: 'credentials-changed', risk: 'medium', detail: 'token rotated; old credentials valid until 2027-01-08T00:00:00Z' }])
})

test('explain says which workload an identity signs in as', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    repo.write('identities/orders-job.yaml', identity(binding('{repository: acme/billing, ref: refs/heads/main, environment: production}')))
    const result = gatehouse(['explain', repo.dir, '--identity', 'orders-job'])
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /^ {2}signs in as a workflow of acme\/billing on refs\/heads\/main, environment production \(audience gatehouse\), with no stored secret$/m)
  } finally {
    repo.cleanup()
  }
})
