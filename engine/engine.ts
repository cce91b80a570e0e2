// The decision engine: built once per bundle, then `decide()` per request.
// Everything a decision needs is prepared here (conditions compiled,
// patterns compiled, rules indexed by action for each identity/resource pair),
// so the hot path is a map lookup and a short list of candidate rules.
import { compileCondition, type Condition } from './cel.js'
import { compileNameGlob, type NameMatcher } from './glob.js'
import { compileExecPattern, compileForwardPattern, compileListenPattern, compilePathPattern } from './ssh/patterns.js'
import type {
  Bundle,
  BundleIdentity,
  BundleResource,
  BundleRule,
  Detector,
  Effect,
  MaskStrategy,
  Mode,
} from './types.js'

export interface CompiledRule {
  rule: BundleRule
  index: number
  condition?: Condition
  tables?: NameMatcher[]
  functions?: NameMatcher[]
  exec?: Array<(argv: readonly string[]) => boolean>
  sftpRead?: Array<(path: string) => boolean>
  sftpWrite?: Array<(path: string) => boolean>
  forward?: Array<(target: string) => boolean>
  listen?: Array<(target: string) => boolean>
}

export interface MaskEntry {
  id: string
  strategy: MaskStrategy
  mode: Mode
  policy: string
}

/** Everything that applies to one identity on one resource, in precedence order. */
export interface PairRules {
  identity: BundleIdentity
  resource: BundleResource
  rules: CompiledRule[]
  /** Candidate rules per action (SSH exec with shell syntax is filed under `shell`). */
  byAction: Map<string, CompiledRule[]>
  /** Column masks by table (`public.customers` → masks of its columns). */
  columnMasks: Map<string, MaskEntry[]>
  detectors: Array<MaskEntry & { detector: Detector }>
  /** Some enforced rule could allow something: the identity may connect at all. */
  hasAccess: boolean
}

export interface Engine {
  readonly bundle: Bundle
  /** The first instant (ms since the epoch) an identity is no longer valid; absent when it never expires. */
  expiresAt(identity: string): number | undefined
  /** Rules for a pair, or undefined when the identity or resource does not exist. */
  pair(identity: string, resource: string): PairRules | undefined
  compiled: readonly CompiledRule[]
}

export type EngineResult = { ok: true; engine: Engine } | { ok: false; errors: string[] }

export const EFFECT_RANK: Record<Effect, number> = { allow: 1, approve: 2, deny: 3 }

const MAX_CACHED_PAIRS = 100_000

function compileRule(rule: BundleRule, index: number, errors: string[]): CompiledRule {
  const compiled: CompiledRule = { rule, index }
  if (rule.when) {
    const condition = compileCondition(rule.when)
    if (condition.ok) compiled.condition = condition.evaluate
    else errors.push(`rule \`${rule.id}\`: ${condition.error.message}`)
  }
  if (rule.tables) compiled.tables = rule.tables.map(compileNameGlob)
  if (rule.functions) compiled.functions = rule.functions.map(compileNameGlob)
  const patterns = <T>(texts: readonly string[] | undefined, compile: (t: string) => { ok: true; match: T } | { ok: false; error: { message: string } }) =>
    texts?.flatMap((text) => {
      const result = compile(text)
      if (result.ok) return [result.match]
      errors.push(`rule \`${rule.id}\`: pattern \`${text}\`: ${result.error.message}`)
      return []
    })
  const exec = patterns(rule.exec, compileExecPattern)
  if (exec) compiled.exec = exec
  if (rule.sftp) {
    compiled.sftpRead = patterns(rule.sftp.read, compilePathPattern) ?? []
    compiled.sftpWrite = patterns(rule.sftp.write, compilePathPattern) ?? []
  }
  const forward = patterns(rule.forward, compileForwardPattern)
  if (forward) compiled.forward = forward
  const listen = patterns(rule.listen, compileListenPattern)
  if (listen) compiled.listen = listen
  return compiled
}

/** The actions a rule can match, used to file it in `byAction`. */
function ruleActions(rule: BundleRule): string[] {
  if (rule.kind === 'postgres') return rule.actions ?? []
  const actions: string[] = []
  if (rule.exec) actions.push('exec')
  if (rule.shell) actions.push('shell')
  if (rule.sftp) actions.push('sftp-read', 'sftp-write')
  if (rule.forward) actions.push('forward')
  if (rule.listen) actions.push('listen')
  if (rule.agent) actions.push('agent')
  if (rule.x11) actions.push('x11')
  return actions
}

/** Merges two ascending lists of policy indices into their intersection. */
function intersect(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i]! < b[j]!) i++
    else if (a[i]! > b[j]!) j++
    else {
      out.push(a[i]!)
      i++
      j++
    }
  }
  return out
}

export function createEngine(bundle: Bundle): EngineResult {
  const errors: string[] = []
  const compiled = bundle.rules.map((rule, i) => compileRule(rule, i, errors))
  if (errors.length > 0) return { ok: false, errors }
  const cache = new Map<string, PairRules | null>()
  // `expires` is a date: the identity is valid through the end of that day (UTC).
  const expiry = new Map<string, number>()
  for (const identity of Object.values(bundle.identities)) {
    if (identity.expires) expiry.set(identity.name, Date.parse(`${identity.expires}T00:00:00Z`) + 86_400_000)
  }

  const buildPair = (identity: BundleIdentity, resource: BundleResource): PairRules => {
    const policies = intersect(bundle.index.identities[identity.name] ?? [], bundle.index.resources[resource.name] ?? [])
    const rules: CompiledRule[] = []
    const byAction = new Map<string, CompiledRule[]>()
    const columnMasks = new Map<string, MaskEntry[]>()
    const detectors: PairRules['detectors'] = []
    let hasAccess = false
    for (const p of policies) {
      const policy = bundle.policies[p]!
      for (const r of policy.rules) {
        const rule = compiled[r]!
        if (rule.rule.kind !== resource.type) continue
        rules.push(rule)
        if (rule.rule.mode === 'enforce' && rule.rule.effect !== 'deny') hasAccess = true
        for (const action of ruleActions(rule.rule)) {
          const list = byAction.get(action)
          if (list) list.push(rule)
          else byAction.set(action, [rule])
        }
      }
      for (const mask of policy.masks) {
        if ('column' in mask) {
          if (resource.type !== 'postgres') continue
          const table = mask.column.slice(0, mask.column.lastIndexOf('.'))
          const entry = { id: mask.column, strategy: mask.strategy, mode: mask.mode, policy: policy.name }
          const list = columnMasks.get(table)
          if (list) list.push(entry)
          else columnMasks.set(table, [entry])
        } else {
          detectors.push({ id: `detector:${mask.detector}`, detector: mask.detector, strategy: mask.strategy, mode: mask.mode, policy: policy.name })
        }
      }
    }
    return { identity, resource, rules, byAction, columnMasks, detectors, hasAccess }
  }

  const engine: Engine = {
    bundle,
    compiled,
    expiresAt: (identity) => expiry.get(identity),
    pair(identityName, resourceName) {
      const key = `${identityName}\0${resourceName}`
      let entry = cache.get(key)
      if (entry === undefined) {
        const identity = Object.hasOwn(bundle.identities, identityName) ? bundle.identities[identityName] : undefined
        const resource = Object.hasOwn(bundle.resources, resourceName) ? bundle.resources[resourceName] : undefined
        entry = identity && resource ? buildPair(identity, resource) : null
        if (cache.size >= MAX_CACHED_PAIRS) cache.clear()
        cache.set(key, entry)
      }
      return entry ?? undefined
    },
  }
  return { ok: true, engine }
}
