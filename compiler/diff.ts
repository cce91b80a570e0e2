// The effective-permission difference between two bundles: who gains or
// loses what, where, with a risk level for each change. Rules are compared by
// what they do, never by their names, so renaming or moving a rule is no change.
//
// Risk is access gained by subjects that still exist: new or widened grants,
// denies, approval requirements and masks lost by an identity that remains,
// and changes to who owns or approves. Access that disappears together with
// its subject is no risk: a removed identity is one low-risk change.
import { canonicalJson } from '../engine/bundle-integrity.js'
import { createEngine, type Engine, type PairRules } from '../engine/engine.js'
import { describeTarget } from '../engine/permissions.js'
import type { Bundle, BundleIdentity, BundleResource, BundleRule, SqlAction } from '../engine/types.js'
import { diffCredentials } from './diff-credentials.js'
import { targetCovers } from './rule-coverage.js'

export type Risk = 'high' | 'medium' | 'low'

export type ChangeKind =
  | 'identity-added'
  | 'identity-removed'
  | 'owner-changed'
  | 'expiry-changed'
  | 'credentials-changed'
  | 'grant-added'
  | 'grant-removed'
  | 'grant-changed'
  | 'approval-removed'
  | 'approvers-changed'
  | 'mask-added'
  | 'mask-removed'
  | 'resource-added'
  | 'resource-removed'
  | 'resource-changed'
  | 'settings-changed'
  | 'binding-added'
  | 'binding-removed'
  | 'binding-widened'
  | 'binding-narrowed'

export interface PermissionChange {
  kind: ChangeKind
  identity?: string
  resource?: string
  /** One line a reviewer reads. */
  detail: string
  risk: Risk
  /** Why the risk is what it is. */
  why: string
  rule?: string
}

export interface PermissionDiff {
  base: string
  head: string
  changes: PermissionChange[]
  counts: Record<Risk, number>
  /** Identities whose effective permissions, ownership or credentials changed. */
  identities: string[]
  /** Resources whose rules, masks or settings changed. */
  resources: string[]
  /** Policies with an added, removed or changed rule or mask. */
  policies: string[]
}

const RISK_ORDER: Record<Risk, number> = { low: 0, medium: 1, high: 2 }
const maxRisk = (a: Risk, b: Risk): Risk => (RISK_ORDER[a] >= RISK_ORDER[b] ? a : b)

/** Actions that read or inspect; everything else changes something or escapes the data model. */
const READ_ACTIONS = new Set(['select', 'copy-out', 'explain', 'lock', 'set', 'set-search-path', 'listen', 'sftp-read'])

export function isSensitive(resource: BundleResource): boolean {
  const { env, data, sensitive } = resource.labels
  return env === 'production' || env === 'prod' || data === 'sensitive' || data === 'pii' || data === 'confidential' || sensitive === 'true'
}

const signatures = new WeakMap<BundleRule, string>()

/** What a rule does, without its name or position: the unit of comparison. */
function ruleSignature(rule: BundleRule): string {
  let signature = signatures.get(rule)
  if (signature === undefined) {
    const { id: _id, policy: _policy, name: _name, description: _description, source: _source, ...semantics } = rule
    signature = canonicalJson(semantics)
    signatures.set(rule, signature)
  }
  return signature
}

function ruleActions(rule: BundleRule): string[] {
  if (rule.kind === 'postgres') return rule.actions ?? []
  const actions: string[] = []
  if (rule.exec) actions.push('exec')
  if (rule.shell) actions.push('shell')
  if (rule.sftp?.read.length) actions.push('sftp-read')
  if (rule.sftp?.write.length) actions.push('sftp-write')
  if (rule.forward) actions.push('forward')
  if (rule.listen) actions.push('listen')
  if (rule.agent) actions.push('agent')
  if (rule.x11) actions.push('x11')
  return actions
}

interface PairView {
  rules: Map<string, BundleRule>
  masks: Map<string, string>
  /** Rules and masks in one string, to skip unchanged pairs quickly. */
  key: string
}

