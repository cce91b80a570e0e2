// decide(): default deny; deny beats approve beats allow; the deciding rule is
// the first rule, in precedence order, with the winning effect. A condition
// that fails to evaluate denies. Observe-mode rules and masks are evaluated
// alongside and reported as what would have happened, never enforced.
import { evaluateCondition, type ConditionInput } from './cel.js'
import { EFFECT_RANK, type CompiledRule, type Engine, type PairRules } from './engine.js'
import type { Decision, DecisionRequest, Effect, MaskRef, MaskStrategy, Operation, TraceStep } from './types.js'

export interface DecideOptions {
  /** Record every rule considered (for `gatehouse explain` and failing tests). */
  explain?: boolean
}

interface Verdict {
  effect: Effect
  rule: CompiledRule | null
  error?: string
}

const STRATEGY_STRENGTH: Record<MaskStrategy, number> = { partial: 1, hash: 2, redact: 3, null: 4 }

export function describeOperation(op: Operation): string {
  if (op.kind === 'postgres') return op.object ? `${op.action} on \`${op.object}\`` : `\`${op.action}\``
  switch (op.action) {
    case 'exec': return op.shellSyntax ? `shell command \`${op.command ?? ''}\`` : `\`${op.command ?? (op.argv ?? []).join(' ')}\``
    case 'sftp-read': return `reading \`${op.path ?? ''}\``
    case 'sftp-write': return `writing \`${op.path ?? ''}\``
    case 'forward': return `forwarding to \`${op.target ?? ''}\``
    case 'listen': return `listening on \`${op.target ?? ''}\``
    default: return `\`${op.action}\``
  }
}

/** The action a rule must list to be a candidate for this operation. */
function candidateAction(op: Operation): string {
  return op.kind === 'ssh' && op.action === 'exec' && op.shellSyntax ? 'shell' : op.action
}

/** Whether the rule's target covers the operation (conditions aside); `undefined` when it does, else why not. */
function targetMismatch(rule: CompiledRule, op: Operation): string | undefined {
  const r = rule.rule
  if (op.kind === 'postgres') {
    if (r.kind !== 'postgres' || !r.actions?.includes(op.action)) return `does not list \`${op.action}\``
    if (!op.object) return undefined
    const patterns = op.action === 'function' || op.action === 'call' ? rule.functions : rule.tables
    if (!patterns) return undefined
    return patterns.some((m) => m(op.object!)) ? undefined : `does not cover \`${op.object}\``
  }
  if (r.kind !== 'ssh') return 'is not an SSH rule'
  switch (op.action) {
    case 'exec':
      if (op.shellSyntax) return r.shell ? undefined : 'does not allow shell syntax'
      return rule.exec?.some((m) => m(op.argv ?? [])) ? undefined : 'has no matching exec pattern'
    case 'shell': return r.shell ? undefined : 'does not allow a shell'
    case 'sftp-read': return rule.sftpRead?.some((m) => m(op.path ?? '')) ? undefined : 'does not cover reading this path'
    case 'sftp-write': return rule.sftpWrite?.some((m) => m(op.path ?? '')) ? undefined : 'does not cover writing this path'
    case 'forward': return rule.forward?.some((m) => m(op.target ?? '')) ? undefined : 'does not cover this target'
    case 'listen': return rule.listen?.some((m) => m(op.target ?? '')) ? undefined : 'does not cover this address'
    case 'agent': return r.agent ? undefined : 'does not allow agent forwarding'
    case 'x11': return r.x11 ? undefined : 'does not allow X11 forwarding'
  }
}

function conditionInput(pair: PairRules, request: DecisionRequest, op: Operation): ConditionInput {
  const { identity, resource } = pair
  return {
    identity: { name: identity.name, owner: identity.owner, roles: identity.roles, labels: identity.labels },
    resource: { name: resource.name, type: resource.type, labels: resource.labels },
    request: {
      action: op.action,
      object: op.kind === 'postgres' ? (op.object ?? '') : '',
      tables: request.reads ?? [],
      command: op.kind === 'ssh' ? (op.command ?? '') : '',
      argv: op.kind === 'ssh' ? (op.argv ?? []) : [],
      path: op.kind === 'ssh' ? (op.path ?? '') : '',
      target: op.kind === 'ssh' ? (op.target ?? '') : '',
      time: request.context.time,
      source: request.context.source ?? '',
    },
    session: { id: request.context.session?.id ?? '', application: request.context.session?.application ?? '' },
  }
}

