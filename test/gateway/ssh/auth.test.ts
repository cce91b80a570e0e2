// Who gets in: only a key of an identity in the bundle, signing for real, on
// a resource it has a rule for, while it has not expired; every refusal is
// logged, counted and recorded, and repeated failures lock the source out.
// Upstream, only the pinned host key is accepted.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import ssh2 from 'ssh2'
import { loadOrCreateHostKey, newEd25519Key } from '../../../gateway/ssh/host-key.js'
import { runCommand } from '../../services/command.js'
import { editYaml } from '../harness.js'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => (gw = await startSshGateway()))
after(async () => gw?.stop())

const authFailures = () => Number(/gatehouse_auth_failures_total\{protocol="ssh"\} (\d+)/.exec(gw.gateway.context.metrics.render())?.[1] ?? 0)

test('the gateway host key is made once, kept private, and reused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-hostkey-'))
  const first = await loadOrCreateHostKey(dir)
  assert.equal(statSync(path.join(dir, 'ssh-host-key')).mode & 0o777, 0o600)
  const second = await loadOrCreateHostKey(dir)
  assert.equal(second.publicKey, first.publicKey)
  assert.match(first.publicKey, /^ssh-ed25519 AAAA/)
  // OpenSSH reads it as its own, and derives the same public key.
  const derived = await runCommand('ssh-keygen', ['-y', '-P', '', '-f', path.join(dir, 'ssh-host-key')])
  assert.equal(derived.stdout.toString().split(' ').slice(0, 2).join(' '), first.publicKey)
})

test('every new host key reads back, whatever bytes its public half starts with', () => {
  // About one key in 256 has a public half starting with a zero byte: a thousand keys meet about four.
  for (let i = 0; i < 1000; i++) {
    const parsed = ssh2.utils.parseKey(newEd25519Key('gatehouse gateway'))
    assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed), String(parsed))
    assert.equal(parsed.getPublicSSH().length, 51)
  }
})

test('a valid key of an identity with access logs in, with the client checking the gateway host key', async () => {
  const run = await gw.ssh('deployer', 'web-1', 'echo in')
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.toString(), 'in\n')
})

test('a pinned host key that does not match refuses the upstream connection', async () => {
  const run = await gw.ssh('deployer', 'web-2', 'echo in')
  assert.equal(run.status, 255)
  assert.match(run.stderr, /^gatehouse: could not reach web-2$/m)
  assert.equal(run.stdout.length, 0)
  const events = await gw.events({ kinds: ['ssh.upstream'] })
  assert.equal(events.at(-1)?.data.outcome, 'host key mismatch')
})

test('a signature that does not verify is refused even for a known key', async () => {
  const publicKey = readFileSync(`${gw.keys.deployer}.pub`, 'utf8')
  const parsed = ssh2.utils.parseKey(publicKey)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('test key does not parse')
  const stranger = ssh2.utils.parseKey(readFileSync(gw.keys.outsider!))
  if (stranger instanceof Error || Array.isArray(stranger)) throw new Error('test key does not parse')
  const before = authFailures()
  // Offers deployer's public key but signs with another private key.
  let tried = 0
  const forged = Object.create(stranger) as typeof stranger
  Object.assign(forged, { type: parsed.type, getPublicSSH: () => parsed.getPublicSSH() })
  const error = await new Promise<Error | undefined>((resolve) => {
    const client = new ssh2.Client()
    client.once('ready', () => (client.end(), resolve(undefined)))
    client.once('error', resolve)
    client.connect({
      host: '127.0.0.1',
      port: gw.port,
      username: 'web-1',
      authHandler: (_methods, _partial, next) => next(tried++ === 0 ? { type: 'publickey', username: 'web-1', key: forged } : (false as never)),
      readyTimeout: 10_000,
    })
  })
  assert.ok(error, 'the login failed')
  assert.match(error.message, /authentication methods failed/)
  assert.equal(authFailures(), before + 1)
  const events = await gw.events({ kinds: ['auth.failure'] })
  assert.equal(events.at(-1)?.data.reason, 'bad signature')
  assert.equal(events.at(-1)?.identity, 'deployer')
})

test('unknown keys, identities without rules, unknown resources and expired identities are refused and counted', async () => {
  const stranger = path.join(gw.dir, 'keys', 'stranger')
  await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger])
  const before = authFailures()
  const unknownKey = await gw.run('ssh', [...gw.sshOptions('deployer').map((o) => (o === gw.keys.deployer ? stranger : o)), '-p', String(gw.port), 'web-1@127.0.0.1', 'echo in'])
  assert.equal(unknownKey.status, 255)
  assert.match(unknownKey.stderr, /Permission denied \(publickey\)/)
  const outsider = await gw.ssh('outsider', 'web-1', 'echo in')
  assert.equal(outsider.status, 255)
  const nowhere = await gw.ssh('deployer', 'db-9', 'echo in')
  assert.equal(nowhere.status, 255)
  assert.equal(authFailures(), before + 3)

  await gw.recompile((repo) => editYaml(path.join(repo, 'identities', 'all.yaml'), (doc) => doc.get('name') === 'operator' && doc.set('expires', '2020-01-31')))
  const expired = await eventually(
    () => gw.ssh('operator', 'web-1', 'echo in'),
    (r) => r.status === 255,
  )
  assert.equal(expired.status, 255)
  const reasons = (await gw.events({ kinds: ['auth.failure'] })).map((e) => `${e.identity ?? ''}:${String(e.data.reason)}`)
  assert.ok(reasons.includes(':unknown key'))
  assert.ok(reasons.some((r) => r.startsWith('outsider:') && r.includes('no access')), reasons.join('\n'))
  assert.ok(reasons.some((r) => r.startsWith('deployer:') && r.includes('db-9')))
  assert.ok(reasons.some((r) => r.startsWith('operator:') && r.includes('expired')))
})

test('repeated failures from one address lock it out, valid keys included', async () => {
  for (let i = 0; i < 5; i++) await gw.ssh('outsider', 'web-1', 'echo in')
  const locked = await gw.ssh('deployer', 'web-1', 'echo in')
  assert.equal(locked.status, 255)
  const events = await gw.events({ kinds: ['auth.failure'] })
  assert.equal(events.at(-1)?.data.reason, 'rate limited')
})
