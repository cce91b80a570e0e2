// X-Hub-Signature-256 (GitHub: "Validating webhook deliveries"): an
// HMAC-SHA256 of the exact request bytes, hex, prefixed `sha256=`. Checked
// before anything reads the body, in constant time, against every configured
// secret (two while a secret is being rotated).
import { Buffer } from 'node:buffer'
import { createHmac, timingSafeEqual } from 'node:crypto'

const SIGNATURE = /^sha256=([0-9a-f]{64})$/

export function signPayload(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export function verifySignature(secrets: readonly string[], body: Uint8Array, header: string | undefined): boolean {
  const match = header ? SIGNATURE.exec(header) : null
  if (!match) return false
  const given = Buffer.from(match[1]!, 'hex')
  let ok = false
  // Every secret is tried, so the time taken does not tell which one matched.
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest()
    if (timingSafeEqual(expected, given)) ok = true
  }
  return ok
}
