// The audit queue kept on local disk while the store cannot take it: written
// when a write fails and at a close that could not flush, removed once the
// store holds everything, and written to the store by the next start
// (AuditWriter.resume) if the process stopped first. One file per chain,
// replaced atomically (written aside, flushed to disk, renamed).
import { Buffer } from 'node:buffer'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { AuditEventInput, SharedFields, StoredEvent } from './audit-log.js'

export interface SpooledQueue {
  chain: string
  /** The chain's head as the writer knew the store held it; the events follow it. */
  seq: number
  head: string
  events: { event: Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'>; usage: AuditEventInput['usage'] | undefined; shared?: SharedFields | undefined }[]
}

const SUFFIX = '.spool.json'

export class AuditSpool {
  /** Whether the file exists (as far as this process wrote it). */
  saved = false

  constructor(readonly file: string) {}

  /** The spool of `chain` in `dir`. */
  static forChain(dir: string, chain: string): AuditSpool {
    return new AuditSpool(path.join(dir, Buffer.from(chain).toString('base64url') + SUFFIX))
  }

  /** Spools left by earlier processes, oldest chain first. */
  static async list(dir: string): Promise<{ spool: AuditSpool; queue: SpooledQueue }[]> {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(SUFFIX)).sort()
    const found = []
    for (const name of names) {
      const spool = new AuditSpool(path.join(dir, name))
      spool.saved = true
      found.push({ spool, queue: JSON.parse(await readFile(spool.file, 'utf8')) as SpooledQueue })
    }
    return found
  }

  async save(queue: SpooledQueue): Promise<void> {
    if (queue.events.length === 0) return this.remove()
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const aside = `${this.file}.tmp`
    const handle = await open(aside, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify(queue))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(aside, this.file)
    this.saved = true
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true })
    this.saved = false
  }
}
