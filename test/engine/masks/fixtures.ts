// Sample secrets and texts shared by the masking tests. Every value here is
// synthetic (test card numbers from the networks' documentation, the IBAN
// registry's examples, random tokens from a seeded PRNG).

/** mulberry32: a small seeded PRNG, so a failing random chunking can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const rand = prng(7)
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const B64URL = ALNUM + '-_'

/** `length` code points drawn from `alphabet`. */
export function randomOf(alphabet: string, length: number, random = rand): string {
  const points = Array.from(alphabet)
  let out = ''
  for (let k = 0; k < length; k++) out += points[Math.floor(random() * points.length)]
  return out
}

/** Appends the Luhn check digit to `body`. */
export function withLuhn(body: string): string {
  for (let d = 0; d <= 9; d++) {
    const candidate = body + d
    let sum = 0
    let double = false
    for (let k = candidate.length - 1; k >= 0; k--) {
      const v = candidate.charCodeAt(k) - 48
      sum += double ? (v * 2 > 9 ? v * 2 - 9 : v * 2) : v
      double = !double
    }
    if (sum % 10 === 0) return candidate
  }
  throw new Error('unreachable')
}

/** The same number with its check digit off by one: fails Luhn. */
export function breakLuhn(card: string): string {
  const last = card.charCodeAt(card.length - 1) - 48
  return card.slice(0, -1) + String((last + 1) % 10)
}

export const GITHUB_PAT = 'github_pat_11ABCDEFG0' + randomOf(ALNUM, 11) + '_' + randomOf(ALNUM, 59)
export const GHP = 'ghp_' + randomOf(ALNUM, 36)
export const GTH = 'gth_' + randomOf(B64URL, 43)
export const AWS = 'AKIAIOSFODNN7EXAMPLE'
export const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'

export function pem(label: string, bodyLines = 12): string {
  const lines: string[] = []
  for (let k = 0; k < bodyLines; k++) lines.push(randomOf(ALNUM + '+/', 64))
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----`
}
export const RSA_KEY = pem('RSA PRIVATE KEY')
export const OPENSSH_KEY = pem('OPENSSH PRIVATE KEY', 20)

/** Texts with a bit of everything, for the stream tests. */
export const MIXED_FIXTURES: readonly string[] = [
  'plain log line without secrets\n',
  'card 4111 1111 1111 1111 exp 12/25, amex 378282246310005; order 4111111111111112\n',
  'contact john.doe+ops@example.co.uk or jane@sub.example.org.\n',
  `export AWS_ACCESS_KEY_ID=${AWS}\nexport GITHUB_TOKEN=${GHP}\n`,
  `Authorization: Bearer ${JWT}\r\n`,
  `gatehouse token ${GTH} issued\n`,
  `key:\n${RSA_KEY}\ndone\n`,
  `{"key":"${OPENSSH_KEY.replace(/\n/g, '\\n')}","pat":"${GITHUB_PAT}"}`,
  'IBAN DE89 3704 0044 0532 0130 00 / GB82WEST12345698765432, ssn 123-45-6789 (not 000-12-3456)\n',
  'héllo wörld € 😀 4111111111111111 — naïve café a@b.example.com 日本語\n',
  'near misses: 1700000000000 2024-01-15T10:30:00Z 123e4567-e89b-12d3-a456-426614174000 eyJ.x.y ghp_short -----BEGIN PUBLIC KEY-----\n',
  'tail without newline john@example.com',
  'ends with a number 4111 1111 1111 1111',
  'ends mid-key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB',
]
