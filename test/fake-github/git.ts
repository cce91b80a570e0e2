// The in-memory Git objects behind a fake repository: blobs, trees (kept as
// flat path → blob maps, which is all the recursive tree API shows), commits
// and refs, with content-derived shas like Git's.
import { createHash } from 'node:crypto'

export interface TreeEntry {
  mode: string
  sha: string
}
export interface Commit {
  sha: string
  tree: string
  parents: string[]
  message: string
  date: string
  /** The GitHub login the fake attributes the commit to (author and committer); empty: an e-mail address linked to no account. */
  login: string
  /** Whether GitHub verified the commit's signature. */
  verified: boolean
}

const sha1 = (kind: string, data: string | Buffer) => createHash('sha1').update(`${kind} ${Buffer.byteLength(data)}\0`).update(data).digest('hex')

export class GitStore {
  readonly blobs = new Map<string, Buffer>()
  readonly trees = new Map<string, Map<string, TreeEntry>>()
  readonly commits = new Map<string, Commit>()
  readonly refs = new Map<string, string>()
  private clock = Date.parse('2026-11-01T00:00:00Z')

  putBlob(content: string | Buffer): string {
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content)
    const sha = sha1('blob', bytes)
    this.blobs.set(sha, bytes)
    return sha
  }

  putTree(entries: Map<string, TreeEntry>): string {
    const sorted = new Map([...entries].sort(([a], [b]) => (a < b ? -1 : 1)))
    const sha = sha1('tree', JSON.stringify([...sorted]))
    this.trees.set(sha, sorted)
    return sha
  }

  /** Commits made from now on are dated from `date` on (a minute apart), as if made then. */
  setClock(date: string): void {
    this.clock = Date.parse(date)
  }

  putCommit(tree: string, parents: string[], message: string, login: string, verified = false): string {
    this.clock += 60_000
    const date = new Date(this.clock).toISOString()
    const sha = sha1('commit', JSON.stringify({ tree, parents, message, date, login }))
    this.commits.set(sha, { sha, tree, parents, message, date, login, verified })
    return sha
  }

  /** Commits `files` (null deletes) on top of `branch` (created from `from` when new). */
  commitFiles(branch: string, files: Record<string, string | null>, options: { login?: string; message?: string; from?: string; verified?: boolean } = {}): string {
    const parent = this.refs.get(`heads/${branch}`) ?? (options.from ? this.refs.get(`heads/${options.from}`) : undefined)
    const entries = new Map(parent ? this.trees.get(this.commits.get(parent)!.tree)! : [])
    for (const [path, content] of Object.entries(files)) {
      if (content === null) entries.delete(path)
      else entries.set(path, { mode: '100644', sha: this.putBlob(content) })
    }
    const sha = this.putCommit(this.putTree(entries), parent ? [parent] : [], options.message ?? `update ${Object.keys(files).join(', ')}`, options.login ?? 'octocat', options.verified)
    this.refs.set(`heads/${branch}`, sha)
    return sha
  }

  ancestors(sha: string): Set<string> {
    const seen = new Set<string>()
    const queue = [sha]
    while (queue.length > 0) {
      const next = queue.pop()!
      if (seen.has(next)) continue
      seen.add(next)
      queue.push(...(this.commits.get(next)?.parents ?? []))
    }
    return seen
  }

  /** The nearest common ancestor (first found walking back from head). */
  mergeBase(base: string, head: string): string | undefined {
    const reachable = this.ancestors(base)
    const queue = [head]
    const seen = new Set<string>()
    while (queue.length > 0) {
      const next = queue.shift()!
      if (reachable.has(next)) return next
      if (seen.has(next)) continue
      seen.add(next)
      queue.push(...(this.commits.get(next)?.parents ?? []))
    }
    return undefined
  }

  resolve(ref: string): string | undefined {
    if (this.commits.has(ref)) return ref
    return this.refs.get(`heads/${ref}`) ?? this.refs.get(ref)
  }

  fileAt(ref: string, path: string): string | undefined {
    const sha = this.resolve(ref)
    const entry = sha ? this.trees.get(this.commits.get(sha)!.tree)!.get(path) : undefined
    return entry ? this.blobs.get(entry.sha)!.toString('utf8') : undefined
  }
}