function viewPair(pair: PairRules): PairView {
  const rules = new Map<string, BundleRule>()
  for (const r of pair.rules) rules.set(ruleSignature(r.rule), r.rule)
  const masks = new Map<string, string>()
  for (const entries of pair.columnMasks.values()) for (const m of entries) masks.set(`${m.id} ${m.strategy} ${m.mode}`, m.policy)
  for (const m of pair.detectors) masks.set(`${m.id} ${m.strategy} ${m.mode}`, m.policy)
  const key = [...rules.keys()].sort().join('\n') + '\0' + [...masks.keys()].sort().join('\n')
  return { rules, masks, key }
}

/**
 * One side of a diff. An identity's effective permissions are fully
 * determined by the policies that apply to it, so identities whose policies
 * mean the same on both sides are skipped without building any view, and
 * identities sharing the same policies share their views.
 */
class Side {
  private readonly policyKeys: string[]
  private readonly viewsByPolicies = new Map<string, Map<string, PairView>>()

  constructor(readonly engine: Engine) {
    const { bundle } = engine
    this.policyKeys = bundle.policies.map((policy) =>
      canonicalJson({
        rules: policy.rules.map((r) => ruleSignature(bundle.rules[r]!)),
        masks: policy.masks,
        resources: policy.resources.map((name) => `${name}:${bundle.resources[name]?.type}`),
      }),
    )
  }

  /** What decides the identity's permissions, comparable across sides. */
  identityKey(name: string): string {
    return (this.engine.bundle.index.identities[name] ?? []).map((p) => this.policyKeys[p]).join('\n')
  }

  views(name: string): Map<string, PairView> {
    const { bundle } = this.engine
    const policies = bundle.index.identities[name] ?? []
    const groupKey = policies.join(',')
    let views = this.viewsByPolicies.get(groupKey)
    if (!views) {
      views = new Map()
      const resources = new Set<string>()
      for (const p of policies) for (const r of bundle.policies[p]!.resources) resources.add(r)
      for (const resource of resources) {
        const pair = this.engine.pair(name, resource)
        if (pair && (pair.rules.length > 0 || pair.detectors.length > 0 || pair.columnMasks.size > 0)) views.set(resource, viewPair(pair))
      }
      this.viewsByPolicies.set(groupKey, views)
    }
    return views
  }
}

function grantRisk(rule: BundleRule, resource: BundleResource | undefined, loosening: boolean): { risk: Risk; why: string } {
  if (!loosening) return { risk: 'low', why: 'restricts access' }
  const sensitive = resource ? isSensitive(resource) : false
  const actions = ruleActions(rule)
  const writes = actions.filter((a) => !READ_ACTIONS.has(a))
  const where = sensitive ? 'on a production or sensitive resource' : 'on a non-production resource'
  if (rule.mode === 'observe') return { risk: 'low', why: 'observe mode: recorded, not enforced' }
  if (writes.length > 0) return { risk: sensitive ? 'high' : 'medium', why: `${writes.join(', ')} ${where}` }
  return { risk: sensitive ? 'medium' : 'low', why: `read access ${where}` }
}

function describeGrant(rule: BundleRule): string {
  const approval = rule.approval ? ` (approval: ${rule.approval.count} of ${rule.approval.approvers.join(', ')}, ${rule.approval.timeout}s)` : ''
  const condition = rule.when ? ` when \`${rule.when}\`` : ''
  const mode = rule.mode === 'observe' ? ' [observe]' : ''
  return `${rule.effect} ${describeTarget(rule)}${condition}${approval}${mode}`
}

const EFFECT_STRICTNESS = { allow: 0, approve: 1, deny: 2 } as const

/** Whether an approval rule kept its target but now asks fewer or other people. */
function approvalLoosened(before: BundleRule, after: BundleRule): boolean {
  return !!before.approval && !!after.approval && after.approval.count < before.approval.count
}
const approversDiffer = (before: BundleRule, after: BundleRule) =>
  !!before.approval && !!after.approval && canonicalJson([...before.approval.approvers].sort()) !== canonicalJson([...after.approval.approvers].sort())

function changedKind(before: BundleRule, after: BundleRule): ChangeKind {
  if (before.effect === 'approve' && after.effect === 'allow') return 'approval-removed'
  if (before.effect === 'approve' && after.effect === 'approve' && (approversDiffer(before, after) || approvalLoosened(before, after))) return 'approvers-changed'
  return 'grant-changed'
}

