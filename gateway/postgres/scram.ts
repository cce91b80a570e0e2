// SCRAM-SHA-256 (RFC 5802, RFC 7677), both ends: the gateway is the server
// for automation (checking a client's proof against the verifier in the
// bundle, never seeing the token) and the client of the real database (with
// the resource's password, read at connection time).
import { Buffer } from 'node:buffer'
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest()

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** `a=1,b=2` attribute lists; the first occurrence of a name wins. */
function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of message.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1 && !out.has(part[0]!)) out.set(part[0]!, part.slice(2))
  }
  return out
}

/** RFC 4013 SASLprep, the parts that change bytes (as PostgreSQL and libpq apply it). */
export function saslprep(password: string): string {
  return password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, ' ')
    .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '')
    .normalize('NFKC')
}

export interface Verifier {
  iterations: number
  salt: Buffer
  storedKey: Buffer
  serverKey: Buffer
}

/** Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
export function parseVerifier(text: string): Verifier | undefined {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text)
  if (!match) return undefined
  const storedKey = Buffer.from(match[3]!, 'base64')
  const serverKey = Buffer.from(match[4]!, 'base64')
  if (storedKey.length !== 32 || serverKey.length !== 32) return undefined
  return { iterations: Number(match[1]), salt: Buffer.from(match[2]!, 'base64'), storedKey, serverKey }
}

export type ScramStep<T> = { ok: true; value: T } | { ok: false; reason: string }

/**
 * The server side of one exchange. A made-up verifier is used for unknown
 * identities, so a client cannot tell "no such identity" from "wrong token"
 * by how the exchange goes.
 */
export interface ScramServer {
  /** Handles client-first-message; returns server-first-message. */
  first(clientFirst: string): ScramStep<string>
  /** Handles client-final-message; returns server-final-message when the proof is right. */
  final(clientFinal: string): ScramStep<string>
}

/**
 * `verifiers` are the identity's tokens in force: one, or two while a token
 * is rotated. The salt and iteration count go to the client before it proves
 * anything, so only verifiers sharing those of the first can be told apart
 * by the proof; the compiler makes rotated verifiers share them.
 */
export function createScramServer(verifiers: readonly Verifier[]): ScramServer {
  const verifier = verifiers[0] ?? decoyVerifier()
  const candidates = verifiers.filter((v) => v.iterations === verifier.iterations && v.salt.equals(verifier.salt))
  let clientFirstBare = ''
  let serverFirst = ''
  let nonce = ''
  let gs2Header = ''
  return {
    first(clientFirst) {
      // gs2-header: `n,,` (no channel binding) or `y,,` (client could, server does not offer it).
      const match = /^([ny]),(?:a=[^,]*)?,(.*)$/s.exec(clientFirst)
      if (!match) return { ok: false, reason: clientFirst.startsWith('p') ? 'channel binding is not supported' : 'malformed client-first-message' }
      gs2Header = clientFirst.slice(0, clientFirst.length - match[2]!.length)
      clientFirstBare = match[2]!
      const clientNonce = attributes(clientFirstBare).get('r')
      if (!clientNonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) return { ok: false, reason: 'malformed client nonce' }
      nonce = clientNonce + randomBytes(18).toString('base64')
      serverFirst = `r=${nonce},s=${verifier.salt.toString('base64')},i=${verifier.iterations}`
      return { ok: true, value: serverFirst }
    },
    final(clientFinal) {
      const proofAt = clientFinal.lastIndexOf(',p=')
      if (proofAt < 0) return { ok: false, reason: 'malformed client-final-message' }
      const withoutProof = clientFinal.slice(0, proofAt)
      const attrs = attributes(withoutProof)
      if (attrs.get('c') !== Buffer.from(gs2Header).toString('base64')) return { ok: false, reason: 'channel binding mismatch' }
      if (attrs.get('r') !== nonce) return { ok: false, reason: 'nonce mismatch' }
      const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64')
      if (proof.length !== 32) return { ok: false, reason: 'malformed client proof' }
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`
      // Every candidate is checked, so the time taken does not say which one matched.
      let matched: Verifier | undefined
      for (const candidate of candidates) {
        const clientKey = xor(proof, hmac(candidate.storedKey, authMessage))
        if (timingSafeEqual(sha256(clientKey), candidate.storedKey)) matched = candidate
      }
      if (!matched) return { ok: false, reason: 'wrong proof' }
      return { ok: true, value: `v=${hmac(matched.serverKey, authMessage).toString('base64')}` }
    },
  }
}

/** A verifier nobody can satisfy: used for unknown identities so they fail the same way. */
export function decoyVerifier(): Verifier {
  return { iterations: 4096, salt: randomBytes(16), storedKey: randomBytes(32), serverKey: randomBytes(32) }
}

export interface ScramClient {
  readonly clientFirst: string
  /** Handles server-first-message; returns client-final-message. */
  final(serverFirst: string): ScramStep<string>
  /** Checks server-final-message: proves the server knew the password too. */
  verify(serverFinal: string): ScramStep<void>
}

/** The client side, for logging in to the real database with the resource's password. */
export function createScramClient(password: string, maxIterations = 100_000): ScramClient {
  const clientNonce = randomBytes(18).toString('base64')
  const clientFirstBare = `n=*,r=${clientNonce}`
  let serverSignature: Buffer | undefined
  return {
    clientFirst: `n,,${clientFirstBare}`,
    final(serverFirst) {
      const attrs = attributes(serverFirst)
      const nonce = attrs.get('r')
      const salt = attrs.get('s')
      const iterations = Number(attrs.get('i'))
      if (!nonce?.startsWith(clientNonce) || nonce.length === clientNonce.length) return { ok: false, reason: 'server nonce does not extend ours' }
      if (!salt || !Number.isInteger(iterations) || iterations < 1 || iterations > maxIterations) return { ok: false, reason: 'unacceptable salt or iteration count' }
      const salted = pbkdf2Sync(saslprep(password), Buffer.from(salt, 'base64'), iterations, 32, 'sha256')
      const clientKey = hmac(salted, 'Client Key')
      const withoutProof = `c=biws,r=${nonce}`
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`
      const proof = xor(clientKey, hmac(sha256(clientKey), authMessage))
      serverSignature = hmac(hmac(salted, 'Server Key'), authMessage)
      return { ok: true, value: `${withoutProof},p=${proof.toString('base64')}` }
    },
    verify(serverFinal) {
      const signature = Buffer.from(attributes(serverFinal).get('v') ?? '', 'base64')
      if (!serverSignature || signature.length !== serverSignature.length || !timingSafeEqual(signature, serverSignature)) {
        return { ok: false, reason: 'the server did not prove it knows the password' }
      }
      return { ok: true, value: undefined }
    },
  }
}
