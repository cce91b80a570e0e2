// "What may I do?": every rule and mask that applies to an identity, per
// resource, straight from the engine's own index, so the answer is exactly
// what decide() would use. Serves `gatehouse explain`, `gatehouse diff` and
// the gateway's `gatehouse.permissions`.
import type { Engine, PairRules } from './engine.js'
import type { Approval, BundleIdentity, BundleRule, Effect, MaskStrategy, Mode, ResourceType } from './types.js'

export interface Grant {
  rule: string
  effect: Effect
  mode: Mode
  kind: ResourceType
  /** What the rule matches, in words a person reads: `select on public.orders, public.customers`. */
  target: string
  when?: string
  approval?: Approval
  source: string
}

export interface MaskGrant {
  id: string
  strategy: MaskStrategy
  mode: Mode
  policy: string
}

export interface ResourcePermissions {
  resource: string
  type: ResourceType
  labels: Record<string, string>
  grants: Grant[]
  masks: MaskGrant[]
}

export interface IdentityPermissions {
  identity: BundleIdentity
  resources: ResourcePermissions[]
}

const list = (items: readonly string[]) => items.join(', ')

/** A rule's target in one line. */
export function describeTarget(rule: BundleRule): string {
  if (rule.kind === 'postgres') {
    const actions = list(rule.actions ?? [])
    const objects = [...(rule.tables ?? []), ...(rule.functions ?? [])]
    return objects.length > 0 ? `${actions} on ${list(objects)}` : `${actions} on any object`
  }
  const parts: string[] = []
  if (rule.exec) parts.push(`exec ${rule.exec.map((p) => `\`${p}\``).join(', ')}`)
  if (rule.shell) parts.push('interactive shell and shell syntax')
  if (rule.sftp?.read.length) parts.push(`read files ${list(rule.sftp.read)}`)
  if (rule.sftp?.write.length) parts.push(`write files ${list(rule.sftp.write)}`)
  if (rule.forward) parts.push(`forward to ${list(rule.forward)}`)
  if (rule.listen) parts.push(`listen on ${list(rule.listen)} for remote forwards`)
  if (rule.agent) parts.push('agent forwarding')
  if (rule.x11) parts.push('X11 forwarding')
  return parts.join('; ')
}

export function grantOf(rule: BundleRule): Grant {
  return {
    rule: rule.id,
    effect: rule.effect,
    mode: rule.mode,
    kind: rule.kind,
    target: describeTarget(rule),
    ...(rule.when ? { when: rule.when } : {}),
    ...(rule.approval ? { approval: rule.approval } : {}),
    source: rule.source,
  }
}

export function resourcePermissions(pair: PairRules): ResourcePermissions {
  const masks: MaskGrant[] = []
  for (const entries of pair.columnMasks.values()) for (const m of entries) masks.push({ id: m.id, strategy: m.strategy, mode: m.mode, policy: m.policy })
  for (const m of pair.detectors) masks.push({ id: m.id, strategy: m.strategy, mode: m.mode, policy: m.policy })
  return {
    resource: pair.resource.name,
    type: pair.resource.type,
    labels: pair.resource.labels,
    grants: pair.rules.map((r) => grantOf(r.rule)),
    masks,
  }
}

/** Every resource the identity has a rule or mask for, by name; undefined for an unknown identity. */
export function permissionsOf(engine: Engine, identityName: string): IdentityPermissions | undefined {
  const { bundle } = engine
  const identity = Object.hasOwn(bundle.identities, identityName) ? bundle.identities[identityName] : undefined
  if (!identity) return undefined
  const names = new Set<string>()
  for (const p of bundle.index.identities[identityName] ?? []) for (const r of bundle.policies[p]!.resources) names.add(r)
  const resources: ResourcePermissions[] = []
  for (const name of [...names].sort()) {
    const pair = engine.pair(identityName, name)
    if (!pair) continue
    const permissions = resourcePermissions(pair)
    if (permissions.grants.length > 0 || permissions.masks.length > 0) resources.push(permissions)
  }
  return { identity, resources }
}
