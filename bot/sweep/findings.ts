// Which identities are stale, with the evidence. Removal: expired, no
// activity for `stale.inactiveDays` (or never used), or an owner who left
// the organisation (user) or no longer exists (team). Narrowing: a policy
// that names the identity directly and none of whose rules decided anything
// for it in the window loses that name. Report only: expiry within
// `stale.expiryWarningDays`. Inactivity is judged only when the store's
// usage records reach back over the whole window: a gateway that started
// recording last week has no evidence that anything is unused.
import type { Bundle } from '../../engine/types.js'
import type { Queryable } from '../../store/database.js'
import type { Membership } from '../github/membership.js'

export interface StaleIdentity {
  identity: string
  owner: string
  /** `retire`: credentials past their notAfter to remove (see rotation.ts). */
  action: 'remove' | 'narrow' | 'report' | 'retire'
  reasons: string[]
  lastSeen: string | null
  /** For `narrow`: the policies whose subjects lose the identity. */
  policies: string[]
  /** Whether the owner can still be asked to review. */
  ownerPresent: boolean
}

export interface Usage {
  /** The earliest usage the store has: the start of the evidence. */
  since: Date | undefined
  lastSeen: Map<string, Date>
  /** `rule identity` → last time the rule decided for the identity. */
  ruleLastUsed: Map<string, Date>
}

const DAY = 86_400_000
const day = (d: Date) => d.toISOString().slice(0, 10)

export async function readUsage(db: Queryable): Promise<Usage> {
  const identities = await db.query<{ identity: string; first_seen: Date | string; last_seen: Date | string }>('SELECT identity, first_seen, last_seen FROM gatehouse.identity_usage')
  const rules = await db.query<{ rule: string; identity: string; last_used: Date | string }>('SELECT rule, identity, last_used FROM gatehouse.rule_usage')
  let since: Date | undefined
  for (const r of identities) {
    const first = new Date(r.first_seen)
    if (!since || first < since) since = first
  }
  return {
    since,
    lastSeen: new Map(identities.map((r) => [r.identity, new Date(r.last_seen)])),
    ruleLastUsed: new Map(rules.map((r) => [`${r.rule} ${r.identity}`, new Date(r.last_used)])),
  }
}

/** A user owner must still be in the organisation; a team owner must still exist. */
async function ownerPresent(membership: Membership, owner: string, organisation: string): Promise<boolean> {
  const name = owner.replace(/^@/, '')
  const slash = name.indexOf('/')
  return slash < 0 ? membership.inOrg(organisation, name) : membership.teamExists(name.slice(0, slash), name.slice(slash + 1))
}

export async function findStale(bundle: Bundle, usage: Usage, membership: Membership, now: Date): Promise<StaleIdentity[]> {
  const { inactiveDays, expiryWarningDays } = bundle.settings.stale
  const windowStart = new Date(now.getTime() - inactiveDays * DAY)
  const covered = usage.since !== undefined && usage.since <= windowStart
  const today = day(now)
  const found: StaleIdentity[] = []
  for (const identity of Object.values(bundle.identities).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const reasons: string[] = []
    const lastSeen = usage.lastSeen.get(identity.name)
    const present = await ownerPresent(membership, identity.owner, bundle.settings.organisation)
    if (identity.expires && identity.expires < today) reasons.push(`expired on ${identity.expires}`)
    if (covered && !lastSeen) reasons.push(`never used since usage recording began on ${day(usage.since!)}`)
    if (covered && lastSeen && lastSeen < windowStart) reasons.push(`no activity for ${Math.floor((now.getTime() - lastSeen.getTime()) / DAY)} days (last seen ${day(lastSeen)}; the limit is ${inactiveDays})`)
    if (!present) reasons.push(`its owner \`${identity.owner}\` is no longer ${identity.owner.includes('/') ? 'a team' : `a member of ${bundle.settings.organisation}`}`)
    const base = { identity: identity.name, owner: identity.owner, lastSeen: lastSeen ? lastSeen.toISOString() : null, ownerPresent: present }
    if (reasons.length > 0) {
      found.push({ ...base, action: 'remove', reasons, policies: [] })
      continue
    }
    if (covered) {
      const unused = bundle.policies.filter((p) => {
        if (!p.subjects.identities.includes(identity.name)) return false
        // Named directly but also reached by a role: removing the name would change nothing.
        if (p.subjects.roles.some((r) => identity.roles.includes(r))) return false
        return p.rules.every((i) => {
          const used = usage.ruleLastUsed.get(`${bundle.rules[i]!.id} ${identity.name}`)
          return !used || used < windowStart
        })
      })
      if (unused.length > 0) {
        found.push({ ...base, action: 'narrow', policies: unused.map((p) => p.name), reasons: unused.map((p) => `no rule of policy \`${p.name}\` decided anything for it in the last ${inactiveDays} days`) })
        continue
      }
    }
    if (identity.expires) {
      const left = Math.floor((Date.parse(identity.expires) - Date.parse(today)) / DAY)
      if (left <= expiryWarningDays) found.push({ ...base, action: 'report', policies: [], reasons: [`expires on ${identity.expires}, in ${left} days`] })
    }
  }
  return found
}
