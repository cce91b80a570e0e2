// While no valid bundle is in force, clients are told so, not that their
// credentials failed: SQLSTATE 57P03 for PostgreSQL (what PostgreSQL says
// while it cannot take connections), a one-line banner for the OpenSSH client.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import type { RunningGateway } from '../../gateway/gateway.js'
import { startTestGateway } from './start-gateway.js'

let dir: string
let gateway: RunningGateway

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-no-bundle-'))
  const bundle = path.join(dir, 'bundle.json')
  writeFileSync(bundle, '{"not": "a bundle"}\n')
  gateway = await startTestGateway({
    bundle,
    dataDir: path.join(dir, 'gateway'),
    store: path.join(dir, 'gateway', 'store'),
    postgresListen: { host: '127.0.0.1', port: 0 },
    sshListen: { host: '127.0.0.1', port: 0 },
  })
})

after(async () => {
  await gateway.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('a PostgreSQL client gets 57P03 and the reason, not an authentication failure', async () => {
  const client = new pg.Client({ host: '127.0.0.1', port: gateway.addresses.postgres!.port, user: 'anyone', password: 'whatever', database: 'orders-db' })
  client.on('error', () => undefined)
  const error = await client.connect().then(() => undefined, (err: Error & { code?: string }) => err)
  assert.ok(error, 'the connection is refused')
  assert.equal(error.code, '57P03')
  assert.match(error.message, /no valid policy bundle in force/)
  assert.doesNotMatch(error.message, /password authentication failed/)
})

/** The gateway runs in this process: the client must not block it. */
function run(command: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stderr }))
  })
}

test('the OpenSSH client prints the one-line reason before the refusal', async () => {
  const key = path.join(dir, 'id_ed25519')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
  const result = await run('ssh', [
    '-p', String(gateway.addresses.ssh!.port), '-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
    'web-1@127.0.0.1', 'true',
  ])
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, /^gatehouse has no valid policy bundle in force, so it lets nobody in; this is not a problem with your credentials/m)
})
