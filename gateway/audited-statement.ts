// How a statement's text goes into its audit event: whole up to a cap, and
// beyond it a prefix plus the length and SHA-256 of the whole, so a
// megabyte-long statement neither bloats the trail nor loses its identity.
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'

export function auditedStatement(text: string, maxBytes: number): { statement: string; statementBytes?: number; statementSha256?: string } {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most statements need no measuring.
  if (text.length * 3 <= maxBytes) return { statement: text }
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= maxBytes) return { statement: text }
  // A cut through a multi-byte character decodes to U+FFFD: drop it.
  const prefix = bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '')
  return { statement: prefix, statementBytes: bytes.length, statementSha256: createHash('sha256').update(bytes).digest('hex') }
}
