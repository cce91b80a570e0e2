// Who must approve a policy change, decided from the BASE branch only (a pull
// request cannot name its own approvers): the repository's default approvers
// (more approvals for a high-risk change), the owners of every identity and
// resource the change touches, and the approvers named by the approval rules
// of every policy it changes. Rules with the same approvers are merged.
import { overallRisk, type PermissionDiff } from '../../compiler/diff.js'
import type { Bundle } from '../../engine/types.js'

export interface ApprovalRule {
  id: string
  /** Any of these principals (`@login` or `@org/team`) may satisfy it. */
  approvers: string[]
  required: number
  /** Why the rule exists, one line each. */
  reasons: string[]
}

export function approvalRules(base: Bundle, diff: PermissionDiff | undefined): ApprovalRule[] {
  const risk = diff ? overallRisk(diff) : undefined
  const { approvers, approvals } = base.settings
  const rules = new Map<string, ApprovalRule>()
  const add = (principals: readonly string[], required: number, reason: string) => {
    if (principals.length === 0) return
    const sorted = [...new Set(principals)].sort()
    const key = sorted.join(',').toLowerCase()
    const rule = rules.get(key)
    if (rule) {
      rule.required = Math.max(rule.required, required)
      if (!rule.reasons.includes(reason)) rule.reasons.push(reason)
    } else rules.set(key, { id: '', approvers: sorted, required, reasons: [reason] })
  }
  // invariant: the default rule always exists, so no change merges without a policy approver.
  add(approvers, risk === 'high' ? approvals.highRisk : approvals.required, risk === 'high' ? 'default approvers (high-risk change)' : 'default approvers')
  for (const name of diff?.identities ?? []) {
    const identity = base.identities[name]
    if (identity) add([identity.owner], 1, `owner of identity \`${name}\``)
  }
  for (const name of diff?.resources ?? []) {
    const resource = base.resources[name]
    if (resource) add([resource.owner], 1, `owner of resource \`${name}\``)
  }
  for (const name of diff?.policies ?? []) {
    const policy = base.policies.find((p) => p.name === name)
    if (!policy) continue
    const named = policy.rules.flatMap((i) => base.rules[i]?.approval?.approvers ?? [])
    add(named, 1, `approvers named by policy \`${name}\``)
  }
  return [...rules.values()].map((rule, i) => ({ ...rule, id: `rule-${i + 1}` }))
}
