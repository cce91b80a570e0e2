// A fake GitHub REST API for the bot's tests: in-memory repositories (Git
// objects and refs, pull requests, issues, comments, reactions, reviews are
// sent as webhooks by the tests), check runs and statuses, organisation and
// team membership, and an App's installation tokens. Routes by method and
// path; every request is recorded so tests assert on what the bot sent.
// Faults (5xx, rate limits) can be injected for the next matching requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { GitStore } from './git.js'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  body: any
  status: number
}

export interface Comment {
  id: number
  issue: number
  body: string
  user: string
  reactions: string[]
  created_at: string
}

export interface Issue {
  number: number
  title: string
  body: string
  state: 'open' | 'closed'
  user: string
  labels: string[]
  assignees?: string[]
  stateReason?: string
  closedAt?: string
  mergedAt?: string
  pull?: { head: string; base: string; reviewers: string[]; teamReviewers: string[] }
  /** Timeline events (`head_ref_force_pushed` and the like) as GitHub lists them. */
  timeline?: Array<Record<string, unknown>>
}

export interface CheckRun {
  id: number
  name: string
  head_sha: string
  status: string
  conclusion: string | null
  output: { title: string; summary: string; annotations?: Array<Record<string, unknown>> }
}

export class FakeRepo {
  readonly git = new GitStore()
  readonly issues = new Map<number, Issue>()
  readonly checkRuns: CheckRun[] = []
  readonly statuses: Array<{ sha: string; state: string; context: string; description: string }> = []
  defaultBranch = 'main'
  /** Branch → the status checks its branch protection rule requires (no entry: the branch is not protected). */
  readonly protectedChecks = new Map<string, string[]>()
  /** Branch → the status checks a ruleset in force on it requires. */
  readonly rulesetChecks = new Map<string, string[]>()
  constructor(readonly owner: string, readonly name: string, private readonly server: FakeGitHub) {}

  get fullName() {
    return `${this.owner}/${this.name}`
  }

  openPullRequest(options: { head: string; base?: string; author: string; title?: string; body?: string }): number {
    const number = this.server.nextNumber()
    this.issues.set(number, { number, title: options.title ?? 'policy change', body: options.body ?? '', state: 'open', user: options.author, labels: [], pull: { head: options.head, base: options.base ?? this.defaultBranch, reviewers: [], teamReviewers: [] } })
    return number
  }

  comments(issue: number): Comment[] {
    return [...this.server.comments.values()].filter((c) => c.issue === issue && this.server.commentRepo.get(c.id) === this)
  }

  /** What GitHub does when someone comments: the comment exists before its webhook is sent. */
  addComment(issue: number, user: string, body: string): Comment {
    return this.server.createComment(this, issue, user, body)
  }

  pullRequests(): Issue[] {
    return [...this.issues.values()].filter((i) => i.pull)
  }

  /** Opens or closes an issue or pull request, keeping GitHub's closed_at. */
  setState(number: number, state: 'open' | 'closed', options: { merged?: boolean } = {}): void {
    const issue = this.issues.get(number)!
    issue.state = state
    if (state === 'closed') issue.closedAt = new Date().toISOString()
    else delete issue.closedAt
    if (options.merged) issue.mergedAt = issue.closedAt!
  }

  checkRunsFor(sha: string): CheckRun[] {
    return this.checkRuns.filter((c) => c.head_sha === sha)
  }
}

type Handler = (m: Record<string, string>, q: Record<string, string>, body: any, auth: string) => { status: number; body?: unknown; headers?: Record<string, string> }
interface Fault {
  method?: string
  path: RegExp
  status: number
  headers?: Record<string, string>
  times: number
}

export class FakeGitHub {
  readonly requests: RecordedRequest[] = []
  readonly repos = new Map<string, FakeRepo>()
  readonly comments = new Map<number, Comment>()
  readonly commentRepo = new Map<number, FakeRepo>()
  /** PAT → login; installation tokens are added here when minted. */
  readonly tokens = new Map<string, string>()
  readonly teams = new Map<string, Set<string>>()
  readonly orgMembers = new Map<string, Set<string>>()
  appSlug = 'gatehouse-test'
  private readonly faults: Fault[] = []
  private slow: { path: RegExp; ms: number } | undefined
  private readonly gates: Array<{ path: RegExp; arrived(): void; opened: Promise<void> }> = []
  private inFlight = 0
  /** The most requests matching the slowed path that were being answered at once, in all and per path. */
  maxInFlight = 0
  readonly maxInFlightByPath = new Map<string, number>()
  private readonly inFlightByPath = new Map<string, number>()
  private number = 0
  private id = 1000
  private server!: Server
  url = ''

