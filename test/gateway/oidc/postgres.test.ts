// psql and node-postgres log in through the gateway with a job's workload
// identity token as the password: over TLS, or on a loopback listener when
// the configuration allows it, never in clear otherwise. The session runs as
// the identity the token's claims bind, and every event of the session says
// which job run it was. Refused tokens are audited with their reason; none
// is ever stored.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import type { RunningGateway } from '../../../gateway/gateway.js'
import { queryEvents } from '../../../store/audit-read.js'
import { createServerCertificate, type ServerCertificate } from '../../services/certificates.js'
import { postgresFromEnv } from '../../services/env.js'
import { startOidcIssuer, type LocalIssuer } from '../../services/oidc-issuer.js'
import { startShop, type Shop } from '../harness.js'
import { startGateway } from '../../../gateway/gateway.js'
import { createLogger } from '../../../runtime/log.js'
import { startTestGateway } from '../start-gateway.js'
import { recompileAndWait } from '../reload-wait.js'
import { writeWorkloadIdentities } from './workload-repo.js'

let issuer: LocalIssuer
let shop: Shop
let tls: ServerCertificate
before(async () => {
  issuer = await startOidcIssuer()
  tls = await createServerCertificate(mkdtempSync(path.join(tmpdir(), 'gatehouse-gw-tls-')))
  shop = await startShop({ store: 'postgres', config: { oidcCa: issuer.caFile, tls: { cert: tls.certFile, key: tls.keyFile }, cleartextOnLoopback: true } })
  await recompileAndWait(shop, (repo) => writeWorkloadIdentities(repo, issuer.url, { deploy: ['reader', 'writer'], batch: ['reader'] }))
})
after(async () => {
  await shop?.stop()
  await issuer?.close()
})

function psql(port: number, conninfo: string, password: string, sql: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(postgresFromEnv().binDir, 'psql'), [`host=127.0.0.1 port=${port} dbname=shop connect_timeout=10 ${conninfo}`, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, PGPASSWORD: password } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const events = async (gateway: RunningGateway, filter: Parameters<typeof queryEvents>[1]) => {
  await gateway.context.audit.flush()
  return queryEvents(gateway.context.db, { limit: 10_000, ...filter })
}

/** node-postgres from its own loopback address, so each refusal counts against a different source. */
async function pgLogin(port: number, user: string, password: string, localAddress: string): Promise<string> {
  // pg dials the stream itself; this one dials from `localAddress`.
  const stream = () => {
    const socket = new Socket()
    const connect = socket.connect.bind(socket) as (options: { port: number; host: string; localAddress: string }) => Socket
    return Object.assign(socket, { connect: (p: number, host: string) => connect({ port: p, host, localAddress }) })
  }
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'shop', stream })
  try {
    await client.connect()
    return (await client.query<{ who: string }>('SELECT current_user AS who')).rows[0]!.who
  } finally {
    await client.end().catch(() => undefined)
  }
}

test('psql logs in over TLS with a GitHub Actions job token, as the identity its claims bind', async () => {
  const token = await issuer.githubToken()
  const run = await psql(shop.port, `user=orders-deploy sslmode=verify-full sslrootcert=${tls.caFile}`, token, "INSERT INTO orders (customer_id, status, total) VALUES (1, 'deployed', 1); SELECT count(*) FROM orders WHERE status = 'deployed'")
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.trim().split('\n').at(-1), '1')
  // Every event of the session names the job run; the token itself is nowhere.
  const starts = await events(shop.gateway, { identity: 'orders-deploy', kinds: ['session.start'] })
  const sessionId = starts.at(-1)!.sessionId!
  const session = await events(shop.gateway, { sessionId })
  assert.ok(session.length >= 3, session.map((e) => e.kind).join(', '))
  for (const event of session) {
    const workload = event.data.workload as Record<string, string> | undefined
    assert.deepEqual([workload?.repository, workload?.run_id, workload?.workflow, workload?.actor], ['acme/orders', '9876543210', 'deploy', 'octocat'], event.kind)
  }
  const everything = JSON.stringify(await events(shop.gateway, {}))
  assert.ok(!everything.includes(token.split('.')[2]!), 'the token reached the audit trail')
})

test('node-postgres logs in with a Kubernetes service-account token on the loopback listener without TLS, as configured', async () => {
  const who = await pgLogin(shop.port, 'batch-job', await issuer.kubernetesToken('batch', 'nightly', 'gatehouse'), '127.0.0.1')
  assert.ok(who.startsWith('gatehouse_shop_'), who)
})

