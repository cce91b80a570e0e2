// bot.yaml: where the store is, which repositories the bot serves, how it
// authenticates to GitHub and checks webhooks. Secrets are references (an
// environment variable or a file), never values in the file; a missing
// webhook secret, or one that cannot be read, stops the bot from starting.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

export interface RepoRef {
  owner: string
  name: string
}

export type GithubAuth =
  | { kind: 'app'; appId: number; installationId: number; privateKey: string }
  | { kind: 'token'; token: string }

export interface BotConfig {
  store: string
  listen: { host: string; port: number }
  webhook: { secrets: string[]; maxBodyBytes: number }
  github: { baseUrl: string; auth: GithubAuth; maxRetries: number; maxWaitSeconds: number; timeoutSeconds: number }
  policyRepo: RepoRef
  approvalsRepo: RepoRef
  worker: { concurrency: number; pollMs: number; maxAttempts: number; leaseSeconds: number }
  approvals: { pollSeconds: number; forbidOwner: boolean }
  /**
   * `freshnessSeconds`: the newest usage record must be at most this old, or
   * the sweep refuses (a gateway writing to another store makes everything
   * look idle). `graceSeconds`: an identity is "never used" only once it has
   * existed, under recording, for the inactivity window plus this.
   */
  sweep: { everySeconds: number | undefined; maxPullRequests: number; freshnessSeconds: number; graceSeconds: number }
}

export class ConfigError extends Error {}

const MIN_SECRET_LENGTH = 16

function fail(message: string): never {
  throw new ConfigError(message)
}

function readSecret(ref: unknown, what: string, env: NodeJS.ProcessEnv): string {
  if (typeof ref !== 'object' || ref === null) fail(`${what} must be {env: NAME} or {file: PATH}`)
  const r = ref as Record<string, unknown>
  let value: string | undefined
  if (typeof r.env === 'string') {
    value = env[r.env]
    if (!value) fail(`${what}: environment variable \`${r.env}\` is not set`)
  } else if (typeof r.file === 'string') {
    try {
      value = readFileSync(r.file, 'utf8')
    } catch {
      fail(`${what}: cannot read \`${r.file}\``)
    }
  } else fail(`${what} must be {env: NAME} or {file: PATH}`)
  return value.trim()
}

function repo(value: unknown, what: string): RepoRef {
  if (typeof value !== 'string' || !/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(value)) fail(`${what} must be \`owner/name\``)
  const [owner, name] = value.split('/') as [string, string]
  return { owner, name }
}

function integer(value: unknown, what: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(`${what} must be an integer from ${min} to ${max}`)
  return value
}

/** `30s`, `15m`, `12h`, `7d` → seconds. */
export function parseDuration(value: unknown, what: string): number {
  const match = typeof value === 'string' ? /^(\d+)([smhd])$/.exec(value) : null
  if (!match) fail(`${what} must be like 30s, 15m, 12h or 7d`)
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd']
}

