// Canonical JSON, content digest and Ed25519 signature of a bundle: the
// compiler seals a bundle with these and the gateway checks it with the same
// code, so both sides agree on every byte.
import { Buffer } from 'node:buffer'
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { Bundle } from './types.js'

/** JSON with object keys sorted at every level and no insignificant whitespace. */
export function canonicalJson(value: unknown): string {
  // Built by concatenation: this runs for every audit event, and V8 joins strings cheaply.
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      out += (i === 0 ? '' : ',') + (item === undefined ? 'null' : canonicalJson(item))
    }
    return out + ']'
  }
  const record = value as Record<string, unknown>
  let out = '{'
  for (const key of Object.keys(record).sort()) {
    const item = record[key]
    if (item === undefined) continue
    out += (out.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(item)
  }
  return out + '}'
}

/** The digest covers the whole bundle except `manifest.digest` and `signature`. */
export function bundleDigest(bundle: Bundle): string {
  const { signature: _signature, ...rest } = bundle
  const unsealed = { ...rest, manifest: { ...bundle.manifest, digest: '' } }
  return 'sha256:' + createHash('sha256').update(canonicalJson(unsealed)).digest('hex')
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)
}

export function signBundle(bundle: Bundle, privateKey: KeyObject): Bundle {
  const value = sign(null, Buffer.from(bundle.manifest.digest), privateKey).toString('base64')
  return { ...bundle, signature: { algorithm: 'ed25519', keyId: keyId(createPublicKey(privateKey)), value } }
}

export type IntegrityProblem =
  | { code: 'bundle.digest_mismatch'; message: string }
  | { code: 'bundle.unsigned'; message: string }
  | { code: 'bundle.bad_signature'; message: string }

/** Checks the digest, and the signature when a public key is given. */
export function checkIntegrity(bundle: Bundle, publicKey?: KeyObject): IntegrityProblem | undefined {
  const digest = bundleDigest(bundle)
  if (digest !== bundle.manifest.digest) {
    return { code: 'bundle.digest_mismatch', message: `content digest is ${digest}, the manifest says ${bundle.manifest.digest}` }
  }
  if (!publicKey) return undefined
  if (!bundle.signature) return { code: 'bundle.unsigned', message: 'bundle is not signed but a signing key is configured' }
  if (bundle.signature.keyId !== keyId(publicKey)) {
    return { code: 'bundle.bad_signature', message: `bundle was signed by key ${bundle.signature.keyId}, expected ${keyId(publicKey)}` }
  }
  const ok = verify(null, Buffer.from(bundle.manifest.digest), publicKey, Buffer.from(bundle.signature.value, 'base64'))
  return ok ? undefined : { code: 'bundle.bad_signature', message: 'signature does not verify' }
}
