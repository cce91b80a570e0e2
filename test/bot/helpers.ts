// The bot's test harness: a fake GitHub holding a copy of the test policy
// repository, the bot started in-process against it (App authentication, so
// check runs are used), and deliveries built from the real recorded payloads
// of @octokit/webhooks-examples, signed with the test secret.
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startBot, type Bot } from '../../bot/app.js'
import type { BotConfig } from '../../bot/config.js'
import { createLogger } from '../../runtime/log.js'
import { signPayload } from '../../bot/webhook/verify.js'
import { openDatabase, type Database } from '../../store/database.js'
import { FakeGitHub, type FakeRepo } from '../fake-github/server.js'
import { ROOT } from '../helpers/repo.js'

export const SECRET = 'test-webhook-secret-0001'
export const OLD_SECRET = 'test-webhook-secret-0000'
export const FIXTURE = path.join(ROOT, 'test', 'cases', 'bot-repo')

const require = createRequire(import.meta.url)
const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Array<Record<string, any>> }>

/** A real recorded payload of `event` with `action`, deep-copied so tests can change it. */
export function example(event: string, action: string | undefined): Record<string, any> {
  const found = examples.find((e) => e.name === event)?.examples.find((p) => p.action === action)
  if (!found) throw new Error(`no recorded ${event}.${action} payload`)
  return structuredClone(found)
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })

let repoCounter = 0

export function readFixture(dir = FIXTURE): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(dir, relative))) {
      const rel = relative ? `${relative}/${entry}` : entry
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel)
      else files[rel] = readFileSync(path.join(dir, rel), 'utf8')
    }
  }
  walk('')
  return files
}

export interface Harness {
  github: FakeGitHub
  repo: FakeRepo
  bot: Bot
  db: Database
  logs: string[]
  deliver(event: string, payload: unknown, options?: { id?: string; secret?: string | null }): Promise<Response>
  /** Delivers and waits until the bot has processed everything. */
  send(event: string, payload: unknown): Promise<Response>
  restart(overrides?: Partial<BotConfig>): Promise<void>
  close(): Promise<void>
}

export async function openStore(): Promise<{ db: Database; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bot-store-'))
  const db = await openDatabase(dir)
  return { db, close: async () => (await db.close(), rmSync(dir, { recursive: true, force: true })) }
}

export function testConfig(github: FakeGitHub, repoName: string, overrides: Partial<BotConfig> = {}): BotConfig {
  return {
    store: 'unused: the tests pass an open store',
    listen: { host: '127.0.0.1', port: 0 },
    webhook: { secrets: [SECRET, OLD_SECRET], maxBodyBytes: 256 * 1024 },
    github: { baseUrl: github.url, auth: { kind: 'app', appId: 1, installationId: 7, privateKey }, maxRetries: 3, maxWaitSeconds: 5, timeoutSeconds: 10 },
    policyRepo: { owner: 'acme', name: repoName },
    approvalsRepo: { owner: 'acme', name: `${repoName}-access` },
    worker: { concurrency: 2, pollMs: 50, maxAttempts: 5, leaseSeconds: 60 },
    approvals: { pollSeconds: 3600, forbidOwner: false },
    sweep: { everySeconds: undefined, maxPullRequests: 5, freshnessSeconds: 86_400, graceSeconds: 7 * 86_400 },
    ...overrides,
  }
}

/** Runs `body` against a fresh bot and fake GitHub, and closes both whatever happens. */
export async function withHarness(db: Database, body: (h: Harness) => Promise<void>, overrides: Partial<BotConfig> = {}): Promise<void> {
  const h = await harness(db, overrides)
  try {
    await body(h)
  } finally {
    await h.close()
  }
}

export async function harness(db: Database, overrides: Partial<BotConfig> = {}): Promise<Harness> {
  const github = new FakeGitHub()
  await github.start()
  const name = `policies-${process.pid}-${++repoCounter}`
  const repo = github.repo(`acme/${name}`)
  github.repo(`acme/${name}-access`)
  repo.git.commitFiles('main', readFixture(), { login: 'admin', message: 'initial policies' })
  github.setTeam('acme', 'security', ['alice', 'bob'])
  github.setTeam('acme', 'platform', ['paula', 'eve'])
  github.setTeam('acme', 'data', ['dora'])
  github.setTeam('acme', 'dba', ['dave'])
  github.setOrgMembers('acme', ['alice', 'bob', 'paula', 'eve', 'dora', 'dave', 'dana', 'mallory', 'nina'])
  const logs: string[] = []
  // The real logger (it is what scrubs), writing into `logs` so tests can read it.
  const realLog = createLogger({ level: 'debug', write: (line) => void logs.push(line) })
  let config = testConfig(github, name, overrides)
  let bot = await startBot(config, { db, log: realLog, retryBaseMs: 5, retryBaseSeconds: 0.05 })
  let deliveries = 0
  const h: Harness = {
    github,
    repo,
    get bot() {
      return bot
    },
    db,
    logs,
    async deliver(event, payload, options = {}) {
      const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': options.id ?? `delivery-${process.pid}-${++deliveries}-${Date.now()}` }
      if (options.secret !== null) headers['x-hub-signature-256'] = signPayload(options.secret ?? SECRET, body)
      return fetch(`http://127.0.0.1:${bot.port}/webhook`, { method: 'POST', headers, body })
    },
    async send(event, payload) {
      const response = await h.deliver(event, payload)
      await bot.settled()
      return response
    },
    async restart(more = {}) {
      await bot.stop()
      config = { ...config, ...more }
      bot = await startBot(config, { db, log: realLog, retryBaseMs: 5, retryBaseSeconds: 0.05 })
    },
    async close() {
      await bot.stop()
      await github.close()
    },
  }
  return h
}

