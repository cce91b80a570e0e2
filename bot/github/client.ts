// The GitHub API client: @octokit/rest pointed at `baseUrl`, authenticated
// as a GitHub App installation (tokens minted and refreshed by
// @octokit/auth-app) or with a personal access token. Every request goes
// through one retry policy:
//  - rate limits (429, or 403 with `retry-after` or an exhausted
//    `x-ratelimit-remaining`, GitHub's primary and secondary limits) wait for
//    the time GitHub names, up to `maxWaitSeconds`, then retry: the request
//    was refused, not performed, so retrying any method is safe;
//  - 5xx and network errors retry with exponential back-off, but only for
//    methods that are safe to repeat. A POST that failed with a 5xx may have
//    happened; it is not repeated here, the delivery fails, and the handler,
//    which finds what it published before creating anything, runs again;
//  - every attempt has a deadline (`timeoutSeconds`), so a connection GitHub
//    never answers cannot hold a worker past its lease.
import { createAppAuth } from '@octokit/auth-app'
import { Octokit } from '@octokit/rest'
import type { BotConfig } from '../config.js'
import type { BotMetrics } from '../metrics.js'

export type GitHub = Octokit

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'])

interface ErrorShape {
  status?: number
  response?: { headers?: Record<string, string | number | undefined> }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Seconds to wait before retrying a rate-limited request, or undefined when it is not rate-limited. */
export function rateLimitWait(error: ErrorShape, now = Date.now()): number | undefined {
  const headers = error.response?.headers ?? {}
  const retryAfter = headers['retry-after']
  const remaining = headers['x-ratelimit-remaining']
  const reset = headers['x-ratelimit-reset']
  if (error.status !== 429 && error.status !== 403) return undefined
  if (retryAfter !== undefined && Number.isFinite(Number(retryAfter))) return Math.max(0, Number(retryAfter))
  if (String(remaining) === '0' && reset !== undefined) return Math.max(0, Number(reset) - Math.floor(now / 1000))
  // A 429 without headers is still a rate limit; GitHub asks for at least a minute then.
  return error.status === 429 ? 60 : undefined
}

export function createGitHub(config: BotConfig['github'], metrics: BotMetrics, options: { retryBaseMs?: number } = {}): GitHub {
  // Each HTTP exchange gets its own deadline (a signal set in a request hook does not reach fetch).
  const timed: typeof fetch = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(config.timeoutSeconds * 1000) })
  const common = { baseUrl: config.baseUrl, log: quiet, userAgent: 'gatehouse-bot', request: { fetch: timed } }
  const octokit =
    config.auth.kind === 'app'
      ? new Octokit({ ...common, authStrategy: createAppAuth, auth: { appId: config.auth.appId, privateKey: config.auth.privateKey, installationId: config.auth.installationId } })
      : new Octokit({ ...common, auth: config.auth.token })
  const base = options.retryBaseMs ?? 500
  octokit.hook.wrap('request', async (request, requestOptions) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await request(requestOptions)
        metrics.githubRequests.inc({ status: `${String(response.status)[0]}xx` })
        return response
      } catch (err) {
        const error = err as ErrorShape
        metrics.githubRequests.inc({ status: error.status ? `${String(error.status)[0]}xx` : 'network' })
        if (attempt >= config.maxRetries) throw err
        const wait = rateLimitWait(error)
        if (wait !== undefined) {
          if (wait > config.maxWaitSeconds) throw err
          metrics.githubRetries.inc({ reason: 'rate_limit' })
          await sleep(wait * 1000 + Math.floor(Math.random() * base))
          continue
        }
        const serverSide = error.status === undefined || error.status >= 500
        if (!serverSide || !IDEMPOTENT.has(String(requestOptions.method).toUpperCase())) throw err
        metrics.githubRetries.inc({ reason: 'server_error' })
        await sleep(base * 2 ** attempt + Math.floor(Math.random() * base))
      }
    }
  })
  return octokit
}

/** The web address matching an API address: github.com for api.github.com, the server itself for GitHub Enterprise Server (`/api/v3`). */
export function webUrl(apiBase: string): string {
  if (/^https:\/\/api\.github\.com$/i.test(apiBase)) return 'https://github.com'
  return apiBase.replace(/\/api\/v3$/i, '')
}

/** The login the bot's own comments are written by: `<app slug>[bot]` for an App, the token's user otherwise. */
export async function selfLogin(github: GitHub, config: BotConfig['github']): Promise<string> {
  if (config.auth.kind === 'app') {
    const { data } = await github.request('GET /app')
    return `${data?.slug ?? 'gatehouse'}[bot]`
  }
  const { data } = await github.request('GET /user')
  return data.login
}
