// Stage 1: read the policy repository's files, from a directory or from a Git
// revision, refusing what must not be read (oversized or binary files,
// symbolic links that lead outside the repository).
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs'
import path from 'node:path'
import { didYouMean, type Diagnostic } from './diagnostics.js'
import type { DiagnosticCode } from './errors.js'

export const LIMITS = { fileBytes: 1024 * 1024, files: 50_000, totalBytes: 512 * 1024 * 1024 }

/** Top-level entries that make up a policy repository; anything else is not read. */
export const REPOSITORY_ENTRIES = ['gatehouse.yaml', 'identities', 'resources', 'policies', 'tests'] as const

export interface SourceFile {
  /** Repository-relative, `/`-separated. */
  path: string
  text: string
}

export interface Revision {
  commit: string
  /** Commit time, seconds since the epoch. */
  time: number
  /** The working tree differs from the commit. */
  dirty: boolean
}

export interface LoadedRepository {
  /** Sorted by path. */
  files: SourceFile[]
  diagnostics: Diagnostic[]
  revision?: Revision
}

const isYaml = (name: string) => name.endsWith('.yaml') || name.endsWith('.yml')
const decoder = new TextDecoder('utf-8', { fatal: true })

function fileDiagnostic(code: DiagnosticCode, file: string, message: string, help?: string): Diagnostic {
  return { code, severity: 'error', file, line: 1, col: 1, endLine: 1, endCol: 1, message, ...(help ? { help } : {}) }
}

/** Decodes UTF-8 text, refusing binary content. */
function decode(file: string, bytes: Uint8Array): SourceFile | Diagnostic {
  if (bytes.includes(0)) return fileDiagnostic('load.binary', file, 'file contains NUL bytes: policy files must be UTF-8 text')
  try {
    return { path: file, text: decoder.decode(bytes).replace(/^\uFEFF/, '') }
  } catch {
    return fileDiagnostic('load.binary', file, 'file is not valid UTF-8: policy files must be UTF-8 text')
  }
}

function isInside(root: string, target: string): boolean {
  const relative = path.relative(root, target)
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
}

class Budget {
  files = 0
  bytes = 0
  exceeded = false
  take(size: number): boolean {
    this.files++
    this.bytes += size
    if (this.files > LIMITS.files || this.bytes > LIMITS.totalBytes) this.exceeded = true
    return !this.exceeded
  }
}

/**
 * Reads a policy repository from disk. Synchronous file calls on purpose: a
 * repository is thousands of small files, and one promise per call costs
 * more than the reads themselves.
 */
export async function loadDirectory(dir: string): Promise<LoadedRepository> {
  const diagnostics: Diagnostic[] = []
  const files: SourceFile[] = []
  let root: string
  try {
    root = realpathSync(dir)
    if (!statSync(root).isDirectory()) throw new Error('not a directory')
  } catch {
    return { files, diagnostics: [fileDiagnostic('load.not_found', '.', `\`${dir}\` is not a readable directory`)] }
  }
  const budget = new Budget()
  const visited = new Set<string>()
  const fail = (code: DiagnosticCode, relative: string, message: string, help?: string) => diagnostics.push(fileDiagnostic(code, relative, message, help))

  const visit = (relative: string, topLevel: boolean): void => {
    if (budget.exceeded) return
    const absolute = path.join(root, relative)
    let info: Stats | undefined
    let real = absolute
    try {
      info = lstatSync(absolute, { throwIfNoEntry: false })
      if (!info) return
      if (info.isSymbolicLink()) {
        const target = (() => {
          try {
            return realpathSync(absolute)
          } catch {
            return undefined
          }
        })()
        // A dangling link is refused like an escaping one: it points at nothing we may read.
        if (!target || !isInside(root, target)) {
          fail('load.symlink_outside', relative, 'symbolic link leads outside the repository', 'replace the link with the file itself')
          return
        }
        real = target
        info = statSync(real)
      }
    } catch {
      fail('load.unreadable', relative, 'file could not be read')
      return
    }
    if (info.isDirectory()) {
      if (visited.has(real)) return
      visited.add(real)
      for (const entry of readdirSync(absolute).sort()) if (!entry.startsWith('.')) visit(path.posix.join(relative, entry), false)
      return
    }
    if (!info.isFile() || (!topLevel && !isYaml(relative))) return
    if (!budget.take(info.size)) {
      fail('load.too_many_files', '.', `the repository exceeds ${LIMITS.files} files or ${LIMITS.totalBytes} bytes`)
      return
    }
    if (info.size > LIMITS.fileBytes) {
      fail('load.too_large', relative, `file is ${info.size} bytes; the limit is ${LIMITS.fileBytes}`, 'split it into several files')
      return
    }
    let bytes: Buffer
    try {
      bytes = readFileSync(real)
    } catch {
      fail('load.unreadable', relative, 'file could not be read')
      return
    }
    const decoded = decode(relative, bytes)
    if ('code' in decoded) diagnostics.push(decoded)
    else files.push(decoded)
  }

  for (const entry of REPOSITORY_ENTRIES) visit(entry, true)
  files.sort((a, b) => (a.path < b.path ? -1 : 1))
  const revision = await readWorkingRevision(root)
  return { files, diagnostics, ...(revision ? { revision } : {}) }
}

/** Runs git and collects its output; rejects on a non-zero exit or when the output exceeds the limit. */
function gitBytes(dir: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', dir, ...args], { stdio: ['pipe', 'pipe', 'ignore'] })
    const chunks: Buffer[] = []
    let size = 0
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > LIMITS.totalBytes * 2) child.kill()
      else chunks.push(chunk)
    })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`git ${args[0]} exited with ${code}`))))
    child.stdin.on('error', () => undefined)
    child.stdin.end(input ?? '')
  })
}

