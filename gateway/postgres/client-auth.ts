// Authenticating a client: user = identity, database = resource, password =
// the identity's token. SCRAM-SHA-256 against the verifiers in the bundle
// (the token never reaches the gateway); cleartext only inside TLS (or, when
// configured, on a loopback connection), checked against the token's SHA-256
// digest or, for a workload identity token (a JWT), against its issuer's
// keys. Unknown identities go through the same exchange with a decoy
// verifier, so the answer does not reveal which names exist. Only credentials
// before their `notAfter` count. Failures are rate-limited per identity and
// per source address.
import type { Bundle, BundleIdentity, TokenVerifier } from '../../engine/types.js'
import { matchesDigest, tokensInForce } from '../credentials.js'
import { looksLikeJwt, type WorkloadClaims, type WorkloadVerifier } from '../oidc/verify.js'
import type { RateLimiter } from '../rate-limit.js'
import { parsePasswordMessage, parseSaslInitialResponse, type AuthenticationResponse } from './protocol/frontend.js'
import { buildAuthenticationCleartextPassword, buildAuthenticationOk, buildAuthenticationSASL, buildAuthenticationSASLContinue, buildAuthenticationSASLFinal } from './protocol/serialize.js'
import { createScramServer, parseVerifier, type Verifier } from './scram.js'

export type AuthResult =
  | { ok: true; workload?: WorkloadClaims }
  /** `audited`: what the audit trail says, where it may say more than "authentication failed" (a refused workload token's reason). */
  | { ok: false; reason: string; limited?: boolean; audited?: string; workload?: WorkloadClaims }

export interface AuthExchange {
  /** Sends a message to the client. */
  send(message: Buffer): void
  /** The client's next authentication message. */
  next(): Promise<AuthenticationResponse>
}

export interface Connection {
  encrypted: boolean
  /** The client reached a loopback address of this host. */
  loopback: boolean
}

export interface CleartextPolicy {
  /** Ask TLS clients for a static token in cleartext rather than with SCRAM. */
  cleartextOverTls?: boolean | undefined
  /** Accept cleartext (workload identity tokens) without TLS on loopback connections. */
  cleartextOnLoopback?: boolean | undefined
}

export type Method = { ok: true; method: 'scram' | 'cleartext' } | { ok: false; message: string }

/**
 * How to ask for the password. A workload identity token can only be checked
 * in clear, so an identity with bindings is asked in cleartext, which needs
 * TLS, or a loopback connection where the configuration allows it.
 */
export function chooseMethod(identity: BundleIdentity | undefined, connection: Connection, policy: CleartextPolicy): Method {
  if (identity?.credentials.oidc?.length) {
    if (connection.encrypted || (connection.loopback && policy.cleartextOnLoopback)) return { ok: true, method: 'cleartext' }
    return { ok: false, message: 'a workload identity token is sent as a password, so this gateway accepts it only over TLS (sslmode=require)' }
  }
  return { ok: true, method: connection.encrypted && policy.cleartextOverTls ? 'cleartext' : 'scram' }
}

export function identityOf(bundle: Bundle | undefined, name: string): BundleIdentity | undefined {
  return bundle && Object.hasOwn(bundle.identities, name) ? bundle.identities[name] : undefined
}

export async function authenticateClient(
  bundle: Bundle | undefined,
  identityName: string,
  source: string,
  method: 'scram' | 'cleartext',
  limiter: RateLimiter,
  exchange: AuthExchange,
  workloadTokens: WorkloadVerifier,
  now = new Date(),
): Promise<AuthResult> {
  const keys = [`identity:${identityName}`, `address:${source}`]
  if (!limiter.allowed(keys)) return { ok: false, reason: 'too many failed logins; try again later', limited: true }
  const identity = identityOf(bundle, identityName)
  const tokens = tokensInForce(identity, now)
  const result = method === 'cleartext' ? await cleartext(bundle, identity, tokens, exchange, workloadTokens) : await scram(tokens.map((t) => t.scram), exchange)
  if (result.ok && identity) {
    limiter.succeeded(keys)
    exchange.send(buildAuthenticationOk())
    return result
  }
  limiter.failed(keys)
  return result.ok ? { ok: false, reason: 'unknown identity' } : result
}

async function scram(verifierTexts: string[], exchange: AuthExchange): Promise<AuthResult> {
  const verifiers = verifierTexts.map(parseVerifier).filter((v): v is Verifier => v !== undefined)
  const server = createScramServer(verifiers)
  exchange.send(buildAuthenticationSASL(['SCRAM-SHA-256']))
  const initial = parseSaslInitialResponse((await exchange.next()).payload)
  if (initial.mechanism !== 'SCRAM-SHA-256' || !initial.data) return { ok: false, reason: `unsupported SASL mechanism ${initial.mechanism}` }
  const first = server.first(initial.data.toString('utf8'))
  if (!first.ok) return { ok: false, reason: first.reason }
  exchange.send(buildAuthenticationSASLContinue(first.value))
  const final = server.final((await exchange.next()).payload.toString('utf8'))
  if (!final.ok) return { ok: false, reason: final.reason }
  exchange.send(buildAuthenticationSASLFinal(final.value))
  return { ok: true }
}

async function cleartext(bundle: Bundle | undefined, identity: BundleIdentity | undefined, tokens: TokenVerifier[], exchange: AuthExchange, workloadTokens: WorkloadVerifier): Promise<AuthResult> {
  exchange.send(buildAuthenticationCleartextPassword())
  const password = parsePasswordMessage((await exchange.next()).payload)
  if (bundle && identity?.credentials.oidc?.length && looksLikeJwt(password)) {
    const check = await workloadTokens.verify(bundle, password)
    if (!check.ok) return { ok: false, reason: check.reason, audited: check.reason, ...(check.claims ? { workload: check.claims } : {}) }
    // The user names the identity; the token must be one that identity's binding selects.
    if (check.identity !== identity.name) {
      const reason = `the token's claims select identity \`${check.identity}\`, not this one`
      return { ok: false, reason, audited: reason, workload: check.claims }
    }
    return { ok: true, workload: check.claims }
  }
  return matchesDigest(password, tokens) ? { ok: true } : { ok: false, reason: 'wrong token' }
}
