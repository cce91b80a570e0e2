// Workload identity tokens against a local issuer served over HTTPS: a job's
// token selects the identity its claims bind, and every forgery, stale or
// misdirected token is refused with its reason. The issuer's keys are cached,
// refreshed when a token names a key the cache lacks (at most once per
// cooldown), and kept when the issuer cannot be reached.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import type { Bundle, OidcBinding } from '../../../engine/types.js'
import { IssuerKeys } from '../../../gateway/oidc/issuer-keys.js'
import { verifyWorkloadToken, type TokenCheck } from '../../../gateway/oidc/verify.js'
import { startOidcIssuer, type LocalIssuer } from '../../services/oidc-issuer.js'
import { prng } from '../../engine/ssh/helpers.js'

let issuer: LocalIssuer
let other: LocalIssuer
before(async () => {
  issuer = await startOidcIssuer()
  other = await startOidcIssuer()
})
after(async () => {
  await issuer?.close()
  await other?.close()
})

function bundleOf(bindings: Record<string, OidcBinding[]>): Bundle {
  const identities = Object.fromEntries(Object.entries(bindings).map(([name, oidc]) => [name, { name, description: '', owner: '@acme/x', roles: [], labels: {}, credentials: { sshKeys: [], oidc }, source: 'test' }]))
  return { identities } as unknown as Bundle
}

const deploy = (): OidcBinding => ({ issuer: issuer.url, audience: 'gatehouse', claims: { sub: 'repo:acme/orders:environment:production', repository: 'acme/orders', ref: 'refs/heads/main' } })
const bundle = () =>
  bundleOf({
    'orders-deploy': [deploy()],
    'batch-job': [{ issuer: issuer.url, audience: 'gatehouse', claims: { sub: 'system:serviceaccount:batch:nightly' } }],
    'other-issuer': [{ issuer: other.url, audience: 'gatehouse', claims: { sub: 'repo:acme/orders:*' } }],
  })

/** A fresh cache with a clock the test moves. */
function keysWithClock(ca = readFileSync(issuer.caFile, 'utf8') + readFileSync(other.caFile, 'utf8')) {
  const clock = { now: 1_000_000 }
  return { keys: new IssuerKeys({ ca, now: () => clock.now, maxAgeMs: 600_000, cooldownMs: 30_000 }), clock }
}

const verify = (keys: IssuerKeys, token: string, maxTokenAgeSeconds = 3600): Promise<TokenCheck> => verifyWorkloadToken(bundle(), token, keys, { clockSkewSeconds: 60, maxTokenAgeSeconds })
const refused = (check: TokenCheck): string => (check.ok ? `accepted as ${check.identity}` : check.reason)

test('a GitHub Actions job token selects the identity its claims bind, with the run recorded', async () => {
  const { keys } = keysWithClock()
  const check = await verify(keys, await issuer.githubToken())
  assert.ok(check.ok, refused(check))
  assert.equal(check.identity, 'orders-deploy')
  assert.deepEqual(
    { repository: check.claims.repository, run_id: check.claims.run_id, workflow: check.claims.workflow, actor: check.claims.actor },
    { repository: 'acme/orders', run_id: '9876543210', workflow: 'deploy', actor: 'octocat' },
  )
})

test('a Kubernetes projected service-account token selects its identity', async () => {
  const { keys } = keysWithClock()
  const check = await verify(keys, await issuer.kubernetesToken('batch', 'nightly', 'gatehouse'))
  assert.ok(check.ok, refused(check))
  assert.equal(check.identity, 'batch-job')
  assert.equal(check.claims.sub, 'system:serviceaccount:batch:nightly')
})

