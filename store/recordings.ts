// The bytes of SSH recordings, content-addressed: stored under their SHA-256,
// which the `ssh.output` audit event carries, so the hash chain vouches for
// them and a changed byte is detected when they are read back.
import { createHash } from 'node:crypto'
import type { Queryable } from './database.js'

export function chunkDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Stores `bytes` under their digest (the same bytes twice are stored once); returns the digest. */
export async function saveRecordingChunk(db: Queryable, bytes: Buffer): Promise<string> {
  const digest = chunkDigest(bytes)
  await db.query('INSERT INTO gatehouse.recording_chunks (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING', [digest, bytes])
  return digest
}

export class RecordingIntegrityError extends Error {
  readonly code = 'recording.integrity'
}

/** The bytes of each digest; throws when one is missing or does not match its digest. */
export async function loadRecordingChunks(db: Queryable, digests: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  if (digests.length === 0) return out
  const rows = await db.query<{ digest: string; bytes: Buffer | Uint8Array }>('SELECT digest, bytes FROM gatehouse.recording_chunks WHERE digest = ANY($1::text[])', [[...new Set(digests)]])
  for (const row of rows) {
    const bytes = Buffer.from(row.bytes)
    if (chunkDigest(bytes) !== row.digest) throw new RecordingIntegrityError(`recorded output ${row.digest} does not match its digest (altered)`)
    out.set(row.digest, bytes)
  }
  for (const digest of digests) if (!out.has(digest)) throw new RecordingIntegrityError(`recorded output ${digest} is missing`)
  return out
}