/** The risk of a rule that kept its id but changed what it does. */
function changeRisk(before: BundleRule, after: BundleRule, resource: BundleResource | undefined): { risk: Risk; why: string } {
  if (EFFECT_STRICTNESS[after.effect] < EFFECT_STRICTNESS[before.effect]) {
    const { risk, why } = grantRisk(after.effect === 'allow' ? after : before, resource, true)
    return { risk, why: before.effect === 'approve' ? `no longer held for approval: ${why}` : why }
  }
  if (EFFECT_STRICTNESS[after.effect] > EFFECT_STRICTNESS[before.effect]) return { risk: 'low', why: 'restricts access' }
  const sameCondition = (before.when ?? '') === (after.when ?? '')
  if (before.effect === 'allow') {
    const gained = ruleActions(after).filter((a) => !ruleActions(before).includes(a))
    if (gained.length > 0 && after.kind === 'postgres') return grantRisk({ ...after, actions: gained as SqlAction[] }, resource, true)
    if (gained.length > 0 || !sameCondition || !targetCovers(before, after, { ignoreConditions: true })) return grantRisk(after, resource, true)
    return { risk: 'low', why: 'narrows access' }
  }
  // A deny or approval rule loosens when it stops covering something it covered.
  if (sameCondition && targetCovers(after, before, { ignoreConditions: true })) {
    if (approvalLoosened(before, after)) {
      const { risk, why } = grantRisk(before, resource, true)
      return { risk, why: `fewer approvals needed: ${why}` }
    }
    if (approversDiffer(before, after)) return { risk: 'medium', why: 'changes who approves' }
    return { risk: 'low', why: 'widens a restriction' }
  }
  const { risk, why } = grantRisk(before, resource, true)
  return { risk, why: `restriction narrowed: ${why}` }
}

function diffPair(
  identity: string,
  resourceName: string,
  base: PairView | undefined,
  head: PairView | undefined,
  resource: BundleResource | undefined,
  changes: PermissionChange[],
): void {
  const baseRules = base?.rules ?? new Map<string, BundleRule>()
  const headRules = head?.rules ?? new Map<string, BundleRule>()
  const removed = new Map<string, BundleRule>()
  for (const [signature, rule] of baseRules) if (!headRules.has(signature)) removed.set(rule.id, rule)
  for (const [signature, rule] of headRules) {
    if (baseRules.has(signature)) continue
    const before = removed.get(rule.id)
    if (before) {
      // Same rule, different meaning: one change, judged by what it gains.
      removed.delete(rule.id)
      const { risk, why } = changeRisk(before, rule, resource)
      changes.push({ kind: changedKind(before, rule), identity, resource: resourceName, detail: `${describeGrant(before)} → ${describeGrant(rule)}`, risk, why, rule: rule.id })
      continue
    }
    // A new allow loosens; a new deny or approval tightens.
    const { risk, why } = grantRisk(rule, resource, rule.effect === 'allow')
    changes.push({ kind: 'grant-added', identity, resource: resourceName, detail: describeGrant(rule), risk, why, rule: rule.id })
  }
  for (const rule of removed.values()) {
    // Losing a deny or an approval requirement loosens.
    const { risk, why } = grantRisk(rule, resource, rule.effect !== 'allow')
    if (rule.effect === 'approve') {
      changes.push({ kind: 'approval-removed', identity, resource: resourceName, detail: `approval no longer required: ${describeGrant(rule)}`, risk, why: `no longer held for approval: ${why}`, rule: rule.id })
      continue
    }
    changes.push({ kind: 'grant-removed', identity, resource: resourceName, detail: describeGrant(rule), risk, why: rule.effect === 'allow' ? why : `no longer denied: ${why}`, rule: rule.id })
  }
  const baseMasks = base?.masks ?? new Map<string, string>()
  const headMasks = head?.masks ?? new Map<string, string>()
  for (const mask of headMasks.keys()) {
    if (!baseMasks.has(mask)) changes.push({ kind: 'mask-added', identity, resource: resourceName, detail: `mask ${mask}`, risk: 'low', why: 'hides more data' })
  }
  for (const mask of baseMasks.keys()) {
    if (headMasks.has(mask)) continue
    const sensitive = resource ? isSensitive(resource) : false
    changes.push({
      kind: 'mask-removed', identity, resource: resourceName, detail: `mask ${mask}`,
      risk: sensitive ? 'high' : 'medium', why: `unmasks data ${sensitive ? 'on a production or sensitive resource' : ''}`.trim(),
    })
  }
}

