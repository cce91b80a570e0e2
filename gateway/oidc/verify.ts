// Verifying a workload identity token (an OIDC ID token from GitHub Actions,
// a Kubernetes projected service-account token, any OIDC issuer's JWT) and
// finding the identity whose binding it satisfies. Checked with `jose`:
// the signature against the issuer's published keys, `iss`, `aud`, `exp`,
// `nbf` and `iat` with a small clock skew, a maximum token age, and only
// asymmetric algorithms (never `none`, never HMAC, which would let a public
// key serve as a shared secret). Every refusal has a reason for the audit
// trail; the token itself is never logged or kept.
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose'
import { identitiesForClaims } from '../../engine/workload.js'
import type { Bundle } from '../../engine/types.js'
import type { IssuerKeys } from './issuer-keys.js'

export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
/** Larger than any real ID token; anything longer is refused before it is parsed. */
const MAX_TOKEN_CHARS = 16 * 1024
const CLAIM_CHARS = 256
/** The claims the audit trail keeps: which job run, of which workflow, started by whom. */
const AUDITED_CLAIMS = ['iss', 'sub', 'repository', 'run_id', 'run_attempt', 'workflow', 'actor', 'ref', 'environment', 'jti'] as const

export interface VerifyOptions {
  clockSkewSeconds: number
  maxTokenAgeSeconds: number
  now?: Date
}

export type WorkloadClaims = Partial<Record<(typeof AUDITED_CLAIMS)[number], string>>

export type TokenCheck =
  | { ok: true; identity: string; claims: WorkloadClaims }
  /** `claims` only when the token itself verified: unverified claims are not evidence of anything. */
  | { ok: false; reason: string; claims?: WorkloadClaims }

/** Whether a password or bearer value has the shape of a JWT (JWS compact serialisation), so it takes this path. */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_CHARS && /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value)
}

export function auditedClaims(payload: JWTPayload): WorkloadClaims {
  const out: WorkloadClaims = {}
  for (const name of AUDITED_CLAIMS) {
    const value = payload[name]
    if (typeof value === 'string' || typeof value === 'number') out[name] = String(value).slice(0, CLAIM_CHARS)
  }
  return out
}

export async function verifyWorkloadToken(bundle: Bundle, token: string, keys: IssuerKeys, options: VerifyOptions): Promise<TokenCheck> {
  if (!looksLikeJwt(token)) return { ok: false, reason: 'not a signed JWT' }
  let issuer: unknown
  let kid: unknown
  try {
    issuer = decodeJwt(token).iss
    kid = decodeProtectedHeader(token).kid
  } catch {
    return { ok: false, reason: 'not a signed JWT' }
  }
  // invariant: only issuers a binding names are ever fetched (see issuer-keys.ts).
  const audiences = new Set<string>()
  for (const identity of Object.values(bundle.identities)) for (const b of identity.credentials.oidc ?? []) if (b.issuer === issuer) audiences.add(b.audience)
  if (typeof issuer !== 'string' || audiences.size === 0) return { ok: false, reason: 'no identity accepts tokens of this issuer' }
  const keySet = await keys.keysFor(issuer, typeof kid === 'string' ? kid : undefined)
  if (!keySet.ok) return { ok: false, reason: keySet.reason }
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, createLocalJWKSet(keySet.jwks), {
      issuer,
      audience: [...audiences],
      algorithms: ALLOWED_ALGORITHMS,
      clockTolerance: options.clockSkewSeconds,
      maxTokenAge: options.maxTokenAgeSeconds,
      requiredClaims: ['exp', 'iat'],
      ...(options.now ? { currentDate: options.now } : {}),
    }))
  } catch (err) {
    return { ok: false, reason: refusalReason(err) }
  }
  const claims = auditedClaims(payload)
  const matched = identitiesForClaims(bundle, payload)
  if (matched.length === 0) return { ok: false, reason: 'the token\'s claims match no identity\'s binding', claims }
  // The compiler refuses overlapping bindings; should two match anyway, neither is chosen.
  if (matched.length > 1) return { ok: false, reason: 'the token\'s claims match more than one identity', claims }
  return { ok: true, identity: matched[0]!, claims }
}

function refusalReason(err: unknown): string {
  // jose reports a token past the maximum age as expired, naming `iat`.
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? 'token older than the maximum age' : 'token expired'
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid'
    if (err.claim === 'iat') return 'token issued in the future'
    if (err.claim === 'aud') return 'wrong audience'
    if (err.claim === 'iss') return 'wrong issuer'
    return `claim \`${err.claim}\` is ${err.reason === 'missing' ? 'missing' : 'invalid'}`
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not allowed'
  if (err instanceof errors.JWKSNoMatchingKey) return 'signed by a key the issuer does not publish'
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'the token does not say which of the issuer\'s keys signed it'
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify'
  return 'not a valid signed JWT'
}

export interface WorkloadVerifier {
  verify(bundle: Bundle, token: string): Promise<TokenCheck>
}

export const CLOCK_SKEW_SECONDS = 60
/** Kubernetes refreshes a projected token when it is 80% through its lifetime (an hour by default), so it can be used 48 minutes after issue. */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 3600

export function createWorkloadVerifier(keys: IssuerKeys, maxTokenAgeSeconds: number): WorkloadVerifier {
  return { verify: (bundle, token) => verifyWorkloadToken(bundle, token, keys, { clockSkewSeconds: CLOCK_SKEW_SECONDS, maxTokenAgeSeconds }) }
}
