// What the sweep finds, one finder per kind of evidence. A finder reads the
// evidence and returns findings; it never writes. Adding a kind of finding is
// adding a finder to FINDERS (a module of its own), nothing else: findings
// that propose a change name an action the sweep knows how to edit
// (`remove`, `change-owner`, `narrow`, `retire`); any other finding is
// `report`, listed in the sweep's summary issue.
//
// The built-in finders, and the evidence each one needs:
//  - expired: the identity's `expires` is past;
//  - inactive: no use for `stale.inactiveDays`, judged only when the records
//    reach back over the whole window; "never used" counts from the later of
//    the identity's first commit and the start of recording, plus a grace;
//  - owner: a user owner GitHub explicitly says is not a member. In use, that
//    is a change of owner; unused too, the inactivity finding removes it. Any
//    other answer is unknown, reported, never "left";
//  - unused grants: a policy naming the identity directly none of whose rules
//    decided anything for it in the window is narrowed; a single rule never
//    used (in a policy otherwise used, or reached through a role) is reported;
//  - expiring: `expires` within `stale.expiryWarningDays`, reported;
//  - rotation (rotation.ts): credentials past their `notAfter` are retired,
//    an oldest credential older than `stale.rotateAfterDays` is reported.
import type { Bundle, BundleIdentity, BundlePolicy } from '../../engine/types.js'
import type { OwnerStatus } from '../github/membership.js'
import { DAY, day, type Usage } from './evidence.js'
import { rotation } from './rotation.js'

export type Action = 'remove' | 'change-owner' | 'narrow' | 'retire' | 'report'
export type ProposingAction = Exclude<Action, 'report'>

export interface Finding {
  identity: string
  action: Action
  /** What kind of evidence, stable across runs (`idle`, `never-used`, `expired`, `owner-left`, ...). */
  kind: string
  /** One line, shown in pull requests and the summary. */
  reason: string
  /** For `narrow`: the policies whose subjects lose the identity. */
  policies?: string[]
}

export interface SweepEvidence {
  bundle: Bundle
  usage: Usage
  now: Date
  /** Whether the usage records reach back over the whole inactivity window. */
  covered: boolean
  windowStart: Date
  owners: Map<string, OwnerStatus>
  /** When the identity was added to the repository (its first commit). */
  addedAt(identity: string): Promise<Date>
  graceSeconds: number
}

export type Finder = (evidence: SweepEvidence) => Promise<Finding[]>

const identities = (bundle: Bundle) => Object.values(bundle.identities).sort((a, b) => (a.name < b.name ? -1 : 1))

/** Whether the evidence shows the identity used within the window. */
export const inUse = (e: SweepEvidence, name: string) => (e.usage.lastSeen.get(name) ?? new Date(0)) >= e.windowStart

/** The policies that apply to `identity`, directly or through one of its roles. */
export const policiesOf = (bundle: Bundle, identity: BundleIdentity): BundlePolicy[] =>
  bundle.policies.filter((p) => p.subjects.identities.includes(identity.name) || p.subjects.roles.some((r) => identity.roles.includes(r)))

/**
 * Whether the identity existed, while usage was recorded, for the whole
 * window plus the grace: only then can anything be said to be unused by it.
 * Its first recorded use proves it existed then; otherwise its first commit.
 */
async function observedLongEnough(e: SweepEvidence, name: string): Promise<{ ok: boolean; added?: Date; from?: Date }> {
  const needed = e.bundle.settings.stale.inactiveDays * DAY + e.graceSeconds * 1000
  const first = e.usage.firstSeen.get(name)
  if (first && e.now.getTime() - first.getTime() >= needed) return { ok: true }
  const added = await e.addedAt(name)
  const from = added > e.usage.since! ? added : e.usage.since!
  return { ok: e.now.getTime() - from.getTime() >= needed, added, from }
}

const expired: Finder = async ({ bundle, now }) =>
  identities(bundle).filter((i) => i.expires && i.expires < day(now)).map((i) => ({ identity: i.name, action: 'remove', kind: 'expired', reason: `expired on ${i.expires}` }))

const inactive: Finder = async (e) => {
  const { inactiveDays } = e.bundle.settings.stale
  const found: Finding[] = []
  if (!e.covered) return found
  for (const identity of identities(e.bundle)) {
    const lastSeen = e.usage.lastSeen.get(identity.name)
    if (lastSeen && lastSeen < e.windowStart) {
      found.push({ identity: identity.name, action: 'remove', kind: 'idle', reason: `no activity for ${Math.floor((e.now.getTime() - lastSeen.getTime()) / DAY)} days (last seen ${day(lastSeen)}; the limit is ${inactiveDays})` })
    } else if (!lastSeen) {
      const { ok, added, from } = await observedLongEnough(e, identity.name)
      if (ok) {
        const days = Math.floor((e.now.getTime() - from!.getTime()) / DAY)
        found.push({ identity: identity.name, action: 'remove', kind: 'never-used', reason: `never used in ${days} days: added ${day(added!)}, usage recorded since ${day(e.usage.since!)}` })
      }
    }
  }
  return found
}