  nextNumber() {
    return ++this.number
  }
  nextId() {
    return ++this.id
  }

  repo(fullName: string): FakeRepo {
    let repo = this.repos.get(fullName)
    if (!repo) {
      const [owner, name] = fullName.split('/') as [string, string]
      repo = new FakeRepo(owner, name, this)
      this.repos.set(fullName, repo)
    }
    return repo
  }

  setTeam(org: string, team: string, members: string[]): void {
    this.teams.set(`${org}/${team}`.toLowerCase(), new Set(members.map((m) => m.toLowerCase())))
    const org_ = this.orgMembers.get(org.toLowerCase()) ?? new Set()
    for (const m of members) org_.add(m.toLowerCase())
    this.orgMembers.set(org.toLowerCase(), org_)
  }

  setOrgMembers(org: string, members: string[]): void {
    this.orgMembers.set(org.toLowerCase(), new Set(members.map((m) => m.toLowerCase())))
  }

  /** The next `times` requests matching fail with `status` (and headers such as retry-after). */
  fail(match: { method?: string; path: RegExp }, status: number, options: { times?: number; headers?: Record<string, string> } = {}): void {
    this.faults.push({ ...match, status, times: options.times ?? 1, ...(options.headers ? { headers: options.headers } : {}) })
  }

  /** GitHub answers normally again. */
  clearFaults(): void {
    this.faults.length = 0
  }

  createComment(repo: FakeRepo, issue: number, user: string, body: string): Comment {
    const comment = { id: this.nextId(), issue, body, user, reactions: [], created_at: new Date().toISOString() }
    this.comments.set(comment.id, comment)
    this.commentRepo.set(comment.id, repo)
    return comment
  }

  /** Requests matching `path` are answered after `ms`; maxInFlight counts how many overlap. */
  slowDown(path: RegExp, ms: number): void {
    this.slow = { path, ms }
  }