/** A removed identity loses everything at once: one row, whatever it held. */
function identityRemoved(name: string, base: BundleIdentity, views: Map<string, PairView>): PermissionChange {
  let grants = 0
  let resources = 0
  for (const view of views.values()) {
    const held = [...view.rules.values()].filter((rule) => rule.effect !== 'deny').length
    grants += held
    if (held > 0) resources++
  }
  return {
    kind: 'identity-removed', identity: name,
    detail: `identity removed: ${grants} grant${grants === 1 ? '' : 's'} on ${resources} resource${resources === 1 ? '' : 's'} end (was owned by ${base.owner})`,
    risk: 'low', why: 'removes access; its denies and masks go with it',
  }
}

function diffIdentity(name: string, base: BundleIdentity | undefined, head: BundleIdentity | undefined, changes: PermissionChange[]): void {
  if (!base && head) {
    const risk: Risk = head.expires ? 'medium' : 'high'
    changes.push({ kind: 'identity-added', identity: name, detail: `new identity owned by ${head.owner}${head.expires ? `, expires ${head.expires}` : ', never expires'}`, risk, why: head.expires ? 'new credential' : 'new credential without expiry' })
    diffCredentials(name, undefined, head.credentials, changes)
    return
  }
  if (!base || !head) return
  if (base.owner !== head.owner) changes.push({ kind: 'owner-changed', identity: name, detail: `owner ${base.owner} → ${head.owner}`, risk: 'medium', why: 'changes who is accountable' })
  if (base.expires !== head.expires) {
    const extended = !head.expires || (base.expires !== undefined && head.expires > base.expires)
    changes.push({
      kind: 'expiry-changed', identity: name, detail: `expires ${base.expires ?? 'never'} → ${head.expires ?? 'never'}`,
      risk: !head.expires ? 'high' : extended ? 'medium' : 'low', why: !head.expires ? 'identity no longer expires' : extended ? 'extends access' : 'shortens access',
    })
  }
  diffCredentials(name, base.credentials, head.credentials, changes)
}

function diffResource(name: string, base: BundleResource | undefined, head: BundleResource | undefined, changes: PermissionChange[]): void {
  if (!base && head) {
    changes.push({ kind: 'resource-added', resource: name, detail: `new ${head.type} resource owned by ${head.owner}`, risk: 'low', why: 'no access until a policy grants it' })
    return
  }
  if (base && !head) {
    changes.push({ kind: 'resource-removed', resource: name, detail: 'resource removed', risk: 'low', why: 'removes access' })
    return
  }
  if (!base || !head) return
  const { source: _a, ...baseRest } = base
  const { source: _b, ...headRest } = head
  if (canonicalJson(baseRest) === canonicalJson(headRest)) return
  const weaker: string[] = []
  if (base.postgres && head.postgres) {
    const order = { 'verify-full': 2, require: 1, disable: 0 }
    if (order[head.postgres.tls.mode] < order[base.postgres.tls.mode]) weaker.push(`TLS ${base.postgres.tls.mode} → ${head.postgres.tls.mode}`)
  }
  if (base.ssh && head.ssh && base.ssh.hostKey !== head.ssh.hostKey) weaker.push('pinned host key replaced')
  if (base.audit.mode === 'sync' && head.audit.mode === 'async') weaker.push('audit sync → async')
  if (base.owner !== head.owner) {
    changes.push({ kind: 'owner-changed', resource: name, detail: `owner ${base.owner} → ${head.owner}`, risk: 'medium', why: 'changes who is accountable and who approves its changes' })
    if (canonicalJson({ ...baseRest, owner: '' }) === canonicalJson({ ...headRest, owner: '' })) return
  }
  const labels = canonicalJson(base.labels) !== canonicalJson(head.labels) ? 'labels changed' : ''
  const detail = [...weaker, labels].filter(Boolean).join('; ') || 'connection settings changed'
  changes.push({ kind: 'resource-changed', resource: name, detail, risk: weaker.length > 0 ? 'high' : 'medium', why: weaker.length > 0 ? 'weakens how the gateway reaches or records the resource' : 'changes where the gateway connects' })
}

