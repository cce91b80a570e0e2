// Which verified deliveries the bot queues, and under which key. Everything
// not listed here is acknowledged and dropped: the bot acts on pull requests,
// comments, issue edits and branch pushes of the repositories it is configured for,
// nothing else.
import type { RepoRef } from '../config.js'

const HANDLED_EVENTS = ['pull_request', 'issue_comment', 'pull_request_review', 'push', 'issues'] as const

export const fullName = (repo: RepoRef) => `${repo.owner}/${repo.name}`

type Route = { queue: true; key: string } | { queue: false; reason: string }

function object(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

export function routeDelivery(event: string, payload: unknown, repos: readonly RepoRef[]): Route {
  if (!(HANDLED_EVENTS as readonly string[]).includes(event)) return { queue: false, reason: 'event not handled' }
  const body = object(payload)
  const repoName = object(body?.repository)?.full_name
  if (typeof repoName !== 'string' || !repos.some((r) => fullName(r).toLowerCase() === repoName.toLowerCase())) {
    return { queue: false, reason: 'repository not served' }
  }
  if (event === 'push') {
    const ref = body?.ref
    if (typeof ref !== 'string' || !ref.startsWith('refs/heads/')) return { queue: false, reason: 'not a branch push' }
    return { queue: true, key: `${repoName.toLowerCase()}@${ref}` }
  }
  const subject = object(event === 'issue_comment' || event === 'issues' ? body?.issue : body?.pull_request)
  const number = subject?.number
  if (typeof number !== 'number' || !Number.isInteger(number)) return { queue: false, reason: 'no issue or pull request number' }
  return { queue: true, key: `${repoName.toLowerCase()}#${number}` }
}
