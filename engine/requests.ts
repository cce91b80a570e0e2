// From what a client sent to a decision: SQL text is split into statements
// and classified, SSH requests into operations, then each is decided. The
// gateway, `gatehouse test` and `gatehouse explain` all come through here.
import { combineDecisions, decide, type DecideOptions } from './decide.js'
import type { Engine } from './engine.js'
import { classifySql } from './sql/index.js'
import { findVirtualTables, VIRTUAL_TABLES } from './sql/virtual-tables.js'
import { classifySsh, type SshChannelRequest } from './ssh/classify.js'
import type { Decision, RequestContext, SqlSessionState, SqlStatement } from './types.js'

export interface SqlRequest {
  identity: string
  resource: string
  sql: string
  context: RequestContext
  session?: SqlSessionState
}

export interface StatementDecision {
  statement: SqlStatement
  decision: Decision
}

export interface SqlDecision {
  decision: Decision
  statements: StatementDecision[]
}

function refused(reason: string, code: string): Decision {
  return { effect: 'deny', rule: null, reasons: [reason], errors: [code], masks: [] }
}

export function decideSql(engine: Engine, request: SqlRequest, options: DecideOptions = {}): SqlDecision {
  const resource = Object.hasOwn(engine.bundle.resources, request.resource) ? engine.bundle.resources[request.resource] : undefined
  if (!resource || resource.type !== 'postgres') {
    return { decision: refused(`\`${request.resource}\` is not a PostgreSQL resource`, 'request.unknown_resource'), statements: [] }
  }
  const classified = classifySql(request.sql, {
    defaultSchema: resource.postgres?.defaultSchema ?? 'public',
    ...(request.session ? { session: request.session } : {}),
  })
  if (!classified.ok) {
    // Anything the parser cannot classify is denied, with the parser's reason.
    return { decision: refused(`statement cannot be classified: ${classified.error.message}`, classified.error.code), statements: [] }
  }
  const virtualTables = findVirtualTables(request.sql).length > 0
  return decideStatements(engine, { identity: request.identity, resource: request.resource, statements: classified.statements, context: request.context, virtualTables }, options)
}

const VIRTUAL_OBJECTS = new Set(Object.keys(VIRTUAL_TABLES).map((table) => `gatehouse.${table}`))
const ANSWERED_BY_GATEWAY = 'reads only gatehouse.permissions or gatehouse.activity, which the gateway answers itself for the connected identity'

/**
 * Reading the virtual tables needs no grant: they only describe the
 * connected identity. What is left is decided as usual; a statement left
 * with nothing is decided like session control (some access to the
 * resource is still needed).
 */
function withoutVirtualReads(statement: SqlStatement): SqlStatement {
  const operations = statement.operations.filter((op) => !(op.action === 'select' && op.object && VIRTUAL_OBJECTS.has(op.object)))
  if (operations.length === statement.operations.length) return statement
  return { ...statement, operations, reads: statement.reads.filter((r) => !VIRTUAL_OBJECTS.has(r)) }
}

/**
 * Decides statements that are already classified: each one, then the most
 * restrictive of them. `virtualTables`: the text reads the gateway's own
 * tables and the gateway rewrites those reads (only then may they go
 * ungranted: a real upstream table of that name is decided like any other).
 */
export function decideStatements(
  engine: Engine,
  request: { identity: string; resource: string; statements: readonly SqlStatement[]; context: RequestContext; virtualTables?: boolean },
  options: DecideOptions = {},
): SqlDecision {
  if (request.statements.length === 0) {
    // An empty query string: answered like session control.
    return { decision: decide(engine, { identity: request.identity, resource: request.resource, operations: [], context: request.context }, options), statements: [] }
  }
  const statements = request.statements.map((classified) => {
    const statement = request.virtualTables ? withoutVirtualReads(classified) : classified
    const decision = decide(
      engine,
      {
        identity: request.identity,
        resource: request.resource,
        operations: statement.operations.map((op) => ({ kind: 'postgres' as const, ...op })),
        reads: statement.reads,
        context: request.context,
      },
      options,
    )
    const answered = statement.operations.length === 0 && classified.operations.length > 0 && decision.effect === 'allow'
    return { statement, decision: answered ? { ...decision, reasons: [ANSWERED_BY_GATEWAY] } : decision }
  })
  return { decision: combineDecisions(statements.map((s) => s.decision)), statements }
}

export interface SshRequest {
  identity: string
  resource: string
  request: SshChannelRequest
  context: RequestContext
}

export function decideSsh(engine: Engine, request: SshRequest, options: DecideOptions = {}): Decision {
  const resource = Object.hasOwn(engine.bundle.resources, request.resource) ? engine.bundle.resources[request.resource] : undefined
  if (!resource || resource.type !== 'ssh') return refused(`\`${request.resource}\` is not an SSH resource`, 'request.unknown_resource')
  const classified = classifySsh(request.request)
  if (!classified.ok) return refused(classified.error.message, classified.error.code)
  return decide(
    engine,
    {
      identity: request.identity,
      resource: request.resource,
      operations: classified.operations.map((op) => ({ kind: 'ssh' as const, ...op })),
      context: request.context,
    },
    options,
  )
}
