// Stored credentials as the gateway uses them: only those still in force
// (before their `notAfter`) count, and a bearer token is compared with every
// verifier in constant time, so timing says nothing about which one matched.
import { Buffer } from 'node:buffer'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Bundle, BundleIdentity, CredentialDates, TokenVerifier } from '../engine/types.js'

/** Whether a credential may still be used at `now`. An unreadable `notAfter` fails closed. */
export function inForce(credential: CredentialDates, now: Date): boolean {
  if (credential.notAfter === undefined) return true
  const end = Date.parse(credential.notAfter)
  return Number.isFinite(end) && now.getTime() <= end
}

export function tokensInForce(identity: BundleIdentity | undefined, now: Date): TokenVerifier[] {
  return (identity?.credentials.tokens ?? []).filter((t) => inForce(t, now))
}

/** Whether `token` matches one of the digests, checking every one of them. */
export function matchesDigest(token: string, verifiers: readonly TokenVerifier[]): boolean {
  const given = createHash('sha256').update(token).digest()
  let found = false
  for (const verifier of verifiers) if (timingSafeEqual(Buffer.from(verifier.sha256, 'hex'), given)) found = true
  return found
}

/** The identity a static bearer token belongs to, among credentials in force. */
export function identityForStaticToken(bundle: Bundle, token: string, now: Date): string | undefined {
  let found: string | undefined
  for (const identity of Object.values(bundle.identities)) if (matchesDigest(token, tokensInForce(identity, now))) found = identity.name
  return found
}
