// The bytes of SSH recordings, content-addressed: stored under their SHA-256,
// which the `ssh.output` audit event carries, so the hash chain vouches for
// them and a changed byte is detected when they are read back. Terminal
// output compresses well. Chunks are hashed and compressed (sealed) by
// recording-sealer.ts, off the thread that relays sessions.
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { inflateRaw } from 'node:zlib'
import type { Queryable } from './database.js'
import type { SealedChunk } from './recording-sealer.js'

const inflate = promisify(inflateRaw)

export function chunkDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Stores a sealed chunk under its digest (the same bytes twice are stored once); returns the digest. */
export async function saveRecordingChunk(db: Queryable, { digest, deflated }: SealedChunk): Promise<string> {
  await db.query('INSERT INTO gatehouse.recording_chunks (digest, deflated) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING', [digest, deflated])
  return digest
}

export class RecordingIntegrityError extends Error {
  readonly code = 'recording.integrity'
}

/** Each digest's bytes, or why they cannot be trusted (missing, not decompressible, not matching the digest). */
export async function readRecordingChunks(db: Queryable, digests: readonly string[]): Promise<Map<string, Buffer | string>> {
  const out = new Map<string, Buffer | string>()
  if (digests.length === 0) return out
  const rows = await db.query<{ digest: string; deflated: Buffer | Uint8Array }>('SELECT digest, deflated FROM gatehouse.recording_chunks WHERE digest = ANY($1::text[])', [[...new Set(digests)]])
  for (const row of rows) {
    const bytes = await inflate(row.deflated).catch(() => undefined)
    if (!bytes) out.set(row.digest, 'cannot be decompressed (altered)')
    else out.set(row.digest, chunkDigest(bytes) === row.digest ? bytes : 'does not match its digest (altered)')
  }
  for (const digest of digests) if (!out.has(digest)) out.set(digest, 'is missing')
  return out
}

/** The bytes of each digest; throws when one is missing or does not match its digest. */
export async function loadRecordingChunks(db: Queryable, digests: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const [digest, bytes] of await readRecordingChunks(db, digests)) {
    if (typeof bytes === 'string') throw new RecordingIntegrityError(`recorded output ${digest} ${bytes}`)
    out.set(digest, bytes)
  }
  return out
}
