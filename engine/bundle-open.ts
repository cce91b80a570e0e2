// From bundle bytes to a ready engine, with every check a consumer must make:
// size, JSON, schema, digest, signature (when a key is configured) and
// compilable conditions. The gateway and `gatehouse explain --bundle` both
// open bundles through here.
import { Buffer } from 'node:buffer'
import type { KeyObject } from 'node:crypto'
import type { ValidateFunction } from 'ajv'
import { checkIntegrity } from './bundle-integrity.js'
import { bundle as generatedValidator } from './bundle-validator.generated.js'
import { createEngine, type Engine } from './engine.js'
import type { Bundle } from './types.js'

export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024

export type OpenedBundle =
  | { ok: true; bundle: Bundle; engine: Engine }
  | { ok: false; code: 'bundle.too_large' | 'bundle.json' | 'bundle.schema' | 'bundle.digest_mismatch' | 'bundle.unsigned' | 'bundle.bad_signature' | 'bundle.conditions'; message: string }

/** Compiled from schemas/bundle.schema.json at development time (build/generate-validators.ts). */
const validator = generatedValidator as unknown as ValidateFunction

function validate(bundle: unknown): string[] {
  if (validator(bundle)) return []
  return (validator.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
}

export function openBundle(text: string, options: { publicKey?: KeyObject } = {}): OpenedBundle {
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES) return { ok: false, code: 'bundle.too_large', message: `bundle is over ${MAX_BUNDLE_BYTES} bytes` }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return { ok: false, code: 'bundle.json', message: `not JSON: ${(err as Error).message}` }
  }
  const problems = validate(parsed)
  if (problems.length > 0) return { ok: false, code: 'bundle.schema', message: `does not match the bundle schema: ${problems.join('; ')}` }
  const bundle = parsed as Bundle
  const integrity = checkIntegrity(bundle, options.publicKey)
  if (integrity) return { ok: false, code: integrity.code, message: integrity.message }
  const built = createEngine(bundle)
  if (!built.ok) return { ok: false, code: 'bundle.conditions', message: built.errors.join('; ') }
  return { ok: true, bundle, engine: built.engine }
}
