// Who must approve a policy change, decided from the BASE branch only (a pull
// request cannot name its own approvers): the repository's default approvers
// (more approvals for a high-risk change), the owners of every identity and
// resource the change touches, and the approvers named by the approval rules
// of every policy it changes. Rules with the same approvers are merged.
// One requirement comes from the head: a new identity's or resource's owner,
// or an owner a change moves it to, must approve becoming accountable for it
// (this can only add approvals, never remove one).
import { overallRisk, type PermissionDiff } from '../../compiler/diff.js'
import type { Bundle } from '../../engine/types.js'

export interface ApprovalRule {
  id: string
  /** Any of these principals (`@login` or `@org/team`) may satisfy it. */
  approvers: string[]
  required: number
  /** Why the rule exists, one line each. */
  reasons: string[]
  /** Where each reason comes from, in the order of `reasons`: the base branch, or the head for a new owner. */
  sources: RuleSource[]
}

export interface RuleSource {
  path: string
  line?: number
  side: 'base' | 'head'
}

/** A bundle's `file:line` position as a RuleSource. */
function sourceAt(position: string, side: RuleSource['side']): RuleSource {
  const colon = position.lastIndexOf(':')
  const line = Number(position.slice(colon + 1))
  return colon > 0 && Number.isInteger(line) && line > 0 ? { path: position.slice(0, colon), line, side } : { path: position, side }
}

/** The settings document has no position in the bundle; its file is known. */
const SETTINGS_FILE = 'gatehouse.yaml'

export function approvalRules(base: Bundle, diff: PermissionDiff | undefined, head?: Bundle): ApprovalRule[] {
  const risk = diff ? overallRisk(diff) : undefined
  const { approvers, approvals } = base.settings
  const rules = new Map<string, ApprovalRule>()
  const add = (principals: readonly string[], required: number, reason: string, source: RuleSource) => {
    if (principals.length === 0) return
    const sorted = [...new Set(principals)].sort()
    const key = sorted.join(',').toLowerCase()
    const rule = rules.get(key)
    if (rule) {
      rule.required = Math.max(rule.required, required)
      if (!rule.reasons.includes(reason)) {
        rule.reasons.push(reason)
        rule.sources.push(source)
      }
    } else rules.set(key, { id: '', approvers: sorted, required, reasons: [reason], sources: [source] })
  }
  // invariant: the default rule always exists, so no change merges without a policy approver.
  add(approvers, risk === 'high' ? approvals.highRisk : approvals.required, risk === 'high' ? 'default approvers (high-risk change)' : 'default approvers', { path: SETTINGS_FILE, side: 'base' })
  for (const name of diff?.identities ?? []) {
    const [was, is] = [base.identities[name], head?.identities[name]]
    if (was) add([was.owner], 1, `owner of identity \`${name}\``, sourceAt(was.source, 'base'))
    if (is && is.owner.toLowerCase() !== was?.owner.toLowerCase()) add([is.owner], 1, `${was ? 'new owner' : 'owner'} of ${was ? '' : 'new '}identity \`${name}\` accepts it`, sourceAt(is.source, 'head'))
  }
  for (const name of diff?.resources ?? []) {
    const [was, is] = [base.resources[name], head?.resources[name]]
    if (was) add([was.owner], 1, `owner of resource \`${name}\``, sourceAt(was.source, 'base'))
    if (is && is.owner.toLowerCase() !== was?.owner.toLowerCase()) add([is.owner], 1, `${was ? 'new owner' : 'owner'} of ${was ? '' : 'new '}resource \`${name}\` accepts it`, sourceAt(is.source, 'head'))
  }
  for (const name of diff?.policies ?? []) {
    const policy = base.policies.find((p) => p.name === name)
    if (!policy) continue
    const named = policy.rules.flatMap((i) => base.rules[i]?.approval?.approvers ?? [])
    add(named, 1, `approvers named by policy \`${name}\``, sourceAt(policy.source, 'base'))
  }
  return [...rules.values()].map((rule, i) => ({ ...rule, id: `rule-${i + 1}` }))
}