const owner: Finder = async (e) => {
  const found: Finding[] = []
  for (const identity of identities(e.bundle)) {
    const status = e.owners.get(identity.name)
    if (status?.state === 'left') {
      const where = `a member of ${e.bundle.settings.organisation}`
      found.push({ identity: identity.name, action: 'change-owner', kind: 'owner-left', reason: `its owner \`${identity.owner}\` is no longer ${where}` })
    } else if (status?.state === 'unknown') {
      found.push({ identity: identity.name, action: 'report', kind: 'owner-unknown', reason: `whether its owner \`${identity.owner}\` is still there is unknown: ${status.why}` })
    }
  }
  return found
}

const unusedGrants: Finder = async (e) => {
  const found: Finding[] = []
  if (!e.covered) return found
  const { bundle } = e
  const used = (identity: string, rule: string) => (e.usage.rules.get(identity)?.get(rule)?.lastUsed ?? new Date(0)) >= e.windowStart
  for (const identity of identities(bundle)) {
    if (!(await observedLongEnough(e, identity.name)).ok) continue
    const narrowed: string[] = []
    for (const policy of policiesOf(bundle, identity)) {
      const rules = policy.rules.map((i) => bundle.rules[i]!.id)
      const unused = rules.filter((r) => !used(identity.name, r))
      // Named directly and not also reached by a role: removing the name removes exactly this policy's grants.
      const direct = policy.subjects.identities.includes(identity.name) && !policy.subjects.roles.some((r) => identity.roles.includes(r))
      if (direct && rules.length > 0 && unused.length === rules.length) narrowed.push(policy.name)
      else for (const rule of unused) found.push({ identity: identity.name, action: 'report', kind: `unused-rule:${rule}`, reason: `rule \`${rule}\` decided nothing for it in the last ${bundle.settings.stale.inactiveDays} days` })
    }
    if (narrowed.length > 0) {
      found.push({ identity: identity.name, action: 'narrow', kind: 'unused-policy', policies: narrowed, reason: `no rule of ${narrowed.map((p) => `\`${p}\``).join(', ')} decided anything for it in the last ${bundle.settings.stale.inactiveDays} days` })
    }
  }
  return found
}

const expiring: Finder = async ({ bundle, now }) => {
  const today = day(now)
  return identities(bundle).flatMap((i): Finding[] => {
    if (!i.expires || i.expires < today) return []
    const left = Math.floor((Date.parse(i.expires) - Date.parse(today)) / DAY)
    return left <= bundle.settings.stale.expiryWarningDays ? [{ identity: i.name, action: 'report', kind: 'expiring', reason: `expires on ${i.expires}, in ${left} days` }] : []
  })
}

export const FINDERS: Finder[] = [expired, inactive, owner, unusedGrants, expiring, rotation]

/**
 * One proposal's findings for an identity, and the change they add up to. An
 * identity has at most two: the access change, and the retirement of its
 * expired credentials, which is independent of it (its own pull request).
 */
export interface IdentityFindings {
  identity: string
  /** The change proposed: removal wins over a change of owner, which wins over narrowing; `retire` stands apart. */
  action: ProposingAction | undefined
  /** The findings behind the action (removing an identity whose owner left names both). */
  reasons: Finding[]
  /** What is only reported, carried by the first of the identity's entries (so it is listed once). */
  reports: Finding[]
  policies: string[]
}

const RANK: Record<Exclude<ProposingAction, 'retire'>, number> = { remove: 3, 'change-owner': 2, narrow: 1 }

function proposals(identity: string, findings: Finding[]): IdentityFindings[] {
  // An identity on its way out needs no credential clean-up: what is expired is then only reported.
  const removing = findings.some((f) => f.action === 'remove')
  const own = findings.map((f): Finding => (removing && f.action === 'retire' ? { ...f, action: 'report' } : f))
  const changing = own.filter((f): f is Finding & { action: keyof typeof RANK } => f.action !== 'report' && f.action !== 'retire')
  const action = changing.reduce<keyof typeof RANK | undefined>((best, f) => (!best || RANK[f.action] > RANK[best] ? f.action : best), undefined)
  // Removal carries the owner's departure too: it is part of why.
  const reasons = action === 'remove' ? changing.filter((f) => f.action === 'remove' || f.action === 'change-owner') : changing.filter((f) => f.action === action)
  // A rule unused by an identity being removed says nothing more.
  const reports = own.filter((f) => f.action === 'report' && !(action === 'remove' && f.kind.startsWith('unused-rule:')))
  const retiring = own.filter((f) => f.action === 'retire')
  const entries: IdentityFindings[] = []
  if (action || retiring.length === 0) entries.push({ identity, action, reasons, reports, policies: reasons.flatMap((f) => f.policies ?? []) })
  if (retiring.length > 0) entries.push({ identity, action: 'retire', reasons: retiring, reports: entries.length > 0 ? [] : reports, policies: [] })
  return entries
}

export async function findAll(evidence: SweepEvidence, finders: readonly Finder[] = FINDERS): Promise<IdentityFindings[]> {
  const all = (await Promise.all(finders.map((f) => f(evidence)))).flat()
  const byIdentity = new Map<string, Finding[]>()
  for (const f of all) byIdentity.set(f.identity, [...(byIdentity.get(f.identity) ?? []), f])
  return [...byIdentity].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([identity, findings]) => proposals(identity, findings))
}
