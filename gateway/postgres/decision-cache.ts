// Decisions cached per statement shape, as classifications already are: the
// same shape from the same identity on the same resource under the same
// bundle gets the same decision, so it is made once.
//
// invariant: only decisions that follow from the bundle and the statements
// alone are cached. A pair of identity and resource with any conditional rule
// (a condition may read the time, the source, the session) is decided afresh
// every time, and an identity's expiry is checked on every hit.
import { decideStatements, type SqlDecision } from '../../engine/requests.js'
import type { Engine, PairRules } from '../../engine/engine.js'
import { deepFreeze } from '../../engine/sql/classifier.js'
import type { RequestContext, SqlStatement } from '../../engine/types.js'

export interface DecisionRequest {
  identity: string
  resource: string
  statements: readonly SqlStatement[]
  context: RequestContext
  /** The classifier's shape key; without one the statements are decided afresh. */
  shape: string | undefined
}

interface Cached {
  decision: SqlDecision['decision']
  decisions: Array<SqlDecision['statements'][number]['decision']>
  /** The identity's expiry (ms since the epoch): a hit at or after it is decided afresh. */
  validUntil: number
}

export interface DecisionCache {
  decide(engine: Engine, request: DecisionRequest): SqlDecision
  /** Decisions served from the cache, for tests and metrics. */
  readonly hits: number
}

export function createDecisionCache(maxEntries = 10_000): DecisionCache {
  // Keyed by the engine, so a new bundle starts empty and the old one's entries go with it.
  const byEngine = new WeakMap<Engine, Map<string, Cached>>()
  const contextFree = new WeakMap<PairRules, boolean>()
  let hits = 0

  const cacheable = (engine: Engine, identity: string, resource: string) => {
    const pair = engine.pair(identity, resource)
    if (!pair) return false
    let free = contextFree.get(pair)
    if (free === undefined) contextFree.set(pair, (free = pair.rules.every((rule) => !rule.condition)))
    return free
  }

  return {
    decide(engine, request) {
      const fresh = () => decideStatements(engine, request)
      if (request.shape === undefined || !cacheable(engine, request.identity, request.resource)) return fresh()
      let entries = byEngine.get(engine)
      if (!entries) byEngine.set(engine, (entries = new Map()))
      // invariant: the key is unambiguous: identity and resource names cannot contain NUL (bundle schema).
      const key = `${request.identity}\0${request.resource}\0${request.shape}`
      const hit = entries.get(key)
      if (hit && hit.decisions.length === request.statements.length && request.context.time.getTime() < hit.validUntil) {
        hits++
        return { decision: hit.decision, statements: request.statements.map((statement, i) => ({ statement, decision: hit.decisions[i]! })) }
      }
      const decided = fresh()
      const validUntil = engine.expiresAt(request.identity) ?? Infinity
      // Made past the expiry, the decision says so: not what an earlier time (a clock set back) would get.
      if (request.context.time.getTime() >= validUntil) return decided
      // Shared between sessions from here on: frozen, so a caller that changes one fails instead of changing another's.
      deepFreeze(decided.decision)
      for (const s of decided.statements) deepFreeze(s.decision)
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
      entries.set(key, { decision: decided.decision, decisions: decided.statements.map((s) => s.decision), validUntil })
      return decided
    },
    get hits() {
      return hits
    },
  }
}
