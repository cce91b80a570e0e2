// Stage 6: what is legal but probably wrong. Findings are warnings: they
// fail `validate` only with `--strict`, and never stop `compile`.
import { EFFECT_RANK } from '../engine/engine.js'
import type { Diagnostic } from './diagnostics.js'
import type { Model } from './resolve.js'
import { targetCovers } from './rule-coverage.js'

export interface LintOptions {
  /** "Today", for expiry checks. */
  now: Date
}

export function lintModel(model: Model, options: LintOptions): Diagnostic[] {
  return [...shadowedRules(model), ...unusedRoles(model), ...expiries(model, options.now)]
}

/**
 * A rule is shadowed when it can never be the deciding rule: an unconditional
 * rule that applies to at least the same identities and resources covers its
 * target and either comes first with the same effect or has a stricter one.
 * Checked within each policy, and across policies for deny and approve rules.
 */
function shadowedRules(model: Model): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  const scope = model.policies.map((policy) => ({ identities: new Set<string>(), resources: new Set(policy.resources) }))
  for (const [name, list] of Object.entries(model.index.identities)) for (const p of list) scope[p]!.identities.add(name)
  const withinCache = new Map<string, boolean>()
  const within = (inner: number, outer: number): boolean => {
    const key = `${inner},${outer}`
    let result = withinCache.get(key)
    if (result === undefined) {
      const a = scope[inner]!
      const b = scope[outer]!
      result = [...a.identities].every((i) => b.identities.has(i)) && [...a.resources].every((r) => b.resources.has(r))
      withinCache.set(key, result)
    }
    return result
  }
  const policyOf = new Map<number, number>()
  model.policies.forEach((policy, p) => policy.rules.forEach((r) => policyOf.set(r, p)))
  // Unconditional deny and approve rules, by a resource their policy covers:
  // a rule elsewhere can only be shadowed by one covering all its resources.
  const strictByResource = new Map<string, number[]>()
  model.rules.forEach((r, i) => {
    if (r.when || r.effect === 'allow') return
    for (const resource of model.policies[policyOf.get(i)!]!.resources) {
      const list = strictByResource.get(resource)
      if (list) list.push(i)
      else strictByResource.set(resource, [i])
    }
  })

  model.rules.forEach((rule, i) => {
    const ownPolicy = policyOf.get(i)!
    const policy = model.policies[ownPolicy]!
    const elsewhere = (strictByResource.get(policy.resources[0] ?? '') ?? []).filter((j) => policyOf.get(j) !== ownPolicy)
    for (const j of [...policy.rules, ...elsewhere]) {
      if (j === i) continue
      const other = model.rules[j]!
      const stricter = EFFECT_RANK[other.effect] > EFFECT_RANK[rule.effect]
      const earlierSame = other.effect === rule.effect && j < i
      if (!stricter && !earlierSame) continue
      if (!targetCovers(other, rule)) continue
      const otherPolicy = policyOf.get(j)!
      if (otherPolicy !== ownPolicy && !within(ownPolicy, otherPolicy)) continue
      const { doc, path } = model.origins.rules[i]!
      diagnostics.push({
        ...doc.locate([...path, 'name']),
        code: 'lint.shadowed_rule',
        severity: 'warning',
        message: `rule \`${rule.name}\` can never decide: \`${other.id}\` (${other.source}) ${stricter ? `${other.effect === 'deny' ? 'denies' : 'holds for approval'} everything it matches` : 'matches everything it does first'}`,
        help: stricter ? 'narrow the stricter rule, or remove this one' : 'remove this rule, or move it before the broader one and narrow it',
      })
      break
    }
  })
  return diagnostics
}

function unusedRoles(model: Model): Diagnostic[] {
  const used = new Set(model.policies.flatMap((p) => p.subjects.roles))
  const reported = new Set<string>()
  const diagnostics: Diagnostic[] = []
  for (const identity of Object.values(model.identities)) {
    identity.roles.forEach((role, i) => {
      if (used.has(role) || reported.has(role)) return
      reported.add(role)
      const holders = Object.values(model.identities).filter((id) => id.roles.includes(role)).length
      const doc = model.origins.identities.get(identity.name)!
      diagnostics.push({
        ...doc.locate(['roles', i]),
        code: 'lint.unused_role',
        severity: 'warning',
        message: `role \`${role}\` (held by ${holders} identit${holders === 1 ? 'y' : 'ies'}) is used by no policy`,
      })
    })
  }
  return diagnostics
}

const DAY_MS = 86_400_000

function expiries(model: Model, now: Date): Diagnostic[] {
  const today = now.toISOString().slice(0, 10)
  // `expires` is the last valid day: within the warning window, say so while there is time to renew.
  const warnFrom = new Date(now.getTime() + model.settings.stale.expiryWarningDays * DAY_MS).toISOString().slice(0, 10)
  const diagnostics: Diagnostic[] = []
  for (const identity of Object.values(model.identities)) {
    const doc = model.origins.identities.get(identity.name)!
    if (!identity.expires && model.settings.requireExpiry) {
      diagnostics.push({
        ...doc.locate(['name']),
        code: 'lint.missing_expiry',
        severity: 'warning',
        message: `identity \`${identity.name}\` has no \`expires\` date, which gatehouse.yaml requires`,
        help: 'add `expires: YYYY-MM-DD`; renew it by pull request when the job still needs access',
      })
    } else if (identity.expires && identity.expires < today) {
      diagnostics.push({
        ...doc.locate(['expires']),
        code: 'lint.expired_identity',
        severity: 'warning',
        message: `identity \`${identity.name}\` expired on ${identity.expires}; the gateway refuses it`,
        help: 'remove the identity, or extend `expires` if the job still needs access',
      })
    } else if (identity.expires && identity.expires <= warnFrom) {
      const days = Math.round((Date.parse(`${identity.expires}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY_MS)
      diagnostics.push({
        ...doc.locate(['expires']),
        code: 'lint.expiring_identity',
        severity: 'warning',
        message: `identity \`${identity.name}\` expires on ${identity.expires}, ${days === 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`}; from the day after, the gateway refuses it`,
        help: 'extend `expires` by pull request if the job still needs access, or remove the identity',
      })
    }
  }
  return diagnostics
}
