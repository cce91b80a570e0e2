// Stage 7: the bundle. Deterministic by construction: everything is ordered
// by name or source position, no clock is read, and the JSON is canonical.
import { createHash, type KeyObject } from 'node:crypto'
import { canonicalJson, signBundle } from '../engine/bundle-integrity.js'
import type { Bundle, BundleManifest } from '../engine/types.js'
import type { Revision } from './load.js'
import type { Model } from './resolve.js'
import { VERSION } from './version.js'

export interface EmitOptions {
  revision?: Revision
  signingKey?: KeyObject
  /** Overrides the revision's commit time as the sequence gateways order bundles by. */
  sequence?: number
}

export interface EmittedBundle {
  bundle: Bundle
  /** The bytes to write: canonical JSON and a final newline. */
  text: string
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

export function emitBundle(model: Model, options: EmitOptions = {}): EmittedBundle {
  const content = {
    identities: model.identities,
    index: model.index,
    policies: model.policies,
    resources: model.resources,
    rules: model.rules,
    settings: model.settings,
  }
  // Each part is serialised once; the digest, the signature and the file are
  // all assembled from the same strings (keys in canonical, sorted order).
  const parts = Object.entries(content).map(([key, value]) => `${JSON.stringify(key)}:${canonicalJson(value)}`)
  const contentDigest = sha256(`{${parts.join(',')}}`)
  const { revision } = options
  // A dirty tree is not the commit: say so, and tell different dirty states apart.
  const revisionName = !revision ? `content:${contentDigest.slice(0, 16)}` : revision.dirty ? `${revision.commit}+dirty.${contentDigest.slice(0, 12)}` : revision.commit
  const manifest: BundleManifest = { format: 'gatehouse.bundle/v1', revision: revisionName, sequence: options.sequence ?? revision?.time ?? 0, compiler: VERSION, digest: '' }
  const assemble = (m: BundleManifest, signature?: Bundle['signature']) =>
    `{${[...parts.slice(0, 2), `"manifest":${canonicalJson(m)}`, ...parts.slice(2), ...(signature ? [`"signature":${canonicalJson(signature)}`] : [])].join(',')}}`
  manifest.digest = `sha256:${sha256(assemble(manifest))}`
  let bundle: Bundle = { manifest, ...content }
  if (options.signingKey) bundle = signBundle(bundle, options.signingKey)
  return { bundle, text: assemble(manifest, bundle.signature) + '\n' }
}
