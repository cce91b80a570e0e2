// What an audit event says about the decision behind it: the effect, the
// deciding rule, the reasons, the masks and the bundle revision. The same for
// every statement decided alike under one bundle, so the store keeps them
// once (AuditEventInput.shared); one object per decision, so the writer
// digests them once.
import type { Decision } from '../engine/types.js'

const fieldsOf = new WeakMap<Decision, { revision: string | null; fields: Record<string, unknown> }>()

export function decisionFields(decision: Decision, revision: string | null): Record<string, unknown> {
  const known = fieldsOf.get(decision)
  if (known?.revision === revision) return known.fields
  const fields = {
    decision: decision.effect,
    rule: decision.rule,
    reasons: decision.reasons,
    masks: decision.masks.map((m) => m.id),
    revision,
    ...(decision.observed ? { observed: { effect: decision.observed.effect, rule: decision.observed.rule } } : {}),
  }
  fieldsOf.set(decision, { revision, fields })
  return fields
}
