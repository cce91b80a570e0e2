// OpenSSH's ssh logs in through the gateway with a workload identity token,
// by keyboard-interactive or password authentication (the token handed over
// by SSH_ASKPASS, as a CI job would), as the identity the token's claims
// bind; the login user names the resource, as with keys. Every event of the
// session names the job run, and refused tokens are audited with their reason.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import ssh2 from 'ssh2'
import { ROOT } from '../../helpers/repo.js'
import { startOidcIssuer, type LocalIssuer, type SigningKey } from '../../services/oidc-issuer.js'
import { editYaml } from '../harness.js'
import { startSshGateway, type SshGateway } from '../ssh/harness.js'
import { recompileAndWait } from '../reload-wait.js'
import { writeWorkloadIdentities } from './workload-repo.js'

let issuer: LocalIssuer
let gw: SshGateway
/** A shorter signature than RS256's, for the password method (OpenSSH sends at most 1023 characters). */
let ecKey: SigningKey
before(async () => {
  issuer = await startOidcIssuer()
  ecKey = await issuer.newKey('ES256')
  issuer.published = [...issuer.published, ecKey]
  gw = await startSshGateway({ config: { oidcCa: issuer.caFile } })
  await recompileAndWait(gw, (repo) => writeWorkloadIdentities(repo, issuer.url, { deploy: ['deployer'], batch: ['deployer'] }))
})
after(async () => {
  await gw?.stop()
  await issuer?.close()
})

/** OpenSSH's ssh with only the token methods, the token coming from an askpass program. */
function sshWithToken(method: 'keyboard-interactive' | 'password', token: string, command: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // The askpass program the README shows: `gatehouse token --askpass` answers each prompt with its part of $GATEHOUSE_TOKEN.
  const askpass = path.join(gw.dir, 'askpass.sh')
  writeFileSync(askpass, `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist', 'bin', 'gatehouse.js')}" token --askpass "$1"\n`, { mode: 0o700 })
  const args = [
    '-F', '/dev/null', '-p', String(gw.port),
    '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${gw.knownHosts}`, '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10',
    '-o', 'PubkeyAuthentication=no', '-o', `PreferredAuthentications=${method}`, '-o', 'NumberOfPasswordPrompts=1',
    'web-1@127.0.0.1', command,
  ]
  return new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', GATEHOUSE_TOKEN: token }, detached: true })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

/** ssh2's client with the token as password, from its own loopback address (each refusal counts against a different source). */
function passwordLogin(token: string, resource: string, localAddress: string): Promise<'in'> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    client.once('ready', () => (client.end(), resolve('in')))
    client.once('error', reject)
    client.connect({ host: '127.0.0.1', port: gw.port, localAddress, username: resource, password: token, tryKeyboard: false, readyTimeout: 10_000 })
  })
}

async function sessionOf(identity: string) {
  const start = (await gw.events({ kinds: ['session.start'] })).filter((e) => e.identity === identity).at(-1)!
  return gw.events({ sessionId: start.sessionId! })
}

test('ssh logs in by keyboard-interactive with a GitHub Actions job token, and the session\'s events name the run', async () => {
  const token = await issuer.githubToken({ run_id: 'run-kbd' })
  // Longer than the 1023 characters OpenSSH reads for one answer: the prompts take it in parts.
  assert.ok(token.length > 1023, String(token.length))
  const run = await sshWithToken('keyboard-interactive', token, 'id -un')
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.trim(), 'gatehouse-test')
  const session = await sessionOf('orders-deploy')
  assert.ok(session.some((e) => e.kind === 'ssh.exec'))
  for (const event of session) assert.equal((event.data.workload as Record<string, string> | undefined)?.run_id, 'run-kbd', event.kind)
})

test('ssh logs in by password with a Kubernetes service-account token', async () => {
  const run = await sshWithToken('password', await issuer.kubernetesToken('batch', 'nightly', 'gatehouse', { key: ecKey }), 'id -un')
  assert.equal(run.status, 0, run.stderr)
  for (const event of await sessionOf('batch-job')) assert.equal((event.data.workload as Record<string, string> | undefined)?.sub, 'system:serviceaccount:batch:nightly', event.kind)
})

test('refused tokens get no SSH session, and each refusal is audited with its reason', async () => {
  const stranger = await issuer.newKey('ES256')
  const claims = { sub: 'repo:acme/orders:environment:production', aud: 'gatehouse', repository: 'acme/orders', ref: 'refs/heads/main' }
  const cases: Array<[string, string, string, RegExp]> = [
    ['not yet valid', await issuer.githubToken({}, { notBefore: 600 }), 'web-1', /not yet valid/],
    ['unknown key', await issuer.githubToken({}, { key: stranger }), 'web-1', /key the issuer does not publish/],
    ['HMAC with the public key', issuer.hmacWithPublicKey(claims), 'web-1', /algorithm not allowed/],
    ['past the maximum age', await issuer.githubToken({}, { issuedAt: -4000, expiresIn: 7200 }), 'web-1', /older than the maximum age/],
    ['another branch', await issuer.githubToken({ ref: 'refs/heads/dev', environment: '' }), 'web-1', /match no identity/],
    ['a resource that does not exist', await issuer.kubernetesToken('batch', 'nightly', 'gatehouse'), 'db-9', /no SSH resource "db-9"/],
  ]
  let n = 40
  for (const [name, token, resource, reason] of cases) {
    await assert.rejects(passwordLogin(token, resource, `127.0.0.${n++}`), /authentication methods failed/, name)
    const failure = (await gw.events({ kinds: ['auth.failure'] })).at(-1)!
    assert.match(String(failure.data.reason), reason, name)
  }
})

test('an SSH key past its notAfter is refused and the refusal audited; a key still in force logs in', async () => {
  const past = new Date(Date.now() - 1000).toISOString()
  const future = new Date(Date.now() + 86_400_000).toISOString()
  await recompileAndWait(gw, (repo) =>
    editYaml(path.join(repo, 'identities', 'all.yaml'), (doc) => {
      const name = doc.get('name') as string
      if (name !== 'operator' && name !== 'deployer') return
      const line = readFileSync(`${gw.keys[name]}.pub`, 'utf8').trim()
      doc.setIn(['credentials', 'sshKeys'], doc.createNode([{ key: line, notAfter: name === 'operator' ? past : future }]))
    }),
  )
  const retired = await gw.ssh('operator', 'web-1', 'true')
  assert.equal(retired.status, 255)
  assert.match(retired.stderr, /Permission denied/)
  const failure = (await gw.events({ kinds: ['auth.failure'] })).at(-1)!
  assert.equal(failure.identity, 'operator')
  assert.equal(failure.data.reason, 'key past its notAfter')
  const current = await gw.ssh('deployer', 'web-1', 'echo in')
  assert.equal(current.status, 0, current.stderr)
})
