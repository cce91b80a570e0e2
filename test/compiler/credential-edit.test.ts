// Rotation edits an Identity's YAML in place: comments and the other
// documents of the file stay as they were, the new verifier shares the old
// one's salt and iteration count, and a rotation under way is not stacked on.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { removeExpiredCredentials, rotateSshKey, rotateToken } from '../../compiler/credential-edit.js'
import { scramVerifier, tokenDigest } from '../../compiler/credentials.js'

const OLD = 'gth_' + 'o'.repeat(43)
const FILE = `# Jobs of acme/orders.
apiVersion: gatehouse.dev/v1
kind: Identity
name: ci-deploy
owner: "@acme/platform" # the platform team
roles: [deployer]
credentials:
  # the deploy job's token
  token:
    scram: ${scramVerifier(OLD)}
    sha256: ${tokenDigest(OLD)}
  sshKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICg3ELxQalPcd+6yAtJXBUC7mvx2Zr/H2uhVONlTaue8 old
---
apiVersion: gatehouse.dev/v1
kind: Identity
name: other
owner: "@acme/platform"
credentials: {sshKeys: []}   # untouched
`
const NOW = new Date('2027-01-01T12:00:00Z')

const identity = (text: string, name = 'ci-deploy') => parseAllDocuments(text).map((d) => d.toJS() as { name: string; credentials: Record<string, unknown> }).find((d) => d.name === name)!

test('rotating a token keeps comments and the other documents, and the new verifier shares salt and iterations', () => {
  const rotated = rotateToken(FILE, 'ci-deploy', NOW, 7 * 86400)
  assert.equal(rotated.notAfter, '2027-01-08T12:00:00Z')
  for (const kept of ['# Jobs of acme/orders.', '# the platform team', "# the deploy job's token", 'credentials: {sshKeys: []}   # untouched']) assert.ok(rotated.text.includes(kept), kept)
  assert.equal(rotated.text.slice(rotated.text.indexOf('\n---\n')), FILE.slice(FILE.indexOf('\n---\n')))
  const tokens = identity(rotated.text).credentials.token as Array<{ scram: string; sha256: string; notAfter?: string; created?: string }>
  assert.equal(tokens.length, 2)
  assert.equal(tokens[0]!.sha256, tokenDigest(OLD))
  assert.equal(tokens[0]!.notAfter, '2027-01-08T12:00:00Z')
  assert.equal(tokens[1]!.sha256, tokenDigest(rotated.token))
  assert.equal(tokens[1]!.created, '2027-01-01T12:00:00Z')
  const saltOf = (scram: string) => scram.slice(0, scram.lastIndexOf('$'))
  assert.equal(saltOf(tokens[1]!.scram), saltOf(tokens[0]!.scram))
  assert.notEqual(rotated.token, OLD)
})

test('a rotation under way is refused; once the old token has expired, the next rotation drops it', () => {
  const first = rotateToken(FILE, 'ci-deploy', NOW, 86400)
  assert.throws(() => rotateToken(first.text, 'ci-deploy', NOW, 86400), /rotation of `ci-deploy` is under way: the old token works until 2027-01-02T12:00:00Z/)
  const later = new Date('2027-01-03T00:00:00Z')
  const second = rotateToken(first.text, 'ci-deploy', later, 86400)
  const tokens = identity(second.text).credentials.token as Array<{ sha256: string }>
  assert.deepEqual(tokens.map((t) => t.sha256), [tokenDigest(first.token), tokenDigest(second.token)])
})

test('expired verifiers and keys are removed, the last token never', () => {
  const rotated = rotateToken(FILE, 'ci-deploy', NOW, 86400)
  assert.equal(removeExpiredCredentials(rotated.text, 'ci-deploy', NOW), rotated.text)
  const cleaned = removeExpiredCredentials(rotated.text, 'ci-deploy', new Date('2027-02-01T00:00:00Z'))
  assert.deepEqual(identity(cleaned).credentials.token, (identity(rotated.text).credentials.token as unknown[])[1])
  assert.ok(cleaned.includes("# the deploy job's token"))
  const keys = rotateSshKey(FILE, 'ci-deploy', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjX0nV2P3X5qUXmYqYoQp7iJm0RkC5m0m0V3m5cB0bA new', NOW, 86400)
  const withKeys = identity(keys.text).credentials.sshKeys as Array<{ key: string; notAfter?: string }>
  assert.deepEqual(withKeys.map((k) => [k.key.split(' ')[2], k.notAfter]), [['old', '2027-01-02T12:00:00Z'], ['new', undefined]])
  const pruned = identity(removeExpiredCredentials(keys.text, 'ci-deploy', new Date('2027-02-01T00:00:00Z'))).credentials.sshKeys as Array<{ key: string }>
  assert.deepEqual(pruned.map((k) => k.key.split(' ')[2]), ['new'])
})