async function git(dir: string, args: string[]): Promise<string> {
  return (await gitBytes(dir, args)).toString('utf8')
}

/** The commit a working directory is at, if it is inside a Git repository. */
async function readWorkingRevision(dir: string): Promise<Revision | undefined> {
  try {
    const [head, status] = await Promise.all([
      git(dir, ['log', '-1', '--format=%H %ct', 'HEAD']),
      git(dir, ['status', '--porcelain', '--untracked-files=all', '--', ...REPOSITORY_ENTRIES]),
    ])
    const [commit, time] = head.trim().split(' ')
    if (!commit || !time) return undefined
    return { commit, time: Number(time), dirty: status.trim() !== '' }
  } catch {
    return undefined
  }
}

interface TreeEntry {
  mode: string
  object: string
  size: number
  path: string
}

/**
 * Reads the policy repository as it is at `rev`. `dir` may be a subdirectory
 * of the Git work tree (a policy repository kept in a monorepo).
 */
export async function loadGitRevision(dir: string, rev: string): Promise<LoadedRepository> {
  const diagnostics: Diagnostic[] = []
  let commit: string
  let time: number
  let prefix: string
  try {
    prefix = (await git(dir, ['rev-parse', '--show-prefix'])).trim()
    const line = (await git(dir, ['log', '-1', '--format=%H %ct', `${rev}^{commit}`, '--'])).trim().split(' ')
    commit = line[0] ?? ''
    time = Number(line[1])
    if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error('no commit')
  } catch {
    const refs = await git(dir, ['for-each-ref', '--format=%(refname:short)', 'refs/heads', 'refs/tags', 'refs/remotes']).catch(() => '')
    const near = didYouMean(rev, refs.split('\n').filter(Boolean))
    return { files: [], diagnostics: [fileDiagnostic('load.not_found', '.', `unknown revision \`${rev}\` in the Git repository at \`${dir}\``, near.help)] }
  }
  const listing = await git(dir, ['ls-tree', '-r', '-z', '--long', '--full-tree', commit, '--', ...REPOSITORY_ENTRIES.map((e) => prefix + e)])
  const entries = new Map<string, TreeEntry>()
  for (const record of listing.split('\0')) {
    const match = /^(\d+) (\w+) ([0-9a-f]+) +(-|\d+)\t(.*)$/s.exec(record)
    if (!match || match[2] !== 'blob') continue
    const relative = match[5]!.slice(prefix.length)
    entries.set(relative, { mode: match[1]!, object: match[3]!, size: Number(match[4]), path: relative })
  }
  const selected: TreeEntry[] = []
  const budget = new Budget()
  for (const entry of [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const topLevel = !entry.path.includes('/')
    if (!topLevel && !isYaml(entry.path)) continue
    if (entry.path.split('/').some((part) => part.startsWith('.'))) continue
    let target = entry
    if (entry.mode === '120000') {
      const linkTarget = (await git(dir, ['cat-file', 'blob', entry.object])).trim()
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entry.path), linkTarget))
      const inside = !path.posix.isAbsolute(linkTarget) && !resolved.startsWith('../') && resolved !== '..'
      const found = inside ? entries.get(resolved) : undefined
      if (!found || found.mode === '120000') {
        diagnostics.push(
          fileDiagnostic('load.symlink_outside', entry.path, 'symbolic link leads outside the repository', 'replace the link with the file itself'),
        )
        continue
      }
      target = { ...found, path: entry.path }
    }
    if (!budget.take(target.size)) {
      diagnostics.push(fileDiagnostic('load.too_many_files', '.', `the repository exceeds ${LIMITS.files} files or ${LIMITS.totalBytes} bytes`))
      break
    }
    if (target.size > LIMITS.fileBytes) {
      diagnostics.push(fileDiagnostic('load.too_large', entry.path, `file is ${target.size} bytes; the limit is ${LIMITS.fileBytes}`, 'split it into several files'))
      continue
    }
    selected.push(target)
  }
  const files: SourceFile[] = []
  for (const [entry, bytes] of zip(selected, await readBlobs(dir, selected.map((e) => e.object)))) {
    const decoded = decode(entry.path, bytes)
    if ('code' in decoded) diagnostics.push(decoded)
    else files.push(decoded)
  }
  return { files, diagnostics, revision: { commit, time, dirty: false } }
}

function* zip<A, B>(a: A[], b: B[]): Generator<[A, B]> {
  for (let i = 0; i < a.length; i++) yield [a[i]!, b[i]!]
}

/** Reads many blobs in one `git cat-file --batch` process. */
async function readBlobs(dir: string, objects: string[]): Promise<Buffer[]> {
  if (objects.length === 0) return []
  const out = await gitBytes(dir, ['cat-file', '--batch'], objects.join('\n') + '\n')
  const blobs: Buffer[] = []
  let offset = 0
  for (let i = 0; i < objects.length; i++) {
    const headerEnd = out.indexOf(10, offset)
    const header = out.subarray(offset, headerEnd).toString('latin1')
    const size = Number(header.split(' ')[2])
    blobs.push(out.subarray(headerEnd + 1, headerEnd + 1 + size))
    offset = headerEnd + 1 + size + 1
  }
  return blobs
}

/** A directory on disk, or `REV` / `REV:DIR` naming a Git revision. */
export async function loadRepository(spec: string, defaultDir = '.'): Promise<LoadedRepository> {
  const isDirectory = statSync(spec, { throwIfNoEntry: false })?.isDirectory() ?? false
  if (isDirectory) return loadDirectory(spec)
  const colon = spec.indexOf(':')
  if (colon > 0) return loadGitRevision(spec.slice(colon + 1) || defaultDir, spec.slice(0, colon))
  return loadGitRevision(defaultDir, spec)
}
