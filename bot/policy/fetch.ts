// Reads one commit of the policy repository through the GitHub API (the git
// commit, its recursive tree, and the blobs of policy files) into a private
// temporary directory, then loads it with the compiler's own loader, so the
// bot sees exactly what `gatehouse validate` would. Nothing is checked out
// and nothing from the repository is executed. Entries the loader would not
// read are not fetched; symbolic links are refused.
import { Buffer } from 'node:buffer'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Diagnostic } from '../../compiler/diagnostics.js'
import type { DiagnosticCode } from '../../compiler/errors.js'
import { LIMITS, loadDirectory, REPOSITORY_ENTRIES, type LoadedRepository } from '../../compiler/load.js'
import type { RepoRef } from '../config.js'
import type { GitHub } from '../github/client.js'

/**
 * Blob contents by repository and sha, shared by every evaluation: two
 * commits of a repository share almost all their files, so after the first
 * evaluation a push costs a tree listing and the changed blobs. A blob is
 * immutable, so the cache is never stale; it is bounded in bytes and drops
 * the least recently used blobs first. Entries are promises, so two
 * evaluations running at once fetch a blob once.
 */
export class BlobCache {
  private readonly entries = new Map<string, { blob: Promise<Buffer>; size: number }>()
  private bytes = 0
  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  get(key: string, fetch: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.entries.get(key)
    if (hit) {
      this.entries.delete(key)
      this.entries.set(key, hit)
      return hit.blob
    }
    const entry = { blob: fetch(), size: 0 }
    this.entries.set(key, entry)
    entry.blob.then(
      (bytes) => {
        if (this.entries.get(key) !== entry) return
        entry.size = bytes.length
        this.bytes += bytes.length
        for (const [k, e] of this.entries) {
          if (this.bytes <= this.maxBytes) break
          this.entries.delete(k)
          this.bytes -= e.size
        }
      },
      () => this.entries.get(key) === entry && this.entries.delete(key),
    )
    return entry.blob
  }
}

const FETCH_CONCURRENCY = 8

function finding(code: DiagnosticCode, file: string, message: string): Diagnostic {
  return { code, severity: 'error', file, line: 1, col: 1, endLine: 1, endCol: 1, message }
}

function wanted(entryPath: string): boolean {
  const parts = entryPath.split('/')
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith('.') || p.includes('\\') || p.includes('\0'))) return false
  if (!(REPOSITORY_ENTRIES as readonly string[]).includes(parts[0]!)) return false
  return parts.length === 1 ? entryPath === 'gatehouse.yaml' : /\.ya?ml$/.test(entryPath)
}

export function readBlob(github: GitHub, repo: RepoRef, sha: string, cache: BlobCache): Promise<Buffer> {
  return cache.get(`${repo.owner}/${repo.name}@${sha}`, async () => {
    const { data } = await github.request('GET /repos/{owner}/{repo}/git/blobs/{file_sha}', { owner: repo.owner, repo: repo.name, file_sha: sha })
    return Buffer.from(data.content, data.encoding === 'base64' ? 'base64' : 'utf8')
  })
}

export interface RepoEntry {
  path: string
  mode: string
  sha: string
  size: number
}

/** The commit's policy-relevant entries (or, with `all`, every file) and its commit time. */
export async function readTree(github: GitHub, repo: RepoRef, commitSha: string, options: { all?: boolean } = {}): Promise<{ entries: RepoEntry[]; time: number; treeSha: string }> {
  const { data: commit } = await github.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { owner: repo.owner, repo: repo.name, commit_sha: commitSha })
  const { data: tree } = await github.request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', { owner: repo.owner, repo: repo.name, tree_sha: commit.tree.sha, recursive: '1' })
  // A truncated listing would silently drop files (and the denies in them).
  if (tree.truncated) throw new Error(`the tree of ${commitSha} is too large for the GitHub API to list in one response`)
  const entries = tree.tree
    .filter((e) => e.type === 'blob' && typeof e.path === 'string' && typeof e.sha === 'string' && (options.all || wanted(e.path)))
    .map((e) => ({ path: e.path!, mode: e.mode ?? '100644', sha: e.sha!, size: e.size ?? 0 }))
  return { entries, time: Math.floor(new Date(commit.committer.date ?? 0).getTime() / 1000), treeSha: commit.tree.sha }
}

export async function loadRevision(github: GitHub, repo: RepoRef, commitSha: string, blobs: BlobCache): Promise<LoadedRepository> {
  const { entries, time } = await readTree(github, repo, commitSha)
  const diagnostics: Diagnostic[] = []
  const selected: RepoEntry[] = []
  let bytes = 0
  for (const entry of entries) {
    if (entry.mode === '120000') diagnostics.push(finding('load.symlink_outside', entry.path, 'symbolic links are not followed in a pull request; replace the link with the file itself'))
    else if (entry.size > LIMITS.fileBytes) diagnostics.push(finding('load.too_large', entry.path, `file is ${entry.size} bytes; the limit is ${LIMITS.fileBytes}`))
    else if (selected.length >= LIMITS.files || (bytes += entry.size) > LIMITS.totalBytes) {
      diagnostics.push(finding('load.too_many_files', '.', `the repository exceeds ${LIMITS.files} files or ${LIMITS.totalBytes} bytes`))
      break
    } else selected.push(entry)
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-bot-'))
  try {
    let next = 0
    const fetchOne = async (): Promise<void> => {
      while (next < selected.length) {
        const entry = selected[next++]!
        const content = await readBlob(github, repo, entry.sha, blobs)
        const target = path.join(dir, ...entry.path.split('/'))
        await mkdir(path.dirname(target), { recursive: true })
        await writeFile(target, content, { mode: 0o600 })
      }
    }
    await Promise.all(Array.from({ length: FETCH_CONCURRENCY }, fetchOne))
    const loaded = await loadDirectory(dir)
    return { files: loaded.files, diagnostics: [...diagnostics, ...loaded.diagnostics], revision: { commit: commitSha, time, dirty: false } }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
