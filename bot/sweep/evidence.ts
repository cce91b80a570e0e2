// What the sweep judges from, gathered once per run: the store's usage
// records (when recording began, the newest record, last use per identity,
// last use and uses per rule and identity), whether the records are fresh
// enough to mean anything, when each identity was added to the repository,
// and whether each owner is still there.
import { parseAllDocuments } from 'yaml'
import type { Bundle } from '../../engine/types.js'
import type { Queryable } from '../../store/database.js'
import type { RepoRef } from '../config.js'
import type { BotContext } from '../context.js'
import { Membership, type OwnerStatus } from '../github/membership.js'
import { readBlob, readTree } from '../policy/fetch.js'

export const DAY = 86_400_000
export const day = (d: Date) => d.toISOString().slice(0, 10)

export interface RuleUse {
  lastUsed: Date
  uses: number
}

export interface Usage {
  /** The earliest usage the store has: the start of the evidence. */
  since: Date | undefined
  /** The newest usage the store has: without a recent one, the store is not being written to. */
  newest: Date | undefined
  lastSeen: Map<string, Date>
  firstSeen: Map<string, Date>
  /** identity → rule id → use. */
  rules: Map<string, Map<string, RuleUse>>
}

export async function readUsage(db: Queryable): Promise<Usage> {
  const identities = await db.query<{ identity: string; first_seen: Date | string; last_seen: Date | string }>('SELECT identity, first_seen, last_seen FROM gatehouse.identity_usage')
  const rules = await db.query<{ rule: string; identity: string; last_used: Date | string; uses: string | number }>('SELECT rule, identity, last_used, uses FROM gatehouse.rule_usage')
  let since: Date | undefined
  let newest: Date | undefined
  const lastSeen = new Map<string, Date>()
  const firstSeen = new Map<string, Date>()
  for (const r of identities) {
    const first = new Date(r.first_seen)
    const last = new Date(r.last_seen)
    if (!since || first < since) since = first
    if (!newest || last > newest) newest = last
    lastSeen.set(r.identity, last)
    firstSeen.set(r.identity, first)
  }
  const byIdentity = new Map<string, Map<string, RuleUse>>()
  for (const r of rules) {
    const map = byIdentity.get(r.identity) ?? new Map<string, RuleUse>()
    map.set(r.rule, { lastUsed: new Date(r.last_used), uses: Number(r.uses) })
    byIdentity.set(r.identity, map)
  }
  return { since, newest, lastSeen, firstSeen, rules: byIdentity }
}

/** Why the usage records cannot be trusted now, or undefined when they can. */
export function staleStoreReason(usage: Usage, now: Date, freshnessSeconds: number): string | undefined {
  if (!usage.newest) return 'the store holds no usage records: nothing shows that a gateway records usage in it'
  const age = now.getTime() - usage.newest.getTime()
  if (age > freshnessSeconds * 1000) {
    return `the newest usage record is from ${usage.newest.toISOString()}, ${Math.floor(age / 3_600_000)} hours ago, older than the freshness window of ${Math.round(freshnessSeconds / 3600)} hours: the gateways may be writing to another store, so every identity would look idle`
  }
  return undefined
}

/** How many commits back the sweep looks for when an identity was added; beyond that the oldest seen is used (a later date, so fewer findings). */
const MAX_COMMITS = 30

const holds = (text: string | undefined, name: string) =>
  text !== undefined && parseAllDocuments(text).some?.((d) => d.errors.length === 0 && d.get('kind') === 'Identity' && d.get('name') === name)

/**
 * When `name` was added to the repository: the date of the newest commit to
 * its file whose parent did not hold it. A rename or a move counts as an
 * addition, which can only make the identity look younger, never older.
 */
export async function identityAddedAt(ctx: BotContext, repo: RepoRef, baseSha: string, file: string, name: string): Promise<Date> {
  const { data: commits } = await ctx.github.request('GET /repos/{owner}/{repo}/commits', { owner: repo.owner, repo: repo.name, sha: baseSha, path: file, per_page: MAX_COMMITS })
  const textAt = async (sha: string) => {
    const { entries } = await readTree(ctx.github, repo, sha, { all: true })
    const entry = entries.find((e) => e.path === file)
    return entry ? (await readBlob(ctx.github, repo, entry.sha, ctx.blobs)).toString('utf8') : undefined
  }
  const dateOf = (c: (typeof commits)[number]) => new Date(c.commit.committer?.date ?? c.commit.author?.date ?? Date.now())
  for (const commit of commits) {
    const parent = commit.parents[0]?.sha
    if (!parent || !holds(await textAt(parent), name)) return dateOf(commit)
  }
  // invariant: a history longer than looked at dates the identity no earlier than the oldest commit seen.
  return commits.length > 0 ? dateOf(commits.at(-1)!) : new Date()
}

export async function ownerStatuses(ctx: BotContext, bundle: Bundle): Promise<Map<string, OwnerStatus>> {
  const membership = new Membership(ctx.github)
  const byOwner = new Map<string, OwnerStatus>()
  const statuses = new Map<string, OwnerStatus>()
  for (const identity of Object.values(bundle.identities)) {
    const key = identity.owner.toLowerCase()
    if (!byOwner.has(key)) byOwner.set(key, await membership.ownerStatus(identity.owner, bundle.settings.organisation))
    statuses.set(identity.name, byOwner.get(key)!)
  }
  return statuses
}
