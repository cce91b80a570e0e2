// A local OIDC issuer for the tests: its own key pairs, a discovery document
// and a JWKS served over HTTPS with a certificate from a throwaway test CA,
// and tokens with the claim sets GitHub Actions and Kubernetes issue. The
// test decides which keys are published, whether the issuer answers, and
// can sign the tokens an attacker would make (`alg: none`, HMAC with the
// public key, a key the issuer never published).
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { createServerCertificate } from './certificates.js'

export interface SigningKey {
  kid: string
  alg: 'RS256' | 'ES256'
  privateKey: CryptoKey
  publicJwk: JWK
}

export interface TokenOptions {
  key?: SigningKey
  /** Seconds relative to now. */
  issuedAt?: number
  expiresIn?: number
  notBefore?: number
  /** Header overrides (e.g. a `kid` the issuer never published). */
  header?: Record<string, unknown>
}

export interface LocalIssuer {
  url: string
  /** The test CA's certificate (PEM file) the gateway must trust for this issuer. */
  caFile: string
  keys: SigningKey[]
  /** Keys in the JWKS, in order. */
  published: SigningKey[]
  /** While true, every request is cut off without an answer. */
  down: boolean
  /** Requests served, by path. */
  requests: string[]
  /** When set and returning a body, answers a request in place of the issuer (a misbehaving issuer). */
  override: ((path: string) => string | undefined) | undefined
  newKey(alg?: SigningKey['alg']): Promise<SigningKey>
  sign(claims: JWTPayload, options?: TokenOptions): Promise<string>
  /** A GitHub Actions job token: repository, ref, environment, workflow, run id, actor, and `sub` as GitHub builds it. */
  githubToken(overrides?: Partial<GithubClaims>, options?: TokenOptions): Promise<string>
  /** A Kubernetes projected service-account token. */
  kubernetesToken(namespace: string, account: string, audience: string, options?: TokenOptions): Promise<string>
  /** `alg: none`, unsigned. */
  unsigned(claims: JWTPayload): string
  /** HS256 with the published public key (its JWK text) as the shared secret: the classic key-confusion forgery. */
  hmacWithPublicKey(claims: JWTPayload, key?: SigningKey): string
  close(): Promise<void>
}

export interface GithubClaims {
  repository: string
  ref: string
  environment?: string
  workflow: string
  run_id: string
  actor: string
  audience: string
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

export async function startOidcIssuer(): Promise<LocalIssuer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-oidc-'))
  const certificate = await createServerCertificate(dir)
  const state = { down: false }
  const requests: string[] = []
  const keys: SigningKey[] = []
  let published: SigningKey[] = []
  let url = ''
  const server: Server = createServer({ cert: readFileSync(certificate.certFile), key: readFileSync(certificate.keyFile) }, (req, res) => {
    if (issuer.down) return void req.socket.destroy()
    requests.push(req.url ?? '')
    const replaced = issuer.override?.(req.url ?? '')
    if (replaced !== undefined) return void res.writeHead(200, { 'content-type': 'application/json' }).end(replaced)
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.url === '/.well-known/openid-configuration') return json({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256'], response_types_supported: ['id_token'], subject_types_supported: ['public'] })
    if (req.url === '/jwks') return json({ keys: issuer.published.map((k) => k.publicJwk) })
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`

  const newKey = async (alg: SigningKey['alg'] = 'RS256'): Promise<SigningKey> => {
    const pair = await generateKeyPair(alg, { extractable: true })
    const kid = randomUUID()
    const key = { kid, alg, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } }
    keys.push(key)
    return key
  }
  const now = () => Math.floor(Date.now() / 1000)
  const sign = async (claims: JWTPayload, options: TokenOptions = {}) => {
    const key = options.key ?? issuer.published[0]!
    const iat = now() + (options.issuedAt ?? 0)
    const jwt = new SignJWT({ iss: url, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header })
      .setIssuedAt(iat)
      .setExpirationTime(iat + (options.expiresIn ?? 300))
    if (options.notBefore !== undefined) jwt.setNotBefore(now() + options.notBefore)
    return jwt.sign(key.privateKey)
  }
  const issuer: LocalIssuer = {
    url,
    caFile: certificate.caFile,
    keys,
    get published() {
      return published
    },
    set published(value) {
      published = value
    },
    get down() {
      return state.down
    },
    set down(value) {
      state.down = value
    },
    requests,
    override: undefined,
    newKey,
    sign,
    githubToken(overrides = {}, options = {}) {
      const c: GithubClaims = { repository: 'acme/orders', ref: 'refs/heads/main', environment: 'production', workflow: 'deploy', run_id: '9876543210', actor: 'octocat', audience: 'gatehouse', ...overrides }
      const [owner] = c.repository.split('/')
      return sign(
        {
          jti: randomUUID(),
          // GitHub's default subject: the environment when the job has one, else the ref.
          sub: `repo:${c.repository}:${c.environment ? `environment:${c.environment}` : `ref:${c.ref}`}`,
          aud: c.audience,
          ref: c.ref,
          sha: 'a'.repeat(40),
          repository: c.repository,
          repository_owner: owner,
          repository_owner_id: '1',
          repository_id: '2',
          repository_visibility: 'private',
          run_id: c.run_id,
          run_number: '7',
          run_attempt: '1',
          actor: c.actor,
          actor_id: '3',
          workflow: c.workflow,
          event_name: 'push',
          ref_type: 'branch',
          job_workflow_ref: `${c.repository}/.github/workflows/${c.workflow}.yml@${c.ref}`,
          runner_environment: 'github-hosted',
          ...(c.environment ? { environment: c.environment } : {}),
        },
        options,
      )
    },
    kubernetesToken(namespace, account, audience, options = {}) {
      return sign(
        {
          sub: `system:serviceaccount:${namespace}:${account}`,
          aud: [audience],
          'kubernetes.io': { namespace, serviceaccount: { name: account, uid: randomUUID() }, pod: { name: `${account}-5d8f7`, uid: randomUUID() } },
        },
        { expiresIn: 3600, ...options },
      )
    },
    unsigned(claims) {
      return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: url, iat: now(), exp: now() + 300, ...claims })}.`
    },
    hmacWithPublicKey(claims, key = issuer.published[0]!) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64({ iss: url, iat: now(), exp: now() + 300, ...claims })}`
      return `${input}.${createHmac('sha256', JSON.stringify(key.publicJwk)).update(input).digest('base64url')}`
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  published = [await newKey('RS256')]
  return issuer
}
