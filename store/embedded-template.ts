// A new embedded store, made once at build time and copied into place on a
// first start. PGlite's own first start runs initdb inside the process: about
// 2.5 s, and three WebAssembly instances whose memory the process keeps for
// good (an idle gateway stayed at about 800 MB instead of 200 MB); creating
// the store's tables then costs about 0.6 s more. Unpacking the same files
// takes a fraction of that and loads nothing.
//
// The template is PGlite's own dump (`dumpDataDir`, a gzipped ustar archive)
// of a database initialised and migrated with schemas/store/. Its name carries
// the PGlite version and a digest of the migrations: a template made by
// another version is never used (the store is then initialised the slow way),
// and migrate() brings any store up to date whatever it started from.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { readdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { migrationsDir } from './migrate.js'

/** The unpacked template is about 40 MB; anything far larger is not ours. */
const MAX_UNPACKED_BYTES = 256 * 1024 * 1024
const BLOCK = 512

/**
 * Where the build puts templates: `dist/`. This module runs from
 * `dist/store/` (the built command) and from `store/` (the tests, through tsx).
 */
const TEMPLATE_DIRS = ['..', '../dist'].map((up) => fileURLToPath(new URL(`${up}/`, import.meta.url)))

export async function pgliteVersion(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'))
  let dir = path.dirname(entry)
  // The package's exports do not include package.json: walk up to it.
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return (JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version
}

/** The template's file name for this PGlite version and these migrations. */
export async function templateName(): Promise<string> {
  const dir = migrationsDir()
  const hash = createHash('sha256')
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()) hash.update(`${file}\0`).update(await readFile(path.join(dir, file))).update('\0')
  return `pglite-${await pgliteVersion()}-store-${hash.digest('hex').slice(0, 12)}.tar.gz`
}

async function findTemplate(): Promise<string | undefined> {
  const name = await templateName()
  return TEMPLATE_DIRS.map((dir) => path.join(dir, name)).find((file) => existsSync(file))
}

/**
 * Fills `dataDir` (which must not exist) from the template. False when there
 * is no template for this PGlite version. The files are unpacked beside it and
 * renamed into place, so a crash never leaves a half-made directory that
 * PGlite would take for an existing store.
 */
export async function unpackTemplate(dataDir: string): Promise<boolean> {
  const template = await findTemplate()
  if (!template) return false
  const archive = gunzipSync(await readFile(template), { maxOutputLength: MAX_UNPACKED_BYTES, chunkSize: 1024 * 1024 })
  const partial = `${dataDir}.partial`
  await rm(partial, { recursive: true, force: true })
  // About a thousand small files: synchronous calls, at start-up, cost a
  // fraction of as many promises.
  mkdirSync(partial, { recursive: true, mode: 0o700 })
  for (const entry of readTar(archive)) {
    const target = path.join(partial, entry.name)
    if (entry.type === 'directory') mkdirSync(target, { recursive: true, mode: 0o700 })
    else {
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 })
      writeFileSync(target, entry.data, { mode: 0o600 })
    }
  }
  await rename(partial, dataDir)
  return true
}

interface TarEntry {
  name: string
  type: 'file' | 'directory'
  data: Uint8Array
}

/** The ustar subset PGlite writes: regular files and directories, nothing else. */
export function* readTar(archive: Uint8Array): Generator<TarEntry> {
  const text = (from: number, length: number) => {
    const field = archive.subarray(from, from + length)
    const end = field.indexOf(0)
    return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8')
  }
  for (let at = 0; at + BLOCK <= archive.length; ) {
    if (archive.subarray(at, at + BLOCK).every((byte) => byte === 0)) return
    const prefix = text(at + 345, 155)
    const rawName = prefix ? `${prefix}/${text(at, 100)}` : text(at, 100)
    const size = Number.parseInt(text(at + 124, 12).trim() || '0', 8)
    const flag = String.fromCharCode(archive[at + 156] ?? 0)
    const name = rawName.replace(/^\/+/, '').replace(/\/+$/, '')
    if (!Number.isSafeInteger(size) || size < 0 || at + BLOCK + size > archive.length) throw new Error(`template: bad size for \`${rawName}\``)
    if (name === '' || name.split('/').some((part) => part === '..' || part === '.')) throw new Error(`template: unsafe name \`${rawName}\``)
    const type = flag === '5' ? 'directory' : flag === '0' || flag === '\0' ? 'file' : undefined
    if (!type) throw new Error(`template: unsupported entry type \`${flag}\` for \`${rawName}\``)
    yield { name, type, data: archive.subarray(at + BLOCK, at + BLOCK + size) }
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK
  }
}
