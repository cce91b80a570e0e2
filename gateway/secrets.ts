// Secrets referenced by resources are read when a connection needs them, so
// a rotated secret is picked up without a restart. They are never logged.
import { Buffer } from 'node:buffer'
import { readFile } from 'node:fs/promises'
import type { SecretRef } from '../engine/types.js'

export class SecretUnavailableError extends Error {}

const MAX_SECRET_BYTES = 64 * 1024

export async function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if ('env' in ref) {
    const value = env[ref.env]
    if (value === undefined || value === '') throw new SecretUnavailableError(`environment variable ${ref.env} is not set`)
    return value
  }
  let text: string
  try {
    text = await readFile(ref.file, 'utf8')
  } catch (err) {
    throw new SecretUnavailableError(`secret file ${ref.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  if (Buffer.byteLength(text) > MAX_SECRET_BYTES) throw new SecretUnavailableError(`secret file ${ref.file} is too large`)
  // A trailing newline is an artefact of how files are written, not part of the secret.
  return text.replace(/\r?\n$/, '')
}