/**
 * A pull_request payload (recorded `opened`, adapted) for a pull request of
 * the fake repository. `sender` is who GitHub says acted: for opened,
 * reopened and synchronize, who pushed the head (the author by default).
 */
export function pullRequestPayload(repo: FakeRepo, number: number, action = 'opened', sender?: string): Record<string, any> {
  const payload = example('pull_request', action === 'edited' ? 'opened' : action)
  const issue = repo.issues.get(number)!
  payload.action = action
  payload.number = number
  payload.repository.full_name = repo.fullName
  payload.repository.name = repo.name
  payload.repository.owner.login = repo.owner
  payload.pull_request.number = number
  payload.pull_request.user.login = issue.user
  payload.pull_request.head.sha = repo.git.resolve(issue.pull!.head)
  payload.pull_request.head.ref = issue.pull!.head
  payload.pull_request.base.ref = issue.pull!.base
  payload.pull_request.base.sha = repo.git.resolve(issue.pull!.base)
  payload.sender.login = sender ?? issue.user
  return payload
}

/** An issue_comment payload (recorded `created`, adapted) for a comment that exists in the fake. */
export function commentPayload(repo: FakeRepo, number: number, comment: { id: number; user: string; body: string; created_at: string }, action = 'created'): Record<string, any> {
  const payload = example('issue_comment', action)
  const issue = repo.issues.get(number)!
  payload.repository.full_name = repo.fullName
  payload.repository.name = repo.name
  payload.repository.owner.login = repo.owner
  payload.issue.number = number
  payload.issue.state = issue.state
  if (issue.pull) payload.issue.pull_request = { url: `https://api.github.test/repos/${repo.fullName}/pulls/${number}` }
  else delete payload.issue.pull_request
  payload.comment.id = comment.id
  payload.comment.created_at = comment.created_at
  payload.comment.body = comment.body
  payload.comment.user.login = comment.user
  payload.comment.user.type = 'User'
  return payload
}

let reviewCounter = 0

/** A pull_request_review payload (recorded `submitted`, adapted); each review gets its own id unless one is given. */
export function reviewPayload(repo: FakeRepo, number: number, review: { user: string; state: string; commitId: string; id?: number; submittedAt?: string }): Record<string, any> {
  const payload = example('pull_request_review', 'submitted')
  payload.repository.full_name = repo.fullName
  payload.repository.name = repo.name
  payload.repository.owner.login = repo.owner
  payload.pull_request.number = number
  payload.review.id = review.id ?? 900_000 + ++reviewCounter
  payload.review.submitted_at = review.submittedAt ?? new Date().toISOString()
  payload.review.state = review.state
  payload.review.commit_id = review.commitId
  payload.review.user.login = review.user
  payload.review.user.type = 'User'
  return payload
}

/**
 * For the tests of the real process: `acme/policies` with the test
 * repository on main and a pull request by eve that gives ci-deploy a second
 * role, and `token` known to the fake GitHub as `gatehouse-cli`.
 */
export function processFixture(github: FakeGitHub, token: string, teams: Record<string, string[]>, storeLocation: string): { repo: FakeRepo; number: number; config: string } {
  github.tokens.set(token, 'gatehouse-cli')
  for (const [team, members] of Object.entries(teams)) github.setTeam('acme', team, members)
  // Written without `worker.leaseSeconds`: the defaults are what the process tests run with.
  const repo = github.repo('acme/policies')
  repo.git.commitFiles('main', readFixture(), { login: 'admin' })
  repo.git.commitFiles('change', { 'identities/ci.yaml': repo.git.fileAt('main', 'identities/ci.yaml')!.replace('roles: [deployer]', 'roles: [deployer, reader]') }, { from: 'main', login: 'eve' })
  const config = [
    `store: ${storeLocation}`,
    'listen: {host: 127.0.0.1, port: 0}',
    'webhook: {secrets: [{env: BOT_WEBHOOK_SECRET}]}',
    `github: {baseUrl: "${github.url}", token: {env: BOT_GITHUB_TOKEN}}`,
    'policyRepo: acme/policies',
    'worker: {pollMs: 50}',
  ].join('\n')
  return { repo, number: repo.openPullRequest({ head: 'change', author: 'eve' }), config }
}

/** The bot's one policy comment on a pull request. */
export function policyComment(repo: FakeRepo, number: number) {
  return repo.comments(number).filter((c) => c.body.startsWith('<!-- gatehouse:policy-comment -->'))
}