test('each refusal case is refused with its reason', async () => {
  const { keys } = keysWithClock()
  const stranger = await issuer.newKey('ES256')
  const cases: Array<[string, string, RegExp]> = [
    ['wrong audience', await issuer.githubToken({ audience: 'someone-else' }), /wrong audience/],
    ['expired', await issuer.githubToken({}, { issuedAt: -900, expiresIn: 300 }), /token expired/],
    ['not yet valid', await issuer.githubToken({}, { notBefore: 600 }), /not yet valid/],
    ['issued in the future', await issuer.githubToken({}, { issuedAt: 600 }), /issued in the future/],
    ['signed by a key the issuer never published', await issuer.githubToken({}, { key: stranger }), /key the issuer does not publish/],
    ['alg none', issuer.unsigned({ sub: 'repo:acme/orders:environment:production', aud: 'gatehouse', repository: 'acme/orders', ref: 'refs/heads/main' }), /algorithm not allowed/],
    ['HMAC signed with the public key', issuer.hmacWithPublicKey({ sub: 'repo:acme/orders:environment:production', aud: 'gatehouse', repository: 'acme/orders', ref: 'refs/heads/main' }), /algorithm not allowed/],
    ['a claim that does not match', await issuer.githubToken({ ref: 'refs/heads/feature' }), /match no identity/],
    ['another repository', await issuer.githubToken({ repository: 'acme/orders-fork' }), /match no identity/],
    ['replayed after the maximum age', await issuer.githubToken({}, { issuedAt: -4000, expiresIn: 7200 }), /older than the maximum age/],
    ['not a JWT at all', 'gth_' + 'a'.repeat(43), /not a signed JWT/],
    ['a token claiming an issuer it was not signed by', await issuer.sign({ iss: other.url, sub: 'repo:acme/orders:x', aud: 'gatehouse' }), /key the issuer does not publish|signature does not verify/],
  ]
  for (const [name, token, reason] of cases) {
    const check = await verify(keys, token)
    assert.equal(check.ok, false, `${name}: ${refused(check)}`)
    assert.match(refused(check), reason, name)
  }
  // The other issuer is named by a binding, but only with a sub of acme/orders: its own GitHub-style token does not match.
  assert.match(refused(await verify(keys, await other.githubToken({ repository: 'acme/payments' }))), /match no identity/)
})

test('a token from an issuer no binding names is refused without fetching anything from it', async () => {
  const stranger = await startOidcIssuer()
  try {
    const { keys } = keysWithClock()
    const check = await verify(keys, await stranger.githubToken())
    assert.match(refused(check), /no identity accepts tokens of this issuer/)
    assert.deepEqual(stranger.requests, [])
  } finally {
    await stranger.close()
  }
})

test('claims only come back for a token that verified', async () => {
  const { keys } = keysWithClock()
  const forged = await verify(keys, issuer.unsigned({ aud: 'gatehouse', repository: 'acme/orders' }))
  assert.ok(!forged.ok && forged.claims === undefined)
  const mismatched = await verify(keys, await issuer.githubToken({ ref: 'refs/heads/feature' }))
  assert.ok(!mismatched.ok && mismatched.claims?.ref === 'refs/heads/feature')
})

test('a key rotated out of the JWKS stops working once the issuer is asked again; asking is rate-limited', async () => {
  const { keys, clock } = keysWithClock()
  const oldKey = issuer.published[0]!
  assert.ok((await verify(keys, await issuer.githubToken())).ok)
  const fetches = () => issuer.requests.filter((r) => r === '/jwks').length
  const before = fetches()
  // The issuer rotates: the old key is gone, a new one signs.
  const newKey = await issuer.newKey('ES256')
  issuer.published = [newKey]
  clock.now += 30_000
  try {
    // A token naming the new key makes the gateway fetch the key set again (the last fetch is a cooldown ago).
    assert.ok((await verify(keys, await issuer.githubToken({}, { key: newKey }))).ok)
    assert.equal(fetches(), before + 1)
    assert.match(refused(await verify(keys, await issuer.githubToken({}, { key: oldKey }))), /key the issuer does not publish/)
    // Tokens naming keys nobody published do not make it ask again within the cooldown.
    for (let i = 0; i < 5; i++) await verify(keys, await issuer.githubToken({}, { key: await issuer.newKey() }))
    assert.equal(fetches(), before + 1)
    clock.now += 30_000
    await verify(keys, await issuer.githubToken({}, { key: await issuer.newKey() }))
    assert.equal(fetches(), before + 2)
  } finally {
    issuer.published = [oldKey]
  }
})

test('tokens arriving together share one fetch of the key set', async () => {
  const { keys } = keysWithClock()
  const fetches = () => issuer.requests.filter((r) => r === '/jwks').length
  const before = fetches()
  const tokens = await Promise.all(Array.from({ length: 20 }, () => issuer.githubToken()))
  const checks = await Promise.all(tokens.map((t) => verify(keys, t)))
  assert.ok(checks.every((c) => c.ok))
  assert.equal(fetches(), before + 1)
})

