// Where bundles come from: a file (watched, with a polling fallback, since
// editors and deploy tools replace files in ways fs.watch can miss) or an
// HTTP(S) URL polled with ETag so an unchanged bundle costs one 304.
import { Buffer } from 'node:buffer'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { MAX_BUNDLE_BYTES } from '../../engine/bundle-open.js'
import type { Logger } from '../../runtime/log.js'
import type { BundleState } from './state.js'

export interface BundleSource {
  /** Loads once now; resolves when the first attempt is done. */
  start(): Promise<void>
  stop(): void
}

export function createBundleSource(location: string, state: BundleState, log: Logger, options: { pollMs?: number } = {}): BundleSource {
  return /^https?:\/\//.test(location) ? httpSource(location, state, log, options.pollMs ?? 10_000) : fileSource(location, state, log, options.pollMs ?? 2_000)
}

function fileSource(file: string, state: BundleState, log: Logger, pollMs: number): BundleSource {
  let watcher: FSWatcher | undefined
  let timer: NodeJS.Timeout | undefined
  let lastSeen = ''
  let checking: Promise<void> = Promise.resolve()
  const check = () => {
    checking = checking.then(async () => {
      const info = await stat(file).catch(() => undefined)
      const key = info ? `${info.ino}:${info.size}:${info.mtimeMs}` : 'missing'
      if (key === lastSeen) return
      lastSeen = key
      if (!info) {
        log.warn('bundle file is missing; the bundle in force stays', { file })
        return
      }
      if (info.size > MAX_BUNDLE_BYTES) {
        log.warn('bundle file is too large', { file, size: info.size })
        return
      }
      const text = await readFile(file, 'utf8').catch((err: Error) => {
        log.warn('bundle file cannot be read', { file, error: err })
        return undefined
      })
      if (text !== undefined) await state.offer(text, `file:${file}`)
    })
    return checking
  }
  return {
    async start() {
      await check()
      try {
        // Watch the directory: an atomic rename replaces the file's inode.
        watcher = watch(path.dirname(path.resolve(file)), () => void check())
        watcher.on('error', () => undefined)
      } catch {
        // Polling below still works.
      }
      timer = setInterval(() => void check(), pollMs)
      timer.unref()
    },
    stop() {
      watcher?.close()
      if (timer) clearInterval(timer)
    },
  }
}

function httpSource(url: string, state: BundleState, log: Logger, pollMs: number): BundleSource {
  let etag: string | undefined
  let timer: NodeJS.Timeout | undefined
  const fetchOnce = async () => {
    try {
      const response = await fetch(url, { headers: etag ? { 'if-none-match': etag } : {}, signal: AbortSignal.timeout(15_000) })
      if (response.status === 304) return
      if (!response.ok) {
        log.warn('bundle source answered with an error; the bundle in force stays', { url, status: response.status })
        return
      }
      const length = Number(response.headers.get('content-length') ?? 0)
      if (length > MAX_BUNDLE_BYTES) {
        log.warn('bundle is too large', { url, length })
        return
      }
      const text = await readCapped(response, MAX_BUNDLE_BYTES)
      if (text === undefined) {
        log.warn('bundle is too large', { url })
        return
      }
      const result = await state.offer(text, url)
      if (result !== 'rejected') etag = response.headers.get('etag') ?? undefined
    } catch (err) {
      log.warn('bundle source unreachable; the bundle in force stays', { url, error: err as Error })
    }
  }
  return {
    async start() {
      await fetchOnce()
      timer = setInterval(() => void fetchOnce(), pollMs)
      timer.unref()
    },
    stop() {
      if (timer) clearInterval(timer)
    },
  }
}

async function readCapped(response: Response, limit: number): Promise<string | undefined> {
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > limit) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
