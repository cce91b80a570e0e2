// The bundle in force, swapped atomically. A new bundle is verified by
// engine/bundle-open.ts and must not be older than the one in force (a
// rollback); anything rejected is logged and reported, and the last good
// bundle stays. The last good bundle is persisted so a restart does not
// depend on its source. With no valid bundle at all, the gateway denies
// everything (there is no engine to allow anything).
import type { KeyObject } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { openBundle } from '../../engine/bundle-open.js'
import type { Engine } from '../../engine/engine.js'
import type { Bundle } from '../../engine/types.js'
import type { Logger } from '../../runtime/log.js'

export interface ActiveBundle {
  bundle: Bundle
  engine: Engine
  revision: string
  sequence: number
  digest: string
  loadedAt: Date
  origin: string
}

export interface Rejection {
  at: Date
  origin: string
  code: string
  reason: string
}

export type OfferResult = 'loaded' | 'unchanged' | 'rejected'

export interface BundleStateOptions {
  publicKey?: KeyObject
  /** Where the last good bundle is kept across restarts. */
  persistDir?: string
  log: Logger
}

const PERSISTED = 'last-good-bundle.json'

export class BundleState {
  current: ActiveBundle | undefined
  lastRejection: Rejection | undefined
  private readonly listeners = new Set<(next: ActiveBundle, previous: ActiveBundle | undefined) => void>()

  constructor(private readonly options: BundleStateOptions) {}

  onChange(listener: (next: ActiveBundle, previous: ActiveBundle | undefined) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Verifies and, if acceptable, swaps in a bundle. Never throws. */
  async offer(text: string, origin: string): Promise<OfferResult> {
    const opened = openBundle(text, this.options.publicKey ? { publicKey: this.options.publicKey } : {})
    if (!opened.ok) return this.reject(origin, opened.code, opened.message)
    const { bundle, engine } = opened
    const current = this.current
    if (current?.digest === bundle.manifest.digest) return 'unchanged'
    if (current && bundle.manifest.sequence < current.sequence) {
      return this.reject(origin, 'bundle.rollback', `revision ${bundle.manifest.revision} (sequence ${bundle.manifest.sequence}) is older than ${current.revision} (sequence ${current.sequence}) in force`)
    }
    const next: ActiveBundle = {
      bundle,
      engine,
      revision: bundle.manifest.revision,
      sequence: bundle.manifest.sequence,
      digest: bundle.manifest.digest,
      loadedAt: new Date(),
      origin,
    }
    this.current = next
    this.options.log.info('bundle loaded', { revision: next.revision, digest: next.digest, origin, identities: Object.keys(bundle.identities).length })
    for (const listener of this.listeners) listener(next, current)
    if (origin !== 'persisted') await this.persist(text)
    return 'loaded'
  }

  /** Loads the bundle persisted by an earlier run, if any. */
  async restore(): Promise<void> {
    if (!this.options.persistDir) return
    const text = await readFile(path.join(this.options.persistDir, PERSISTED), 'utf8').catch(() => undefined)
    if (text !== undefined) await this.offer(text, 'persisted')
  }

  private reject(origin: string, code: string, reason: string): OfferResult {
    this.lastRejection = { at: new Date(), origin, code, reason }
    this.options.log.warn('bundle rejected; the bundle in force stays', { origin, code, reason, revision: this.current?.revision ?? null })
    return 'rejected'
  }

  private async persist(text: string): Promise<void> {
    if (!this.options.persistDir) return
    try {
      await mkdir(this.options.persistDir, { recursive: true, mode: 0o700 })
      const target = path.join(this.options.persistDir, PERSISTED)
      await writeFile(`${target}.tmp`, text, { mode: 0o600 })
      await rename(`${target}.tmp`, target)
    } catch (err) {
      this.options.log.warn('could not persist the bundle', { error: err as Error })
    }
  }
}
