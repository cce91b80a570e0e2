// Authenticating a client: user = identity, database = resource, password =
// the identity's token. SCRAM-SHA-256 against the verifier in the bundle
// (the token never reaches the gateway); cleartext only inside TLS, checked
// against the token's SHA-256 digest. Unknown identities go through the same
// exchange with a decoy verifier, so the answer does not reveal which names
// exist. Failures are rate-limited per identity and per source address.
import { Buffer } from 'node:buffer'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Bundle } from '../../engine/types.js'
import type { RateLimiter } from '../rate-limit.js'
import { parsePasswordMessage, parseSaslInitialResponse, type AuthenticationResponse } from './protocol/frontend.js'
import { buildAuthenticationCleartextPassword, buildAuthenticationOk, buildAuthenticationSASL, buildAuthenticationSASLContinue, buildAuthenticationSASLFinal } from './protocol/serialize.js'
import { createScramServer, decoyVerifier, parseVerifier } from './scram.js'

export type AuthResult = { ok: true } | { ok: false; reason: string; limited?: boolean }

export interface AuthExchange {
  /** Sends a message to the client. */
  send(message: Buffer): void
  /** The client's next authentication message. */
  next(): Promise<AuthenticationResponse>
}

export async function authenticateClient(
  bundle: Bundle | undefined,
  identityName: string,
  source: string,
  /** `cleartext` only on TLS connections, where the caller allows it. */
  method: 'scram' | 'cleartext',
  limiter: RateLimiter,
  exchange: AuthExchange,
): Promise<AuthResult> {
  const keys = [`identity:${identityName}`, `address:${source}`]
  if (!limiter.allowed(keys)) return { ok: false, reason: 'too many failed logins; try again later', limited: true }
  const identity = bundle && Object.hasOwn(bundle.identities, identityName) ? bundle.identities[identityName] : undefined
  const token = identity?.credentials.token
  const result = method === 'cleartext' ? await cleartext(token?.sha256, exchange) : await scram(token?.scram, exchange)
  if (result.ok && identity) {
    limiter.succeeded(keys)
    exchange.send(buildAuthenticationOk())
    return { ok: true }
  }
  limiter.failed(keys)
  return { ok: false, reason: result.ok ? 'unknown identity' : result.reason }
}

async function scram(verifierText: string | undefined, exchange: AuthExchange): Promise<AuthResult> {
  const verifier = (verifierText && parseVerifier(verifierText)) || decoyVerifier()
  const server = createScramServer(verifier)
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

async function cleartext(digestHex: string | undefined, exchange: AuthExchange): Promise<AuthResult> {
  exchange.send(buildAuthenticationCleartextPassword())
  const password = parsePasswordMessage((await exchange.next()).payload)
  const given = createHash('sha256').update(password).digest()
  const expected = digestHex ? Buffer.from(digestHex, 'hex') : createHash('sha256').update('\0no identity\0').digest()
  return timingSafeEqual(given, expected) && digestHex ? { ok: true } : { ok: false, reason: 'wrong token' }
}