test('a token whose claims bind another identity does not log in as the user named', async () => {
  await assert.rejects(pgLogin(shop.port, 'batch-job', await issuer.githubToken(), '127.0.0.2'), /password authentication failed/)
  const failure = (await events(shop.gateway, { identity: 'batch-job', kinds: ['auth.failure'] })).at(-1)!
  assert.match(String(failure.data.reason), /select identity `orders-deploy`/)
})

test('refused tokens are refused and audited with their reason, from psql and node-postgres alike', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['wrong audience', await issuer.githubToken({ audience: 'elsewhere' }), /wrong audience/],
    ['expired', await issuer.githubToken({}, { issuedAt: -900, expiresIn: 300 }), /token expired/],
    ['alg none', issuer.unsigned({ sub: 'system:serviceaccount:batch:nightly', aud: 'gatehouse' }), /algorithm not allowed/],
  ]
  let n = 10
  for (const [name, token, reason] of cases) {
    await assert.rejects(pgLogin(shop.port, 'batch-job', token, `127.0.0.${n++}`), /password authentication failed/, name)
    const failure = (await events(shop.gateway, { identity: 'batch-job', kinds: ['auth.failure'] })).at(-1)!
    assert.match(String(failure.data.reason), reason, name)
  }
  const run = await psql(shop.port, `user=batch-job sslmode=verify-full sslrootcert=${tls.caFile}`, await issuer.kubernetesToken('other', 'nightly', 'gatehouse'), 'SELECT 1')
  assert.notEqual(run.status, 0)
  assert.match(run.stderr, /password authentication failed for user "batch-job"/)
  const failure = (await events(shop.gateway, { identity: 'batch-job', kinds: ['auth.failure'] })).at(-1)!
  assert.match(String(failure.data.reason), /match no identity/)
  assert.equal((failure.data.workload as Record<string, string>).sub, 'system:serviceaccount:other:nightly')
})

test('without TLS and without the loopback setting, a token is never asked for in clear', async () => {
  const gateway = await startTestGateway({ bundle: shop.bundlePath, dataDir: path.join(shop.dir, 'plain'), store: shop.gateway.context.config.store, postgresListen: { host: '127.0.0.1', port: 0 }, oidcCa: issuer.caFile })
  try {
    const run = await psql(gateway.addresses.postgres!.port, 'user=orders-deploy sslmode=disable', await issuer.githubToken(), 'SELECT 1')
    assert.notEqual(run.status, 0)
    assert.match(run.stderr, /accepts it only over TLS/)
  } finally {
    await gateway.stop()
  }
})

test('an issuer that is down: a gateway with its keys cached lets jobs in, one without them refuses and says why', async () => {
  assert.equal(await pgLogin(shop.port, 'orders-deploy', await issuer.githubToken(), '127.0.0.30').then(() => 'in'), 'in')
  issuer.down = true
  const fresh = await startTestGateway({ bundle: shop.bundlePath, dataDir: path.join(shop.dir, 'fresh'), store: shop.gateway.context.config.store, postgresListen: { host: '127.0.0.1', port: 0 }, oidcCa: issuer.caFile, cleartextOnLoopback: true })
  try {
    assert.equal(await pgLogin(shop.port, 'orders-deploy', await issuer.githubToken(), '127.0.0.31').then(() => 'in'), 'in')
    await assert.rejects(pgLogin(fresh.addresses.postgres!.port, 'orders-deploy', await issuer.githubToken(), '127.0.0.32'), /password authentication failed/)
    const failure = (await events(fresh, { kinds: ['auth.failure'] })).at(-1)!
    assert.match(String(failure.data.reason), /cannot be reached and none of its keys are cached/)
  } finally {
    issuer.down = false
    await fresh.stop()
  }
})

test('a key the issuer rotated out of its JWKS no longer logs in, and the refusal says so', async () => {
  const oldKey = issuer.published[0]!
  const newKey = await issuer.newKey('ES256')
  const token = await issuer.githubToken()
  issuer.published = [newKey]
  // A gateway that fetches the key set now (a running one refetches when a token names a key it lacks, or after 10 minutes).
  const gateway = await startTestGateway({ bundle: shop.bundlePath, dataDir: path.join(shop.dir, 'rotated'), store: shop.gateway.context.config.store, postgresListen: { host: '127.0.0.1', port: 0 }, oidcCa: issuer.caFile, cleartextOnLoopback: true })
  try {
    await assert.rejects(pgLogin(gateway.addresses.postgres!.port, 'orders-deploy', token, '127.0.0.33'), /password authentication failed/)
    const failure = (await events(gateway, { identity: 'orders-deploy', kinds: ['auth.failure'] })).at(-1)!
    assert.match(String(failure.data.reason), /key the issuer does not publish/)
    assert.equal(await pgLogin(gateway.addresses.postgres!.port, 'orders-deploy', await issuer.githubToken({}, { key: newKey }), '127.0.0.34').then(() => 'in'), 'in')
  } finally {
    issuer.published = [oldKey]
    await gateway.stop()
  }
})