  /** Requests matching `path` wait until released; `reached` resolves when the first one arrives. */
  hold(path: RegExp): { reached: Promise<void>; release(): void } {
    let arrived!: () => void
    let release!: () => void
    const reached = new Promise<void>((resolve) => (arrived = resolve))
    const gate = { path, arrived, opened: new Promise<void>((resolve) => (release = resolve)) }
    this.gates.push(gate)
    return {
      reached,
      release: () => {
        this.gates.splice(this.gates.indexOf(gate), 1)
        release()
      },
    }
  }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', 'http://x')
    const text = Buffer.concat(chunks).toString('utf8')
    let body: any
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    const query = Object.fromEntries(url.searchParams)
    const method = req.method ?? 'GET'
    const path = url.pathname
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method, path, query, body, status })
      const out = payload === undefined ? '' : JSON.stringify(payload)
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(out)
    }
    if (this.slow?.path.test(path)) {
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight)
      const here = (this.inFlightByPath.get(path) ?? 0) + 1
      this.inFlightByPath.set(path, here)
      this.maxInFlightByPath.set(path, Math.max(here, this.maxInFlightByPath.get(path) ?? 0))
      await new Promise((resolve) => setTimeout(resolve, this.slow!.ms))
      this.inFlight--
      this.inFlightByPath.set(path, this.inFlightByPath.get(path)! - 1)
    }
    const gate = this.gates.find((g) => g.path.test(path))
    if (gate) {
      gate.arrived()
      await gate.opened
    }
    const fault = this.faults.find((f) => f.times > 0 && (!f.method || f.method === method) && f.path.test(path))
    if (fault) {
      fault.times--
      return send(fault.status, { message: fault.status === 403 || fault.status === 429 ? 'You have exceeded a secondary rate limit' : 'Server Error' }, fault.headers ?? {})
    }
    const auth = String(req.headers.authorization ?? '')
    for (const [m, pattern, handler] of this.routes) {
      if (m !== method) continue
      const match = pattern.exec(path)
      if (!match) continue
      const params = Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]))
      if (!path.startsWith('/app') && !this.tokens.has(auth.replace(/^(token|bearer) /i, ''))) return send(401, { message: 'Bad credentials' })
      const result = handler(params, query, body, auth)
      return send(result.status, result.body, result.headers)
    }
    send(404, { message: 'Not Found' })
  }

  private repoOf(m: Record<string, string>): FakeRepo | undefined {
    return this.repos.get(`${m.owner}/${m.repo}`)
  }

  private pullJson(repo: FakeRepo, issue: Issue) {
    const head = repo.git.resolve(issue.pull!.head)!
    const base = repo.git.resolve(issue.pull!.base)!
    return {
      number: issue.number, state: issue.state, title: issue.title, body: issue.body, user: { login: issue.user, type: 'User' },
      head: { ref: issue.pull!.head, sha: head, repo: { full_name: repo.fullName } },
      base: { ref: issue.pull!.base, sha: base, repo: { full_name: repo.fullName } },
      closed_at: issue.closedAt ?? null, merged_at: issue.mergedAt ?? null,
      html_url: `https://github.test/${repo.fullName}/pull/${issue.number}`,
    }
  }

  private issueJson(repo: FakeRepo, issue: Issue) {
    return { number: issue.number, title: issue.title, body: issue.body, state: issue.state, user: { login: issue.user }, labels: issue.labels.map((name) => ({ name })), assignees: (issue.assignees ?? []).map((login) => ({ login })), closed_at: issue.closedAt ?? null, ...(issue.pull ? { pull_request: { url: `${repo.fullName}/pulls/${issue.number}` } } : {}) }
  }

  private commentJson(c: Comment) {
    return { id: c.id, body: c.body, created_at: c.created_at, user: { login: c.user, type: c.user.endsWith('[bot]') ? 'Bot' : 'User' } }
  }

  private readonly routes: Array<[string, RegExp, Handler]> = [
    ['GET', /^\/user$/, (_m, _q, _b, auth) => ({ status: 200, body: { login: this.tokens.get(auth.replace(/^token /i, '')) } })],
    ['GET', /^\/app$/, (_m, _q, _b, auth) => (/^bearer ey/i.test(auth) ? { status: 200, body: { slug: this.appSlug } } : { status: 401, body: { message: 'JWT required' } })],
    ['POST', /^\/app\/installations\/(?<id>\d+)\/access_tokens$/, (_m, _q, _b, auth) => {
      if (!/^bearer ey/i.test(auth)) return { status: 401, body: { message: 'JWT required' } }
      const token = `ghs_fake${this.nextId()}`
      this.tokens.set(token, `${this.appSlug}[bot]`)
      return { status: 201, body: { token, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: {}, repository_selection: 'all' } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)$/, (m) => {
      const repo = this.repoOf(m)
      return repo ? { status: 200, body: { full_name: repo.fullName, default_branch: repo.defaultBranch } } : { status: 404 }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/compare\/(?<basehead>.+)$/, (m) => {
      const repo = this.repoOf(m)!
      const [base, head] = m.basehead!.split('...') as [string, string]
      const mergeBase = repo.git.mergeBase(repo.git.resolve(base)!, repo.git.resolve(head)!)
      return mergeBase ? { status: 200, body: { merge_base_commit: { sha: mergeBase } } } : { status: 404, body: { message: 'No common ancestor' } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/commits\/(?<sha>\w+)$/, (m) => {
      const commit = this.repoOf(m)?.git.commits.get(m.sha!)
      return commit ? { status: 200, body: { sha: commit.sha, tree: { sha: commit.tree }, parents: commit.parents.map((sha) => ({ sha })), message: commit.message, committer: { date: commit.date }, author: { date: commit.date } } } : { status: 404 }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/trees\/(?<sha>\w+)$/, (m) => {
      const git = this.repoOf(m)!.git
      const tree = git.trees.get(m.sha!)
      if (!tree) return { status: 404 }
      return { status: 200, body: { sha: m.sha, truncated: false, tree: [...tree].map(([path, e]) => ({ path, mode: e.mode, type: 'blob', sha: e.sha, size: git.blobs.get(e.sha)!.length })) } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/blobs\/(?<sha>\w+)$/, (m) => {
      const blob = this.repoOf(m)!.git.blobs.get(m.sha!)
      return blob ? { status: 200, body: { sha: m.sha, encoding: 'base64', content: blob.toString('base64'), size: blob.length } } : { status: 404 }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/ref\/(?<ref>.+)$/, (m) => {
      const sha = this.repoOf(m)!.git.refs.get(m.ref!)
      return sha ? { status: 200, body: { ref: `refs/${m.ref}`, object: { sha, type: 'commit' } } } : { status: 404 }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/blobs$/, (m, _q, b) => ({ status: 201, body: { sha: this.repoOf(m)!.git.putBlob(Buffer.from(b.content, b.encoding === 'base64' ? 'base64' : 'utf8')) } })],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/trees$/, (m, _q, b) => {
      const git = this.repoOf(m)!.git
      const entries = new Map(b.base_tree ? git.trees.get(b.base_tree) ?? [] : [])
      for (const e of b.tree as Array<{ path: string; mode: string; sha?: string | null; content?: string }>) {
        if (e.sha === null) entries.delete(e.path)
        else entries.set(e.path, { mode: e.mode, sha: e.content !== undefined ? git.putBlob(e.content) : e.sha! })
      }
      return { status: 201, body: { sha: git.putTree(entries) } }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/commits$/, (m, _q, b, auth) => {
      const git = this.repoOf(m)!.git
      return { status: 201, body: { sha: git.putCommit(b.tree, b.parents, b.message, this.tokens.get(auth.replace(/^(token|bearer) /i, '')) ?? 'unknown') } }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/refs$/, (m, _q, b) => {
      const git = this.repoOf(m)!.git
      const ref = String(b.ref).replace(/^refs\//, '')
      if (git.refs.has(ref)) return { status: 422, body: { message: 'Reference already exists' } }
      git.refs.set(ref, b.sha)
      return { status: 201, body: { ref: `refs/${ref}`, object: { sha: b.sha } } }
    }],
    ['PATCH', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/git\/refs\/(?<ref>.+)$/, (m, _q, b) => {
      const git = this.repoOf(m)!.git
      if (!git.refs.has(m.ref!)) return { status: 422, body: { message: 'Reference does not exist' } }
      git.refs.set(m.ref!, b.sha)
      return { status: 200, body: { ref: `refs/${m.ref}`, object: { sha: b.sha } } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls$/, (m, q) => {
      const repo = this.repoOf(m)!
      const head = q.head?.includes(':') ? q.head.split(':')[1] : q.head
      const pulls = repo.pullRequests().filter((p) => (!q.state || q.state === 'all' || p.state === q.state) && (!head || p.pull!.head === head) && (!q.base || p.pull!.base === q.base))
      return { status: 200, body: pulls.map((p) => this.pullJson(repo, p)) }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls$/, (m, _q, b, auth) => {
      const repo = this.repoOf(m)!
      if (!repo.git.refs.has(`heads/${b.head}`)) return { status: 422, body: { message: 'head does not exist' } }
      if (repo.pullRequests().some((p) => p.state === 'open' && p.pull!.head === b.head)) return { status: 422, body: { message: 'A pull request already exists' } }
      const number = repo.openPullRequest({ head: b.head, base: b.base, author: this.tokens.get(auth.replace(/^(token|bearer) /i, ''))!, title: b.title, body: b.body ?? '' })
      return { status: 201, body: this.pullJson(repo, repo.issues.get(number)!) }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls\/(?<n>\d+)$/, (m) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      return issue?.pull ? { status: 200, body: this.pullJson(repo, issue) } : { status: 404 }
    }],
    ['PATCH', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls\/(?<n>\d+)$/, (m, _q, b) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      if (!issue?.pull) return { status: 404 }
      if (typeof b.title === 'string') issue.title = b.title
      if (typeof b.body === 'string') issue.body = b.body
      if (b.state === 'open' || b.state === 'closed') repo.setState(issue.number, b.state)
      return { status: 200, body: this.pullJson(repo, issue) }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls\/(?<n>\d+)\/commits$/, (m) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      if (!issue?.pull) return { status: 404 }
      const base = repo.git.ancestors(repo.git.resolve(issue.pull.base)!)
      const commits = [...repo.git.ancestors(repo.git.resolve(issue.pull.head)!)].filter((sha) => !base.has(sha)).map((sha) => repo.git.commits.get(sha)!)
      return {
        status: 200,
        body: commits.map((c) => ({ sha: c.sha, commit: { message: c.message, verification: { verified: c.verified, reason: c.verified ? 'valid' : 'unsigned' } }, author: c.login ? { login: c.login } : null, committer: c.login ? { login: c.login } : null })),
      }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/pulls\/(?<n>\d+)\/requested_reviewers$/, (m, _q, b) => {
      const issue = this.repoOf(m)!.issues.get(Number(m.n))
      if (!issue?.pull) return { status: 404 }
      issue.pull.reviewers.push(...(b.reviewers ?? []))
      issue.pull.teamReviewers.push(...(b.team_reviewers ?? []))
      return { status: 201, body: {} }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues$/, (m, q) => {
      const repo = this.repoOf(m)!
      const labels = q.labels ? q.labels.split(',') : []
      const issues = [...repo.issues.values()].filter((i) => (!q.state || q.state === 'all' || i.state === q.state) && labels.every((l) => i.labels.includes(l)))
      return { status: 200, body: issues.map((i) => this.issueJson(repo, i)) }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues$/, (m, _q, b, auth) => {
      const repo = this.repoOf(m)!
      const number = this.nextNumber()
      const issue: Issue = { number, title: b.title, body: b.body ?? '', state: 'open', user: this.tokens.get(auth.replace(/^(token|bearer) /i, ''))!, labels: b.labels ?? [] }
      repo.issues.set(number, issue)
      return { status: 201, body: this.issueJson(repo, issue) }
    }],
    ['PATCH', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)$/, (m, _q, b) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      if (!issue) return { status: 404 }
      if (b.state === 'open' || b.state === 'closed') repo.setState(issue.number, b.state)
      if (b.state_reason) issue.stateReason = b.state_reason
      if (typeof b.body === 'string') issue.body = b.body
      if (typeof b.title === 'string') issue.title = b.title
      return { status: 200, body: this.issueJson(repo, issue) }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/branches\/(?<branch>.+)\/protection\/required_status_checks$/, (m) => {
      const checks = this.repoOf(m)!.protectedChecks.get(m.branch!)
      return checks ? { status: 200, body: { strict: false, contexts: checks, checks: checks.map((context) => ({ context, app_id: null })) } } : { status: 404, body: { message: 'Branch not protected' } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/rules\/branches\/(?<branch>.+)$/, (m) => {
      const checks = this.repoOf(m)!.rulesetChecks.get(m.branch!)
      return { status: 200, body: checks ? [{ type: 'required_status_checks', ruleset_id: 1, parameters: { strict_required_status_checks_policy: false, required_status_checks: checks.map((context) => ({ context })) } }] : [] }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)\/timeline$/, (m) => {
      const issue = this.repoOf(m)!.issues.get(Number(m.n))
      return issue ? { status: 200, body: issue.timeline ?? [] } : { status: 404 }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)$/, (m) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      return issue ? { status: 200, body: this.issueJson(repo, issue) } : { status: 404, body: { message: 'Not Found' } }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)\/assignees$/, (m, _q, b) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      if (!issue) return { status: 404 }
      // Like GitHub: logins that cannot be assigned (not in the organisation here) are dropped silently.
      const members = this.orgMembers.get(repo.owner.toLowerCase()) ?? new Set()
      issue.assignees = [...new Set([...(issue.assignees ?? []), ...(b.assignees as string[]).filter((a) => members.has(a.toLowerCase()))])]
      return { status: 201, body: this.issueJson(repo, issue) }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)\/labels$/, (m, _q, b) => {
      const repo = this.repoOf(m)!
      const issue = repo.issues.get(Number(m.n))
      if (!issue) return { status: 404 }
      issue.labels = [...new Set([...issue.labels, ...(b.labels as string[])])]
      return { status: 200, body: issue.labels.map((name) => ({ name })) }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/commits$/, (m, q) => {
      // The commits reachable from `sha` that changed `path`, newest first (first parents only: the fake's history is linear).
      const git = this.repoOf(m)!.git
      const out = []
      for (let sha = git.resolve(q.sha ?? 'main'); sha; sha = git.commits.get(sha)!.parents[0]) {
        const commit = git.commits.get(sha)!
        const parent = commit.parents[0]
        const blobAt = (c: string | undefined) => (c ? git.trees.get(git.commits.get(c)!.tree)!.get(q.path ?? '')?.sha : undefined)
        if (!q.path || blobAt(sha) !== blobAt(parent)) out.push({ sha, commit: { message: commit.message, committer: { date: commit.date }, author: { date: commit.date } }, parents: commit.parents.map((p) => ({ sha: p })) })
      }
      return { status: 200, body: out }
    }],
    ['GET', /^\/orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)\/members$/, (m) => {
      const team = this.teams.get(`${m.org}/${m.team}`.toLowerCase())
      return team ? { status: 200, body: [...team].map((login) => ({ login })) } : { status: 404, body: { message: 'Not Found' } }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)\/comments$/, (m) => ({ status: 200, body: this.repoOf(m)!.comments(Number(m.n)).map((c) => this.commentJson(c)) })],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/(?<n>\d+)\/comments$/, (m, _q, b, auth) => {
      const repo = this.repoOf(m)!
      if (!repo.issues.has(Number(m.n))) return { status: 404 }
      return { status: 201, body: this.commentJson(this.createComment(repo, Number(m.n), this.tokens.get(auth.replace(/^(token|bearer) /i, ''))!, b.body)) }
    }],
    ['PATCH', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/comments\/(?<id>\d+)$/, (_m, _q, b) => {
      const comment = this.comments.get(Number(_m.id))
      if (!comment) return { status: 404 }
      comment.body = b.body
      return { status: 200, body: this.commentJson(comment) }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/issues\/comments\/(?<id>\d+)\/reactions$/, (m, _q, b) => {
      const comment = this.comments.get(Number(m.id))
      if (!comment) return { status: 404 }
      comment.reactions.push(b.content)
      return { status: 201, body: { id: this.nextId(), content: b.content } }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/statuses\/(?<sha>\w+)$/, (m, _q, b) => {
      this.repoOf(m)!.statuses.push({ sha: m.sha!, state: b.state, context: b.context, description: b.description })
      return { status: 201, body: {} }
    }],
    ['GET', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/commits\/(?<ref>[^/]+)\/check-runs$/, (m, q) => {
      const runs = this.repoOf(m)!.checkRuns.filter((c) => c.head_sha === m.ref && (!q.check_name || c.name === q.check_name))
      return { status: 200, body: { total_count: runs.length, check_runs: runs } }
    }],
    ['POST', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/check-runs$/, (m, _q, b) => {
      const run: CheckRun = { id: this.nextId(), name: b.name, head_sha: b.head_sha, status: b.status ?? 'queued', conclusion: b.conclusion ?? null, output: b.output }
      this.repoOf(m)!.checkRuns.push(run)
      return { status: 201, body: run }
    }],
    ['PATCH', /^\/repos\/(?<owner>[^/]+)\/(?<repo>[^/]+)\/check-runs\/(?<id>\d+)$/, (m, _q, b) => {
      const run = this.repoOf(m)!.checkRuns.find((c) => c.id === Number(m.id))
      if (!run) return { status: 404 }
      Object.assign(run, { status: b.status ?? run.status, conclusion: b.conclusion ?? run.conclusion, output: b.output ?? run.output })
      return { status: 200, body: run }
    }],
    ['GET', /^\/orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)\/memberships\/(?<user>[^/]+)$/, (m) =>
      this.teams.get(`${m.org}/${m.team}`.toLowerCase())?.has(m.user!.toLowerCase()) ? { status: 200, body: { state: 'active', role: 'member' } } : { status: 404, body: { message: 'Not Found' } }],
    ['GET', /^\/orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)$/, (m) => (this.teams.has(`${m.org}/${m.team}`.toLowerCase()) ? { status: 200, body: { slug: m.team } } : { status: 404 })],
    ['GET', /^\/orgs\/(?<org>[^/]+)\/memberships\/(?<user>[^/]+)$/, (m) =>
      this.orgMembers.get(m.org!.toLowerCase())?.has(m.user!.toLowerCase()) ? { status: 200, body: { state: 'active', role: 'member', user: { login: m.user } } } : { status: 404, body: { message: 'Not Found' } }],
    ['GET', /^\/orgs\/(?<org>[^/]+)\/members\/(?<user>[^/]+)$/, (m) => (this.orgMembers.get(m.org!.toLowerCase())?.has(m.user!.toLowerCase()) ? { status: 204 } : { status: 404 })],
  ]
}
