// Public-key authentication of SSH clients against the identities' keys in the
// bundle (RFC 4252 §7). A key offered without a signature is only a question
// ("would this key do?"); a login needs the signature over the session
// identifier, verified with the stored key. The login user names the target
// resource; the identity is whoever owns the key.
import { createHash, timingSafeEqual } from 'node:crypto'
import ssh2, { type ParsedKey, type PublicKeyAuthContext } from 'ssh2'
import type { Bundle, SshKeyCredential } from '../../engine/types.js'
import { inForce } from '../credentials.js'

interface KnownKey {
  identity: string
  blob: Buffer
  key: ParsedKey
  credential: SshKeyCredential
}

/** Keys by the SHA-256 of their wire form, per bundle (built once, on first use). */
const indexes = new WeakMap<Bundle, Map<string, KnownKey>>()

function indexOf(bundle: Bundle): Map<string, KnownKey> {
  let index = indexes.get(bundle)
  if (index) return index
  index = new Map()
  for (const identity of Object.values(bundle.identities)) {
    for (const credential of identity.credentials.sshKeys) {
      const parsed = ssh2.utils.parseKey(credential.key)
      if (parsed instanceof Error || Array.isArray(parsed)) continue
      const blob = parsed.getPublicSSH()
      const digest = createHash('sha256').update(blob).digest('hex')
      // The first identity listing a key keeps it: a shared key must not let one identity pass for another at random.
      if (!index.has(digest)) index.set(digest, { identity: identity.name, blob, key: parsed, credential })
    }
  }
  indexes.set(bundle, index)
  return index
}

/** The identity owning the offered key, or undefined. The match is confirmed in constant time. */
export function identityForKey(bundle: Bundle, offered: Buffer): KnownKey | undefined {
  const candidate = indexOf(bundle).get(createHash('sha256').update(offered).digest('hex'))
  if (!candidate || candidate.blob.length !== offered.length) return undefined
  return timingSafeEqual(candidate.blob, offered) ? candidate : undefined
}

export type KeyCheck =
  | { kind: 'unknown' }
  | { kind: 'retired'; identity: string; notAfter: string }
  | { kind: 'query'; identity: string }
  | { kind: 'bad-signature'; identity: string }
  | { kind: 'verified'; identity: string }

/** What a publickey attempt proves. A key past its `notAfter` proves nothing any more. */
export function checkPublicKey(bundle: Bundle, ctx: Pick<PublicKeyAuthContext, 'key' | 'signature' | 'blob' | 'hashAlgo'>, now = new Date()): KeyCheck {
  const known = identityForKey(bundle, ctx.key.data)
  if (!known) return { kind: 'unknown' }
  if (!inForce(known.credential, now)) return { kind: 'retired', identity: known.identity, notAfter: known.credential.notAfter! }
  if (!ctx.signature || !ctx.blob) return { kind: 'query', identity: known.identity }
  let valid: boolean | Error
  try {
    valid = known.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)
  } catch {
    valid = false
  }
  return valid === true ? { kind: 'verified', identity: known.identity } : { kind: 'bad-signature', identity: known.identity }
}

/** `SHA256:…` as `ssh-keygen -l` prints it, for logs. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}