test('no token reaches the gateway\'s log, at debug level, whether it logs in or is refused', async () => {
  const lines: string[] = []
  const gateway = await startGateway(
    { bundle: shop.bundlePath, dataDir: path.join(shop.dir, 'logged'), store: shop.gateway.context.config.store, postgresListen: { host: '127.0.0.1', port: 0 }, oidcCa: issuer.caFile, cleartextOnLoopback: true, requireTls: false, auditFlushMs: 20, logLevel: 'debug' },
    createLogger({ level: 'debug', write: (line) => void lines.push(line) }),
  )
  try {
    const good = await issuer.githubToken()
    const expired = await issuer.githubToken({}, { issuedAt: -900, expiresIn: 300 })
    const forged = issuer.hmacWithPublicKey({ sub: 'repo:acme/orders:environment:production', aud: 'gatehouse', repository: 'acme/orders', ref: 'refs/heads/main' })
    assert.equal(await pgLogin(gateway.addresses.postgres!.port, 'orders-deploy', good, '127.0.0.35').then(() => 'in'), 'in')
    for (const [i, token] of [expired, forged].entries()) await assert.rejects(pgLogin(gateway.addresses.postgres!.port, 'orders-deploy', token, `127.0.0.${36 + i}`))
    assert.ok(lines.some((l) => l.includes('authentication failed')), 'the refusals were logged')
    const log = lines.join('')
    for (const token of [good, expired, forged]) for (const part of token.split('.')) assert.ok(!log.includes(part.slice(0, 40)), 'a token reached the log')
  } finally {
    await gateway.stop()
  }
})

test('/v1/self answers a job\'s token as its identity, and audits every refused one with its reason', async () => {
  const self = (token: string) => fetch(`http://127.0.0.1:${shop.gateway.addresses.admin!.port}/v1/self`, { headers: { authorization: `Bearer ${token}` } })
  const ok = await self(await issuer.githubToken())
  assert.equal(ok.status, 200)
  const body = (await ok.json()) as { identity: { name: string }; workload: Record<string, string>; resources: unknown[] }
  assert.equal(body.identity.name, 'orders-deploy')
  assert.equal(body.workload.repository, 'acme/orders')
  assert.ok(body.resources.length > 0)
  const stranger = await issuer.newKey('ES256')
  const claims = { sub: 'repo:acme/orders:environment:production', aud: 'gatehouse', repository: 'acme/orders', ref: 'refs/heads/main' }
  const cases: Array<[string, string, RegExp]> = [
    ['wrong audience', await issuer.githubToken({ audience: 'elsewhere' }), /wrong audience/],
    ['expired', await issuer.githubToken({}, { issuedAt: -900, expiresIn: 300 }), /token expired/],
    ['not yet valid', await issuer.githubToken({}, { notBefore: 600 }), /not yet valid/],
    ['unknown key', await issuer.githubToken({}, { key: stranger }), /key the issuer does not publish/],
    ['alg none', issuer.unsigned(claims), /algorithm not allowed/],
    ['HMAC with the public key', issuer.hmacWithPublicKey(claims), /algorithm not allowed/],
    ['a claim that does not match', await issuer.githubToken({ ref: 'refs/heads/dev' }), /match no identity/],
    ['past the maximum age', await issuer.githubToken({}, { issuedAt: -4000, expiresIn: 7200 }), /older than the maximum age/],
    ['an issuer nobody binds', (await issuer.sign({ iss: 'https://issuer.invalid', ...claims })), /no identity accepts tokens of this issuer/],
  ]
  for (const [name, token, reason] of cases) {
    assert.equal((await self(token)).status, 401, name)
    const failure = (await events(shop.gateway, { kinds: ['auth.failure'] })).at(-1)!
    assert.equal(failure.data.protocol, 'http', name)
    assert.match(String(failure.data.reason), reason, name)
  }
})
