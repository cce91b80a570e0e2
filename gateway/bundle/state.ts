// The bundle in force, swapped atomically. A new bundle is verified by
// engine/bundle-open.ts and must be newer than the one in force (a higher
// sequence; a lower one is a rollback, an equal one with other content could
// be swapped back and forth) unless rollbacks are allowed; anything rejected
// is logged, reported to listeners (the audit trail, a metric), and the last
// good bundle stays. The last good bundle is persisted so a restart does not
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
  /** Accept bundles that are not newer than the one in force (an operator rolling back on purpose). */
  allowRollback?: boolean
  log: Logger
}

const PERSISTED = 'last-good-bundle.json'

export class BundleState {
  current: ActiveBundle | undefined
  lastRejection: Rejection | undefined
  private readonly listeners = new Set<(next: ActiveBundle, previous: ActiveBundle | undefined) => void>()
  private readonly rejectionListeners = new Set<(rejection: Rejection) => void>()

  constructor(private readonly options: BundleStateOptions) {}

  onChange(listener: (next: ActiveBundle, previous: ActiveBundle | undefined) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  onReject(listener: (rejection: Rejection) => void): () => void {
    this.rejectionListeners.add(listener)
    return () => this.rejectionListeners.delete(listener)
  }

  /** Verifies and, if acceptable, swaps in a bundle. Never throws. */
  async offer(text: string, origin: string): Promise<OfferResult> {
    const opened = openBundle(text, this.options.publicKey ? { publicKey: this.options.publicKey } : {})
    if (!opened.ok) return this.reject(origin, opened.code, opened.message)
    const { bundle, engine } = opened
    const current = this.current
    if (current?.digest === bundle.manifest.digest) return 'unchanged'
    if (current && bundle.manifest.sequence <= current.sequence && !this.options.allowRollback) {
      const older = bundle.manifest.sequence < current.sequence
      return this.reject(
        origin,
        older ? 'bundle.rollback' : 'bundle.not_newer',
        `revision ${bundle.manifest.revision} (sequence ${bundle.manifest.sequence}) is ${older ? 'older than' : 'no newer than'} ${current.revision} (sequence ${current.sequence}) in force`,
      )
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
    for (const listener of this.rejectionListeners) listener(this.lastRejection)
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
