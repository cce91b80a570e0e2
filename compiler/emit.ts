// Stage 7: the bundle. Deterministic by construction: everything is ordered
// by name or source position, no clock is read, and the JSON is canonical.
import { createHash, type KeyObject } from 'node:crypto'
import { bundleDigest, canonicalJson, signBundle } from '../engine/bundle-integrity.js'
import type { Bundle } from '../engine/types.js'
import type { Revision } from './load.js'
import type { Model } from './resolve.js'
import { VERSION } from './version.js'

export interface EmitOptions {
  revision?: Revision
  signingKey?: KeyObject
}

export function emitBundle(model: Model, options: EmitOptions = {}): Bundle {
  const content = {
    settings: model.settings,
    identities: model.identities,
    resources: model.resources,
    policies: model.policies,
    rules: model.rules,
    index: model.index,
  }
  const contentDigest = createHash('sha256').update(canonicalJson(content)).digest('hex')
  const { revision } = options
  // A dirty tree is not the commit: say so, and tell different dirty states apart.
  const revisionName = !revision ? `content:${contentDigest.slice(0, 16)}` : revision.dirty ? `${revision.commit}+dirty.${contentDigest.slice(0, 12)}` : revision.commit
  const unsealed: Bundle = {
    manifest: { format: 'gatehouse.bundle/v1', revision: revisionName, sequence: revision?.time ?? 0, compiler: VERSION, digest: '' },
    ...content,
  }
  const bundle: Bundle = { ...unsealed, manifest: { ...unsealed.manifest, digest: bundleDigest(unsealed) } }
  return options.signingKey ? signBundle(bundle, options.signingKey) : bundle
}

/** The bytes written to disk: canonical JSON and a final newline. */
export function serializeBundle(bundle: Bundle): string {
  return canonicalJson(bundle) + '\n'
}