test('an issuer that is down: cached keys go on working, and without them every token is refused', async () => {
  const { keys, clock } = keysWithClock()
  assert.ok((await verify(keys, await issuer.githubToken())).ok)
  issuer.down = true
  try {
    // Past the cache's age the gateway tries again, fails, and keeps the last good keys.
    clock.now += 3_600_000
    const cached = await verify(keys, await issuer.githubToken())
    assert.ok(cached.ok, refused(cached))
    const fresh = keysWithClock().keys
    assert.match(refused(await verify(fresh, await issuer.githubToken())), /cannot be reached and none of its keys are cached/)
  } finally {
    issuer.down = false
  }
})

test('an issuer whose certificate the gateway does not trust is as good as down', async () => {
  const { keys } = keysWithClock(readFileSync(other.caFile, 'utf8'))
  assert.match(refused(await verify(keys, await issuer.githubToken())), /cannot be reached/)
})

test('an issuer whose answers cannot be trusted gives no keys: another issuer named, a plain-HTTP key set, an oversized one, not JSON', async () => {
  const answers: Array<[string, (path: string) => string | undefined]> = [
    ['discovery naming another issuer', (p) => (p.startsWith('/.well-known') ? JSON.stringify({ issuer: other.url, jwks_uri: `${issuer.url}/jwks` }) : undefined)],
    ['a key set over plain HTTP', (p) => (p.startsWith('/.well-known') ? JSON.stringify({ issuer: issuer.url, jwks_uri: `http://127.0.0.1:1/jwks` }) : undefined)],
    ['an oversized key set', (p) => (p === '/jwks' ? JSON.stringify({ keys: [], padding: 'x'.repeat(600 * 1024) }) : undefined)],
    ['not JSON', (p) => (p === '/jwks' ? '<html>' : undefined)],
    ['keys that are not a key set', (p) => (p === '/jwks' ? JSON.stringify({ keys: 'none' }) : undefined)],
  ]
  try {
    for (const [name, answer] of answers) {
      issuer.override = answer
      const { keys } = keysWithClock()
      assert.match(refused(await verify(keys, await issuer.githubToken())), /cannot be reached and none of its keys are cached/, name)
    }
  } finally {
    issuer.override = undefined
  }
})

test('a symmetric key published in the JWKS is ignored, so nothing signed with it verifies', async () => {
  const secret = Buffer.alloc(32, 9)
  issuer.override = (p) => (p === '/jwks' ? JSON.stringify({ keys: [...issuer.published.map((k) => k.publicJwk), { kty: 'oct', kid: 'shared', k: secret.toString('base64url'), alg: 'HS256' }] }) : undefined)
  try {
    const { keys } = keysWithClock()
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'shared' })).toString('base64url')
    const now = Math.floor(Date.now() / 1000)
    const payload = Buffer.from(JSON.stringify({ iss: issuer.url, aud: 'gatehouse', sub: 'system:serviceaccount:batch:nightly', iat: now, exp: now + 300 })).toString('base64url')
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
    assert.match(refused(await verify(keys, `${header}.${payload}.${signature}`)), /algorithm not allowed/)
  } finally {
    issuer.override = undefined
  }
})

test('mutated tokens are refused, never accepted and never thrown on', async () => {
  const { keys } = keysWithClock()
  const good = await issuer.githubToken()
  const seed = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 0x0dc)
  const count = Number(process.env.GATEHOUSE_FUZZ_COUNT ?? 300)
  const random = prng(seed)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.='
  for (let i = 0; i < count; i++) {
    const chars = [...good]
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
      const at = Math.floor(random() * chars.length)
      const op = random()
      if (op < 0.6) chars[at] = alphabet[Math.floor(random() * alphabet.length)]!
      else if (op < 0.8) chars.splice(at, 1)
      else chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]!)
    }
    const token = chars.join('')
    if (token === good) continue
    const check = await verify(keys, token)
    // Base64url has slack bits: a change in the last character of a segment can decode to the same bytes.
    if (check.ok) assert.equal(Buffer.from(token.split('.')[2] ?? '', 'base64url').toString('hex'), Buffer.from(good.split('.')[2]!, 'base64url').toString('hex'), `seed ${seed}, case ${i}: a mutated token was accepted`)
  }
})
