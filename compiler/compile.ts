// The pipeline: load → parse → validate → resolve → check → lint → emit.
// Every stage runs even when an earlier one found problems in some files, so
// one run reports everything; a bundle is emitted only when nothing is an error.
import type { KeyObject } from 'node:crypto'
import type { Bundle } from '../engine/types.js'
import { checkModel } from './check.js'
import { finalize, hasErrors, type Diagnostic } from './diagnostics.js'
import { emitBundle } from './emit.js'
import { lintModel } from './lint.js'
import type { LoadedRepository } from './load.js'
import { parseFiles } from './parse.js'
import { resolve, type Model } from './resolve.js'
import { validateDocuments } from './validate.js'

export interface CompileOptions {
  signingKey?: KeyObject
  /** "Today" for expiry lint; defaults to the current time. */
  now?: Date
}

export interface CompileResult {
  diagnostics: Diagnostic[]
  /** Present when there are no errors. */
  bundle?: Bundle
  model?: Model
  /** File texts by path, for rendering findings with their source line. */
  sources: Map<string, string>
}

export function compileRepository(repo: LoadedRepository, options: CompileOptions = {}): CompileResult {
  const sources = new Map(repo.files.map((f) => [f.path, f.text]))
  const parsed = parseFiles(repo.files)
  const validated = validateDocuments(parsed.documents)
  const diagnostics = [...repo.diagnostics, ...parsed.diagnostics, ...validated.diagnostics]
  const resolved = resolve(validated.valid, validated.invalid)
  diagnostics.push(...resolved.diagnostics)
  const model = resolved.model
  if (model) {
    diagnostics.push(...checkModel(model))
    diagnostics.push(...lintModel(model, { now: options.now ?? new Date() }))
  }
  const final = finalize(diagnostics)
  const result: CompileResult = { diagnostics: final, sources }
  if (model) result.model = model
  if (model && !hasErrors(final)) {
    result.bundle = emitBundle(model, {
      ...(repo.revision ? { revision: repo.revision } : {}),
      ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    })
  }
  return result
}
