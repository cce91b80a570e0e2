// The pipeline: load → parse → validate → resolve → check → lint → emit.
// Every stage runs even when an earlier one found problems in some files, so
// one run reports everything; a bundle is emitted only when nothing is an error.
import type { KeyObject } from 'node:crypto'
import { now } from '../cli/clock.js'
import type { Bundle } from '../engine/types.js'
import { checkModel } from './check.js'
import { checkCredentials } from './credential-checks.js'
import { finalize, hasErrors, type Diagnostic } from './diagnostics.js'
import { emitBundle } from './emit.js'
import { lintModel } from './lint.js'
import type { LoadedRepository } from './load.js'
import { parseFile, type ParsedDocument } from './parse.js'
import { resolve, type Model } from './resolve.js'
import { validateDocuments } from './validate.js'

export interface CompileOptions {
  signingKey?: KeyObject
  /** "Today" for expiry lint; defaults to the current time. */
  now?: Date
  /** Skip lint (a diff needs only the bundles). */
  lint?: boolean
  /**
   * Parsed files to reuse across compilations: two revisions of a repository
   * share almost all their files, so a diff parses each distinct file once.
   */
  cache?: ParseCache
  /** The bundle's sequence, when the repository has no Git revision to take it from. */
  sequence?: number
}

export type ParseCache = Map<string, { parsed: ReturnType<typeof parseFile>; validated: ReturnType<typeof validateDocuments> }>

export interface CompileResult {
  diagnostics: Diagnostic[]
  /** Present when there are no errors. */
  bundle?: Bundle
  /** The bundle's bytes, when there is one. */
  bundleText?: string
  model?: Model
  /** File texts by path, for rendering findings with their source line. */
  sources: Map<string, string>
}

export async function compileRepository(repo: LoadedRepository, options: CompileOptions = {}): Promise<CompileResult> {
  const sources = new Map(repo.files.map((f) => [f.path, f.text]))
  const diagnostics = [...repo.diagnostics]
  const valid: ParsedDocument[] = []
  const invalid: ParsedDocument[] = []
  const unparsed: string[] = []
  // Nothing to check where there is nothing: no findings that follow from an absent repository.
  if (repo.diagnostics.some((d) => d.code === 'load.not_found')) return { diagnostics: finalize(diagnostics), sources }
  for (const file of repo.files) {
    const key = `${file.path}\0${file.text}`
    let entry = options.cache?.get(key)
    if (!entry) {
      const parsed = parseFile(file)
      entry = { parsed, validated: validateDocuments(parsed.documents) }
      options.cache?.set(key, entry)
    }
    const { parsed, validated } = entry
    diagnostics.push(...parsed.diagnostics, ...validated.diagnostics)
    if (hasErrors(parsed.diagnostics)) unparsed.push(file.text)
    valid.push(...validated.valid)
    invalid.push(...validated.invalid)
  }
  const resolved = resolve(valid, invalid, unparsed)
  diagnostics.push(...resolved.diagnostics)
  const model = resolved.model
  if (model) {
    diagnostics.push(...checkModel(model), ...checkCredentials(model))
    if (options.lint !== false) diagnostics.push(...lintModel(model, { now: options.now ?? now() }))
  }
  const final = finalize(diagnostics)
  const result: CompileResult = { diagnostics: final, sources }
  if (model) result.model = model
  if (model && !hasErrors(final)) {
    const emitted = emitBundle(model, {
      ...(repo.revision ? { revision: repo.revision } : {}),
      ...(options.signingKey ? { signingKey: options.signingKey } : {}),
      ...(options.sequence !== undefined ? { sequence: options.sequence } : {}),
    })
    result.bundle = emitted.bundle
    result.bundleText = emitted.text
  }
  return result
}