/** Decides one operation: the enforced verdict and the one observe mode would give. */
function decideOperation(
  pair: PairRules,
  request: DecisionRequest,
  op: Operation,
  trace: TraceStep[] | undefined,
): { enforced: Verdict; observed: Verdict } {
  let enforced: Verdict = { effect: 'deny', rule: null }
  let observed: Verdict = { effect: 'deny', rule: null }
  let enforcedMatched = false
  let observedMatched = false
  const operation = trace ? describeOperation(op) : ''
  const candidates = trace ? pair.rules : (pair.byAction.get(candidateAction(op)) ?? [])
  let input: ConditionInput | undefined
  for (const rule of candidates) {
    const r = rule.rule
    const mismatch = targetMismatch(rule, op)
    if (mismatch) {
      trace?.push({ rule: r.id, effect: r.effect, mode: r.mode, outcome: 'skipped', operation, detail: `rule ${mismatch}` })
      continue
    }
    if (rule.condition) {
      input ??= conditionInput(pair, request, op)
      const result = evaluateCondition(rule.condition, input)
      if (!result.ok) {
        trace?.push({ rule: r.id, effect: r.effect, mode: r.mode, outcome: 'condition-error', operation, detail: result.error })
        const failure: Verdict = { effect: 'deny', rule, error: `rule \`${r.id}\`: condition failed: ${result.error}` }
        // An erroring condition denies, but an observe-mode rule never blocks.
        if (r.mode === 'enforce' && !enforced.error) {
          enforced = failure
          enforcedMatched = true
        }
        if (!observed.error) {
          observed = failure
          observedMatched = true
        }
        continue
      }
      if (!result.value) {
        trace?.push({ rule: r.id, effect: r.effect, mode: r.mode, outcome: 'condition-false', operation, detail: `condition \`${r.when}\` is false` })
        continue
      }
    }
    trace?.push({ rule: r.id, effect: r.effect, mode: r.mode, outcome: 'matched', operation, detail: r.when ? `condition \`${r.when}\` is true` : 'matched' })
    if (r.mode === 'enforce' && (!enforcedMatched || EFFECT_RANK[r.effect] > EFFECT_RANK[enforced.effect]) && !enforced.error) {
      enforced = { effect: r.effect, rule }
      enforcedMatched = true
    }
    if ((!observedMatched || EFFECT_RANK[r.effect] > EFFECT_RANK[observed.effect]) && !observed.error) {
      observed = { effect: r.effect, rule }
      observedMatched = true
    }
  }
  return { enforced, observed }
}

function reasonFor(verdict: Verdict, op: Operation, request: DecisionRequest): string {
  if (verdict.error) return verdict.error
  const what = describeOperation(op)
  if (!verdict.rule) return `no rule allows ${what} for \`${request.identity}\` on \`${request.resource}\``
  const verb = verdict.effect === 'allow' ? 'allows' : verdict.effect === 'deny' ? 'denies' : 'requires approval for'
  return `rule \`${verdict.rule.rule.id}\` ${verb} ${what}`
}

const NO_MASKS = Object.freeze([]) as unknown as MaskRef[]