export type DiffResult = { ok: true; diff: PermissionDiff } | { ok: false; errors: string[] }

export function diffBundles(base: Bundle, head: Bundle): DiffResult {
  const baseEngine = createEngine(base)
  const headEngine = createEngine(head)
  if (!baseEngine.ok || !headEngine.ok) return { ok: false, errors: [...(baseEngine.ok ? [] : baseEngine.errors), ...(headEngine.ok ? [] : headEngine.errors)] }
  const changes: PermissionChange[] = []

  if (canonicalJson(base.settings) !== canonicalJson(head.settings)) {
    const approversChanged = canonicalJson(base.settings.approvers) !== canonicalJson(head.settings.approvers) || canonicalJson(base.settings.approvals) !== canonicalJson(head.settings.approvals)
    changes.push({ kind: 'settings-changed', detail: approversChanged ? 'who approves policy changes changed' : 'repository settings changed', risk: approversChanged ? 'high' : 'medium', why: approversChanged ? 'changes the approval rules themselves' : 'changes repository-wide behaviour' })
  }
  const resourceNames = [...new Set([...Object.keys(base.resources), ...Object.keys(head.resources)])].sort()
  for (const name of resourceNames) diffResource(name, base.resources[name], head.resources[name], changes)

  const baseSide = new Side(baseEngine.engine)
  const headSide = new Side(headEngine.engine)
  const identityNames = [...new Set([...Object.keys(base.identities), ...Object.keys(head.identities)])].sort()
  for (const name of identityNames) {
    const [was, is] = [base.identities[name], head.identities[name]]
    if (was && !is) {
      changes.push(identityRemoved(name, was, baseSide.views(name)))
      continue
    }
    diffIdentity(name, was, is, changes)
    if (was && is && baseSide.identityKey(name) === headSide.identityKey(name)) continue
    const before = was ? baseSide.views(name) : new Map<string, PairView>()
    const after = headSide.views(name)
    for (const resource of [...new Set([...before.keys(), ...after.keys()])].sort()) {
      const b = before.get(resource)
      const a = after.get(resource)
      if (b && a && b.key === a.key) continue
      diffPair(name, resource, b, a, head.resources[resource] ?? base.resources[resource], changes)
    }
  }
  const counts: Record<Risk, number> = { high: 0, medium: 0, low: 0 }
  for (const c of changes) counts[c.risk]++
  const policies = new Set<string>()
  for (const c of changes) if (c.rule) policies.add(c.rule.split('/')[0]!)
  const basePolicies = new Map(base.policies.map((p) => [p.name, p]))
  const headPolicies = new Map(head.policies.map((p) => [p.name, p]))
  for (const name of new Set([...basePolicies.keys(), ...headPolicies.keys()])) {
    const before = basePolicies.get(name)
    const after = headPolicies.get(name)
    if (!before || !after || canonicalJson(before.masks) !== canonicalJson(after.masks) || canonicalJson(before.subjects) !== canonicalJson(after.subjects)) policies.add(name)
  }
  return {
    ok: true,
    diff: {
      base: base.manifest.revision,
      head: head.manifest.revision,
      changes,
      counts,
      identities: [...new Set(changes.flatMap((c) => (c.identity ? [c.identity] : [])))].sort(),
      resources: [...new Set(changes.flatMap((c) => (c.resource ? [c.resource] : [])))].sort(),
      policies: [...policies].sort(),
    },
  }
}

export function overallRisk(diff: PermissionDiff): Risk | undefined {
  return diff.changes.reduce<Risk | undefined>((worst, c) => (worst ? maxRisk(worst, c.risk) : c.risk), undefined)
}