/** A mapping with only the keys listed: a misspelt setting is an error, not a silent default. */
function section(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be a mapping`)
  for (const key of Object.keys(value)) if (!keys.includes(key)) fail(`unknown setting \`${key}\` in ${what}`)
  return value as Record<string, unknown>
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): BotConfig {
  let raw: unknown
  try {
    raw = parse(text, { maxAliasCount: 10 })
  } catch (err) {
    fail(`not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  const top = section(raw, 'the configuration', ['store', 'listen', 'webhook', 'github', 'policyRepo', 'approvalsRepo', 'worker', 'approvals', 'sweep'])
  if (typeof top.store !== 'string' || top.store === '') fail('`store` is required: a PostgreSQL URL or an embedded store directory')

  const webhook = section(top.webhook, '`webhook`', ['secrets', 'maxBodyBytes'])
  const refs = webhook.secrets
  if (!Array.isArray(refs) || refs.length < 1 || refs.length > 2) {
    fail('`webhook.secrets` is required: one secret, or two while rotating ({env: NAME} or {file: PATH})')
  }
  const secrets = refs.map((ref, i) => readSecret(ref, `webhook.secrets[${i}]`, env))
  for (const s of secrets) if (s.length < MIN_SECRET_LENGTH) fail(`webhook secrets must be at least ${MIN_SECRET_LENGTH} characters`)

  const github = section(top.github, '`github`', ['baseUrl', 'app', 'token', 'maxRetries', 'maxWaitSeconds', 'timeoutSeconds'])
  let auth: GithubAuth
  if (github.app !== undefined && github.token !== undefined) fail('`github` takes either `app` or `token`, not both')
  if (github.app !== undefined) {
    const app = section(github.app, '`github.app`', ['id', 'installationId', 'privateKey'])
    auth = {
      kind: 'app',
      appId: integer(app.id, '`github.app.id`', 0, 1, Number.MAX_SAFE_INTEGER),
      installationId: integer(app.installationId, '`github.app.installationId`', 0, 1, Number.MAX_SAFE_INTEGER),
      privateKey: readSecret(app.privateKey, '`github.app.privateKey`', env),
    }
  } else if (github.token !== undefined) {
    auth = { kind: 'token', token: readSecret(github.token, '`github.token`', env) }
  } else fail('`github.app` or `github.token` is required')
  const baseUrl = github.baseUrl ?? 'https://api.github.com'
  if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) fail('`github.baseUrl` must be an http(s) URL')

  const listen = section(top.listen, '`listen`', ['host', 'port'])
  const worker = section(top.worker, '`worker`', ['concurrency', 'pollMs', 'maxAttempts', 'leaseSeconds'])
  const approvals = section(top.approvals, '`approvals`', ['poll', 'forbidOwner'])
  const sweep = section(top.sweep, '`sweep`', ['every', 'maxPullRequests', 'freshness', 'grace'])
  if (approvals.forbidOwner !== undefined && typeof approvals.forbidOwner !== 'boolean') fail('`approvals.forbidOwner` must be true or false')
  const policyRepo = repo(top.policyRepo, '`policyRepo`')
  return {
    store: top.store,
    listen: {
      host: typeof listen.host === 'string' ? listen.host : '127.0.0.1',
      port: integer(listen.port, '`listen.port`', 8080, 0, 65535),
    },
    webhook: { secrets, maxBodyBytes: integer(webhook.maxBodyBytes, '`webhook.maxBodyBytes`', 1024 * 1024, 1024, 25 * 1024 * 1024) },
    github: {
      baseUrl: baseUrl.replace(/\/$/, ''),
      auth,
      maxRetries: integer(github.maxRetries, '`github.maxRetries`', 4, 0, 10),
      maxWaitSeconds: integer(github.maxWaitSeconds, '`github.maxWaitSeconds`', 60, 0, 3600),
      timeoutSeconds: integer(github.timeoutSeconds, '`github.timeoutSeconds`', 30, 1, 600),
    },
    policyRepo,
    approvalsRepo: top.approvalsRepo === undefined ? policyRepo : repo(top.approvalsRepo, '`approvalsRepo`'),
    worker: {
      concurrency: integer(worker.concurrency, '`worker.concurrency`', 4, 1, 64),
      pollMs: integer(worker.pollMs, '`worker.pollMs`', 1000, 10, 60_000),
      maxAttempts: integer(worker.maxAttempts, '`worker.maxAttempts`', 8, 1, 100),
      leaseSeconds: integer(worker.leaseSeconds, '`worker.leaseSeconds`', 15, 3, 3600),
    },
    approvals: {
      pollSeconds: approvals.poll === undefined ? 10 : parseDuration(approvals.poll, '`approvals.poll`'),
      forbidOwner: approvals.forbidOwner === true,
    },
    sweep: {
      everySeconds: sweep.every === undefined ? undefined : parseDuration(sweep.every, '`sweep.every`'),
      maxPullRequests: integer(sweep.maxPullRequests, '`sweep.maxPullRequests`', 5, 0, 100),
      freshnessSeconds: sweep.freshness === undefined ? 86_400 : parseDuration(sweep.freshness, '`sweep.freshness`'),
      graceSeconds: sweep.grace === undefined ? 7 * 86_400 : parseDuration(sweep.grace, '`sweep.grace`'),
    },
  }
}