function collectMasks(pair: PairRules, request: DecisionRequest, mode: 'enforce' | 'all'): MaskRef[] {
  if (pair.detectors.length === 0 && (pair.columnMasks.size === 0 || !request.reads?.length)) return NO_MASKS
  const chosen = new Map<string, MaskRef>()
  const add = (id: string, strategy: MaskStrategy, policy: string) => {
    const existing = chosen.get(id)
    if (!existing || STRATEGY_STRENGTH[strategy] > STRATEGY_STRENGTH[existing.strategy]) chosen.set(id, { id, strategy, policy })
  }
  for (const table of request.reads ?? []) {
    for (const mask of pair.columnMasks.get(table) ?? []) if (mode === 'all' || mask.mode === 'enforce') add(mask.id, mask.strategy, mask.policy)
  }
  for (const mask of pair.detectors) if (mode === 'all' || mask.mode === 'enforce') add(mask.id, mask.strategy, mask.policy)
  return [...chosen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

function denied(reason: string, trace?: TraceStep[]): Decision {
  return { effect: 'deny', rule: null, reasons: [reason], errors: [], masks: [], ...(trace ? { trace } : {}) }
}

/** Identity validity on its own: unknown, or expired at the request's time. */
export function identityProblem(engine: Engine, name: string, time: Date): string | undefined {
  if (!Object.hasOwn(engine.bundle.identities, name)) return `unknown identity \`${name}\``
  const expiresAt = engine.expiresAt(name)
  if (expiresAt !== undefined && time.getTime() >= expiresAt) return `identity \`${name}\` expired on ${engine.bundle.identities[name]!.expires}`
  return undefined
}

export function decide(engine: Engine, request: DecisionRequest, options: DecideOptions = {}): Decision {
  const trace: TraceStep[] | undefined = options.explain ? [] : undefined
  const problem = identityProblem(engine, request.identity, request.context.time)
  if (problem) return denied(problem, trace)
  const pair = engine.pair(request.identity, request.resource)
  if (!pair) return denied(`unknown resource \`${request.resource}\``, trace)

  if (request.operations.length === 0) {
    // Session control (BEGIN, SHOW, FETCH, ...) touches no data of its own.
    if (!pair.hasAccess) return denied(`\`${request.identity}\` has no access to \`${request.resource}\``, trace)
    return { effect: 'allow', rule: null, reasons: ['session control needs no grant of its own'], errors: [], masks: [], ...(trace ? { trace } : {}) }
  }

  let enforced: Verdict | undefined
  let observed: Verdict | undefined
  let enforcedOp: Operation | undefined
  const errors: string[] = []
  for (const op of request.operations) {
    const result = decideOperation(pair, request, op, trace)
    if (result.enforced.error) errors.push(result.enforced.error)
    if (!enforced || EFFECT_RANK[result.enforced.effect] > EFFECT_RANK[enforced.effect]) {
      enforced = result.enforced
      enforcedOp = op
    }
    if (!observed || EFFECT_RANK[result.observed.effect] > EFFECT_RANK[observed.effect]) observed = result.observed
    // A deny cannot be overturned; without a trace there is nothing more to learn.
    if (!trace && enforced.effect === 'deny' && observed.effect === 'deny') break
  }
  const final = enforced!
  const decision: Decision = {
    effect: final.effect,
    rule: final.rule?.rule.id ?? null,
    reasons: [reasonFor(final, enforcedOp!, request)],
    errors,
    masks: final.effect === 'deny' ? [] : collectMasks(pair, request, 'enforce'),
  }
  if (final.effect === 'approve' && final.rule?.rule.approval) decision.approval = final.rule.rule.approval
  const observedMasks = observed!.effect === 'deny' ? [] : collectMasks(pair, request, 'all')
  const observedRule = observed!.rule?.rule.id ?? null
  if (observed!.effect !== decision.effect || observedRule !== decision.rule || observedMasks.length !== decision.masks.length) {
    decision.observed = { effect: observed!.effect, rule: observedRule, masks: observedMasks }
  }
  if (trace) decision.trace = trace
  return decision
}

/** Combines the decisions of several statements: the most restrictive wins, masks add up. */
export function combineDecisions(decisions: readonly Decision[]): Decision {
  let worst = decisions[0]!
  for (const d of decisions) if (EFFECT_RANK[d.effect] > EFFECT_RANK[worst.effect]) worst = d
  const masks = new Map<string, MaskRef>()
  if (worst.effect !== 'deny') {
    for (const d of decisions) for (const m of d.masks) {
      const existing = masks.get(m.id)
      if (!existing || STRATEGY_STRENGTH[m.strategy] > STRATEGY_STRENGTH[existing.strategy]) masks.set(m.id, m)
    }
  }
  const combined: Decision = {
    ...worst,
    reasons: decisions.flatMap((d) => d.reasons),
    errors: decisions.flatMap((d) => d.errors),
    masks: [...masks.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
  }
  const observed = decisions.filter((d) => d.observed)
  if (observed.length > 0) {
    const effects = decisions.map((d) => d.observed ?? { effect: d.effect, rule: d.rule, masks: d.masks })
    let worstObserved = effects[0]!
    for (const e of effects) if (EFFECT_RANK[e.effect] > EFFECT_RANK[worstObserved.effect]) worstObserved = e
    combined.observed = { effect: worstObserved.effect, rule: worstObserved.rule, masks: effects.flatMap((e) => e.masks) }
  } else delete combined.observed
  const traces = decisions.flatMap((d) => d.trace ?? [])
  if (traces.length > 0) combined.trace = traces
  return combined
}
