// Judging SQL text for a session: classify (shared cache), take out reads of
// the gateway's own virtual tables, decide with the bundle in force, and say
// what to send upstream. Never throws: anything unexpected denies.
import { now } from '../../cli/clock.js'
import { decideStatements } from '../../engine/requests.js'
import { findVirtualTables, rewriteVirtualTables, virtualSubquery, type VirtualReference } from '../../engine/sql/virtual-tables.js'
import type { BundleResource, Decision, SqlSessionState, SqlStatement } from '../../engine/types.js'
import type { ActiveBundle } from '../bundle/state.js'
import type { GatewayContext } from '../gateway.js'
import { denialMessage } from '../messages.js'
import { activityRows, permissionRows } from '../self-reflection.js'

export interface SessionIdentity {
  id: string
  identity: string
  resource: BundleResource
  application: string
  source: string
}

export type Verdict =
  | {
      kind: 'forward' | 'hold'
      decision: Decision
      statements: SqlStatement[]
      /** What goes upstream: the client's text, or that text with virtual tables replaced. */
      text: string
      readOnly: boolean
      bundle: ActiveBundle
    }
  | { kind: 'deny'; decision: Decision; statements: SqlStatement[]; message: string; bundle: ActiveBundle | undefined }

export const PERMISSIONS_HINT = 'SELECT * FROM gatehouse.permissions shows what this identity may do here'

function deny(decision: Decision, statements: SqlStatement[], bundle: ActiveBundle | undefined, deciding = decision): Verdict {
  return { kind: 'deny', decision, statements, message: denialMessage(deciding), bundle }
}

function refused(reason: string): Decision {
  return { effect: 'deny', rule: null, reasons: [reason], errors: [], masks: [] }
}

/**
 * `session` is the session's record of prepared statements; it is updated
 * only when the text is not denied (a refused DEALLOCATE never ran).
 */
export function judgeSql(ctx: GatewayContext, who: SessionIdentity, sql: string, session: SqlSessionState): Verdict | Promise<Verdict> {
  const bundle = ctx.state.current
  if (!bundle) return deny(refused('no valid policy bundle is loaded'), [], undefined)
  try {
    const scratch: SqlSessionState = { prepared: new Map(session.prepared) }
    const classified = ctx.classifier.classify(sql, { defaultSchema: who.resource.postgres?.defaultSchema ?? 'public', session: scratch })
    if (!classified.ok) return deny(refused(`the statement cannot be classified: ${classified.error.message}`), [], bundle)
    const references = findVirtualTables(sql)
    const request = {
      identity: who.identity,
      resource: who.resource.name,
      statements: classified.statements,
      context: { time: now(), source: who.source, session: { id: who.id, application: who.application } },
    }
    // Reads of the virtual tables are decided apart from the rest of their statement: not cached.
    const decided = references.length > 0 ? decideStatements(bundle.engine, { ...request, virtualTables: true }) : ctx.decisions.decide(bundle.engine, { ...request, shape: classified.shape })
    const { decision } = decided
    const statements = decided.statements.map((s) => s.statement)
    // The message names the statement that was denied, not the first reason of the string (`SELECT 1; DELETE ...`).
    if (decision.effect === 'deny') return deny(decision, statements, bundle, decided.statements.find((d) => d.decision.effect === 'deny')?.decision)
    session.prepared = scratch.prepared
    const verdict = (text: string): Verdict => ({
      kind: decision.effect === 'approve' ? 'hold' : 'forward',
      decision,
      statements,
      text,
      readOnly: statements.every((s) => s.readOnly),
      bundle,
    })
    // Only the virtual tables need the store; everything else is decided without waiting.
    if (references.length === 0) return verdict(sql)
    return virtualRows(ctx, who, bundle, references).then(
      (rows) => verdict(rewriteVirtualTables(sql, references, rows)),
      (err: Error) => failed(ctx, who, err, bundle),
    )
  } catch (err) {
    return failed(ctx, who, err as Error, bundle)
  }
}

function failed(ctx: GatewayContext, who: SessionIdentity, err: Error, bundle: ActiveBundle): Verdict {
  ctx.log.error('statement could not be judged; denied', { session: who.id, error: err })
  return deny(refused('the gateway could not decide this statement'), [], bundle)
}

async function virtualRows(ctx: GatewayContext, who: SessionIdentity, bundle: ActiveBundle, references: readonly VirtualReference[]) {
  const permissions = references.some((r) => r.table === 'permissions') ? permissionRows(bundle.engine, who.identity, who.resource.name) : []
  const activity = references.some((r) => r.table === 'activity') ? await activityRows(ctx.db, who.identity) : []
  return (reference: VirtualReference) => virtualSubquery(reference.table, reference.table === 'permissions' ? permissions : activity, reference.aliased)
}
