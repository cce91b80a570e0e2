// Gateway tokens and their verifiers. The token is shown once, to the person
// creating the identity; the repository holds only verifiers: a PostgreSQL
// SCRAM-SHA-256 verifier (RFC 5802, RFC 7677) so PostgreSQL clients can log in
// with SCRAM, and a SHA-256 digest for HTTP bearer authentication.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

export const TOKEN_PREFIX = 'gth_'
/** PostgreSQL's default (`scram_iterations`). */
export const SCRAM_ITERATIONS = 4096

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid. */
export function scramVerifier(token: string, salt = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  // Tokens are printable ASCII, which SASLprep leaves unchanged.
  const salted = pbkdf2Sync(token, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
