// One client session after startup: a message-level proxy between the client
// and its upstream connection.
//
// Client → upstream: each message is decided before it is forwarded. SQL is
// judged at Query and at Parse, re-judged at Execute when the bundle changed,
// and held for approval at Execute (where the parameters are known). A denied
// request is replaced upstream by a statement that fails to parse, and the
// server's error is rewritten into ours: the server then rolls back and
// skips exactly as it would for a real error, so the client's view of the
// transaction and of the pipeline stays the server's.
//
// Upstream → client: responses are matched to the requests that caused them
// (a FIFO of expectations, the server answering in order), so each result set
// is masked with the plan of its statement, each outcome is audited, and no
// result leaves before its audit event is durable in `sync` mode.
import { Buffer } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { outputLineage, type StatementLineage } from '../../engine/sql/index.js'
import { literalShape } from '../../engine/sql/literal-shape.js'
import type { SqlSessionState } from '../../engine/types.js'
import { AuditUnavailableError, type Durability } from '../../store/audit-log.js'
import { holdForApproval, requestDigest, type HoldOutcome } from '../approvals.js'
import type { GatewayContext } from '../gateway.js'
import type { Logger } from '../../runtime/log.js'
import { approveHint, denialMessage, holdDetail, holdOutcomeMessage } from '../messages.js'
import type { Catalog } from './catalog.js'
import { identityNoticeMasks, maskNotice, touchesMaskedTable, type IdentityNoticeMasks } from './notice-masking.js'
import { copyOuts } from './copy-out.js'
import { clientParameterStatus } from './parameter-status.js'
import { NamedObjects, objectEffects, readsElsewhere, type ObjectEffect } from './named-objects.js'
import { judgeSql, PERMISSIONS_HINT, type SessionIdentity, type Verdict } from './judge.js'
import { maskField, planMasking, type MaskingPlan } from './masking.js'
import {
  decodeCommandComplete,
  decodeCopyResponse,
  decodeErrorOrNotice,
  decodeReadyForQuery,
  decodeRowDescription,
  type BackendMessage,
  type FieldDescription,
  type TransactionStatus,
} from './protocol/backend.js'
import { decodeCopyRows, encodeCopyRows } from './protocol/copy-text.js'
import { rewriteDataRow, rewriteRowDescription, TEXT_FIELD } from './protocol/data-row.js'
import type { Bind, Execute, FrontendMessage, FrontendReader, Parse, Query } from './protocol/frontend.js'
import { buildBind, buildCancelRequest, buildDescribe, buildErrorResponse, buildNoticeResponse, buildParse, buildQuery, buildTerminate } from './protocol/serialize.js'
import type { Upstream } from './upstream.js'
import { isProtocolError } from './protocol/errors.js'
import { FlowControl, type BufferBudget, type Stall } from './flow-control.js'
import { auditedStatement } from '../audited-statement.js'
import { decisionFields } from '../decision-fields.js'
import { connect as connectTcp } from 'node:net'

/** A statement upstream fails to parse: what a denied request becomes. */
const DENIED_SQL = 'GATEHOUSE DENIED'
/** A prepared statement that never exists: what a denied Execute becomes (no side effects at all). */
const DENIED_STATEMENT = 'gatehouse denied'
const MAX_STATEMENTS = 10_000
const LINEAGE_CACHE_SIZE = 5_000
const lineageCache = new Map<string, Array<StatementLineage | null> | undefined>()
const PLAN_CACHE_SIZE = 1_000

/** What decides a masking plan besides the statement and its result layout. */
function maskSignature(verdict: Verdict): string {
  return verdict.kind === 'deny' ? '' : verdict.decision.masks.map((m) => `${m.id}:${m.strategy}`).join(',')
}
const MAX_PORTALS = 10_000
/** Client messages buffered while one is being decided, before the socket is paused. */
const CLIENT_BACKLOG = 256

interface Denial {
  message: string
  code: string
}

/** A statement the client prepared (Parse, PREPARE, or the query of a DECLARE), with the decision made for it. */
interface PreparedStatement {
  text: string
  verdict: Verdict
  revision: string
  /** What the statement does to named objects when it runs (a FETCH reads a cursor's rows). */
  effects: ReadonlyArray<ObjectEffect | undefined>
  lineage?: StatementLineage | null
  fields?: FieldDescription[]
}

/** A protocol portal or an SQL cursor. */
interface Portal {
  statement: PreparedStatement
  params: (Buffer | null)[]
  resultFormats: number[]
  plan?: MaskingPlan | undefined
  /** The client asked for this portal's row description: its answer brings the plan, before any row. */
  described?: boolean
}

interface Run {
  /** Audit event of the request. */
  eventId?: string
  durable?: Promise<void>
  settled: boolean
  started: number
  rows: number
  denial?: Denial
}

/** An allowed query string after the gateway's own checks. */
interface QueryInspection {
  verdict: Verdict
  effects?: ReadonlyArray<ObjectEffect | undefined>
  created?: Created[]
  extra: Record<string, unknown>
}

/** How the rows of a COPY out are masked; `header`: a header line (column names only) is still to come. */
interface CopyMasking {
  plan: MaskingPlan
  format: 'text' | 'csv'
  header: boolean
}

/** What a PREPARE or DECLARE statement of a request creates, made once for both views of the named objects. */
type Created = { statement: PreparedStatement; cursor?: Portal } | undefined

interface QueryRun extends Run {
  text: string
  verdict?: Verdict
  statement: number
  effects?: ReadonlyArray<ObjectEffect | undefined>
  created?: Created[]
  /** Result format of each column of the current result (a BINARY cursor's FETCH is binary). */
  formats?: number[]
  plan?: MaskingPlan | undefined
  lineage?: Array<StatementLineage | null> | null
  copy?: CopyMasking
}

type Expectation =
  | ({ kind: 'query' } & QueryRun)
  | { kind: 'parse'; denial?: Denial; name?: string; statement?: PreparedStatement }
  | { kind: 'bind'; denial?: Denial; name?: string; portal?: Portal }
  | { kind: 'describe'; target: 'S' | 'P'; statement?: PreparedStatement; portal?: Portal }
  | ({ kind: 'execute'; name: string; portal: Portal | undefined; source?: PreparedStatement; created?: Created; attributed?: boolean; copy?: CopyMasking } & Run)
  | { kind: 'internal-describe'; portal: Portal }
  | { kind: 'close'; target: 'S' | 'P'; name: string }
  | { kind: 'sync' }

export interface SessionOptions {
  ctx: GatewayContext
  who: SessionIdentity & { owner: string }
  client: Socket | TLSSocket
  reader: FrontendReader
  /** Messages the client sent right after the startup packet. */
  pending: FrontendMessage[]
  upstream: Upstream
  catalog: Catalog | undefined
  durability: Durability
  log: Logger
  /** What the front's sessions may hold unsent, shared among them. */
  budget: BufferBudget
  /** Called when the session is closed at a limit: its client stopped reading, or was idle too long. */
  onLimit?: (reason: 'stalled' | 'idle') => void
  /** Called once when the session has ended. */
  onEnd(): void
}

function isWrite(verdict: Verdict | undefined): boolean {
  return verdict?.kind === 'deny' ? false : !(verdict?.readOnly ?? false)
}

export class PostgresSession {
  private readonly ctx: GatewayContext
  private readonly client: Socket | TLSSocket
  private readonly upstreamSocket: Socket | TLSSocket
  private readonly expectations: Expectation[] = []
  private readonly clientQueue: FrontendMessage[] = []
  private readonly upstreamQueue: BackendMessage[] = []
  /** Named objects as they will be once the server has the messages forwarded so far: decisions use these. */
  private readonly predicted = new NamedObjects<PreparedStatement, Portal>(false)
  /** Named objects as the server has confirmed them: results are attributed (and masked) with these. */
  private readonly confirmed = new NamedObjects<PreparedStatement, Portal>(true)
  private lastTag = ''
  private noticeMaskCache: { revision: string; masks: IdentityNoticeMasks | undefined } | undefined
  private failedSinceReady = false
  /** A named statement or portal was created or dropped since the last time nothing was in flight. */
  private namedObjectsChanged = false
  private readonly sqlSession: SqlSessionState = { prepared: new Map() }
  /** Masking plans by statement shape, masks and result layout (cleared with the catalog on DDL). */
  private readonly plans = new Map<string, MaskingPlan | undefined>()
  private clientBusy = false
  private upstreamBusy = false
  private discardUntilSync = false
  private transaction: TransactionStatus = 'I'
  private ended = false
  private hold: AbortController | undefined
  private readonly unsubscribe: () => void
  private readonly maskedValues: { inc(by: number): void }
  private readonly flow: FlowControl
  /** Whom this session's audit events are about. */
  private readonly eventSubject: { sessionId: string; identity: string; resource: string }

  constructor(private readonly options: SessionOptions) {
    this.ctx = options.ctx
    this.client = options.client
    this.upstreamSocket = options.upstream.socket
    this.flow = new FlowControl(this.client, this.upstreamSocket, options.budget, (stall) => this.stalled(stall), () => !this.upstreamBusy && !this.ended)
    this.maskedValues = this.ctx.counters.maskedValues.with({ protocol: 'postgres' })
    this.eventSubject = { sessionId: options.who.id, identity: options.who.identity, resource: options.who.resource.name }
    // A hold waiting for approval is bound to the bundle it was made under.
    this.unsubscribe = this.ctx.state.onChange(() => this.hold?.abort(new Error('policy-changed')))
  }

  start(): void {
    const { client, upstream } = this.options
    client.on('data', (chunk: Buffer) => this.onClientData(chunk))
    client.on('error', () => this.end('client connection error'))
    client.on('close', () => this.end('client disconnected'))
    upstream.socket.on('data', (chunk: Buffer) => this.onUpstreamData(chunk))
    upstream.socket.on('error', () => this.end('upstream connection error'))
    upstream.socket.on('close', () => this.fatal('08006', 'the database closed the connection', 'upstream closed'))
    upstream.socket.resume()
    const idleMs = this.options.budget.limits.idleTimeoutMs
    if (idleMs > 0) {
      // No byte either way for that long (a running query that sends nothing counts as idle too).
      client.setTimeout(idleMs, () => {
        this.options.onLimit?.('idle')
        this.fatal('57P05', `terminating connection due to idle-session timeout (${Math.round(idleMs / 1000)} s)`, 'idle timeout')
      })
    }
    this.clientQueue.push(...this.options.pending)
    void this.drainClient()
  }

  /** CancelRequest from the client: abort a hold, or cancel the upstream statement. */
  cancel(): void {
    if (this.hold) {
      this.hold.abort(new Error('cancelled'))
      return
    }
    const key = this.options.upstream.backendKey
    const target = this.options.who.resource.postgres
    if (!key || !target) return
    // Cancel requests go over a new connection and need no authentication (see "Canceling Requests in Progress").
    const socket = connectTcp({ host: target.host, port: target.port }, () => socket.end(buildCancelRequest(key.processId, key.secretKey)))
    socket.on('error', () => undefined)
    socket.setTimeout(5000, () => socket.destroy())
  }

  /** Ends the session with a FATAL error the client can read. */
  close(reason: string): void {
    this.fatal('57P01', `terminating connection: ${reason}`, reason)
  }

  // ---------------------------------------------------------------------------
  // Client → upstream

  private onClientData(chunk: Buffer): void {
    // After the end, input is read and dropped so a client still sending (a refused oversized statement) gets to read why.
    if (this.ended) return
    let messages: FrontendMessage[]
    try {
      messages = this.options.reader.push(chunk)
    } catch (err) {
      if (isProtocolError(err)) {
        this.options.log.warn('protocol violation from the client', { session: this.options.who.id, code: err.code, error: err.message })
        this.fatal('08P01', `protocol violation: ${err.message}`, 'protocol violation')
        return
      }
      throw err
    }
    if (messages.length === 0) return
    this.clientQueue.push(...messages)
    if (this.clientQueue.length > CLIENT_BACKLOG) this.client.pause()
    if (!this.clientBusy) void this.drainClient()
  }

  private async drainClient(): Promise<void> {
    if (this.clientBusy) return
    this.clientBusy = true
    try {
      this.upstreamSocket.cork()
      while (this.clientQueue.length > 0 && !this.ended) {
        const message = this.clientQueue.shift()!
        const pending = this.handleClient(message)
        if (pending) {
          this.upstreamSocket.uncork()
          await pending
          this.upstreamSocket.cork()
        }
        // Bounded memory towards the upstream, and a fair share of the event loop for the other sessions.
        const room = this.flow.upstreamRoom() ?? (this.flow.turnSpent() ? this.flow.yieldTurn() : undefined)
        if (room) {
          this.upstreamSocket.uncork()
          await room
          this.upstreamSocket.cork()
        }
      }
    } catch (err) {
      this.options.log.error('session failed', { session: this.options.who.id, error: err as Error })
      this.fatal('XX000', 'the gateway failed while handling this request; the session is closed', 'internal error')
    } finally {
      this.upstreamSocket.uncork()
      this.clientBusy = false
      if (this.clientQueue.length <= CLIENT_BACKLOG / 2 && !this.ended) this.client.resume()
    }
  }

  private forward(raw: Buffer): void {
    this.upstreamSocket.write(raw)
  }

  /** Handles one client message; returns a promise only when it must wait (judging, holds, durability). */
  private handleClient(message: FrontendMessage): Promise<void> | void {
    if (this.discardUntilSync && message.kind !== 'Sync') return undefined
    switch (message.kind) {
      case 'Query':
        return this.onQuery(message)
      case 'Parse':
        return this.onParse(message)
      case 'Bind':
        return this.onBind(message)
      case 'Execute':
        return this.onExecute(message)
      case 'Describe': {
        const statement = message.target === 'S' ? this.predicted.statement(message.name) : undefined
        const portal = message.target === 'P' ? this.predicted.portal(message.name) : undefined
        if (portal) portal.described = true
        this.expectations.push({ kind: 'describe', target: message.target, ...(statement ? { statement } : {}), ...(portal ? { portal } : {}) })
        this.forward(message.raw)
        return undefined
      }
      case 'Close':
        if (message.target === 'S') {
          this.predicted.deallocate(message.name)
          this.sqlSession.prepared.delete(message.name)
        } else this.predicted.close(message.name)
        this.expectations.push({ kind: 'close', target: message.target, name: message.name })
        this.forward(message.raw)
        return undefined
      case 'Sync':
        this.discardUntilSync = false
        this.expectations.push({ kind: 'sync' })
        this.forward(message.raw)
        return undefined
      case 'Flush':
      case 'CopyData':
      case 'CopyDone':
      case 'CopyFail':
        this.forward(message.raw)
        return undefined
      case 'Terminate':
        this.forward(message.raw)
        this.end('client terminated')
        return undefined
      case 'FunctionCall':
        // The fast-path interface bypasses statements altogether.
        this.ctx.counters.decisions.inc({ protocol: 'postgres', effect: 'deny' })
        this.expectations.push({ kind: 'query', text: '', statement: 0, settled: true, started: performance.now(), rows: 0, denial: { code: '42501', message: 'permission denied by gatehouse: the function-call interface is not allowed' } })
        this.forward(buildQuery(DENIED_SQL))
        return undefined
      default:
        this.fatal('08P01', `protocol violation: unexpected ${message.kind} message`, 'protocol violation')
        return undefined
    }
  }

  private onQuery(message: Query): Promise<void> | void {
    const judged = when(judgeSql(this.ctx, this.options.who, message.sql, this.sqlSession), (verdict) => this.inspectQuery(verdict, message.sql))
    return when(judged, ({ verdict, effects, created, extra }) => {
      const run: { kind: 'query' } & QueryRun = { kind: 'query', text: message.sql, verdict, statement: 0, settled: true, started: performance.now(), rows: 0, ...(effects ? { effects, created } : {}) }
      return when(this.admit(verdict, message.sql, [], run, extra), (admitted) => {
        this.expectations.push(run)
        if (!admitted) {
          this.forward(buildQuery(DENIED_SQL))
          return
        }
        this.predicted.forgetUnnamed()
        run.effects?.forEach((effect, i) => this.predicted.apply(effect, run.created?.[i]))
        this.forward(admitted.text === message.sql ? message.raw : buildQuery(admitted.text))
      })
    })
  }

  /**
   * What the gateway refuses of an allowed query string on its own (a FETCH
   * or EXECUTE of rows it cannot attribute, binary COPY of masked data), and
   * what its statements do to named objects. The statements behind its
   * FETCHes and EXECUTEs are judged again under a new bundle, as at Execute.
   */
  private inspectQuery(judged: Verdict, sql: string): QueryInspection | Promise<QueryInspection> {
    if (judged.kind === 'deny') return { verdict: judged, extra: {} }
    const effects = objectEffects(sql)
    const traced = this.traceSources(effects, judged)
    if (traced.unknown) return { verdict: refusal(judged, unattributable(traced.unknown)), extra: {} }
    if (judged.decision.masks.length > 0 && copyOuts(sql).some((c) => c?.format === 'binary')) return { verdict: refusal(judged, BINARY_COPY), extra: {} }
    const freshened = traced.sources.reduce<Verdict | undefined | Promise<Verdict | undefined>>(
      (previous, { statement }) => when(previous, (denied) => (denied ? denied : when(this.freshen(statement), (v) => (v.kind === 'deny' ? v : undefined)))),
      undefined,
    )
    return when(freshened, (denied): QueryInspection => {
      if (denied?.kind === 'deny') return { verdict: refusal(judged, `the statement behind it is no longer allowed: ${denied.message}`), extra: {} }
      const sources = traced.sources.map(({ reads, statement }) => ({ reads, statement: statement.text, masks: statement.verdict.decision.masks.map((m) => m.id) }))
      return { verdict: judged, effects, created: traced.created, extra: sources.length > 0 ? { sources } : {} }
    })
  }

  /** The statement's decision under the bundle in force: judged again when the bundle changed since. */
  private freshen(statement: PreparedStatement): Verdict | Promise<Verdict> {
    if (statement.verdict.kind === 'deny' || this.ctx.state.current?.revision === statement.revision) return statement.verdict
    return when(judgeSql(this.ctx, this.options.who, statement.text, this.sqlSession), (verdict) => {
      statement.verdict = verdict
      if (verdict.kind !== 'deny') statement.revision = verdict.bundle.revision
      return verdict
    })
  }

  /**
   * Follows each FETCH and EXECUTE of a request to the statement whose rows
   * it returns, as the named objects will be when it runs, and makes what
   * its PREPAREs and DECLAREs create. `unknown`: a name that leads nowhere.
   */
  private traceSources(effects: ReadonlyArray<ObjectEffect | undefined>, verdict: Exclude<Verdict, { kind: 'deny' }>) {
    const created: Created[] = []
    const sources: Array<{ reads: string; statement: PreparedStatement }> = []
    if (effects.length === 0) return { created, sources }
    const scratch = new NamedObjects<PreparedStatement, Portal>(false)
    scratch.copyFrom(this.predicted)
    scratch.forgetUnnamed()
    for (const [i, effect] of effects.entries()) {
      if (readsElsewhere(effect)) {
        const source = scratch.rowSource(effect)
        if (!source) return { created, sources, unknown: effect }
        if (source !== 'self') sources.push({ reads: effect.name, statement: source })
      }
      created[i] = this.create(effect, verdict)
      scratch.apply(effect, created[i])
    }
    return { created, sources }
  }

  /** What a PREPARE or DECLARE creates: a statement with the request's decision, and for DECLARE the cursor reading it. */
  private create(effect: ObjectEffect | undefined, verdict: Exclude<Verdict, { kind: 'deny' }>): Created {
    if (effect?.kind !== 'prepare' && effect?.kind !== 'declare') return undefined
    const statement: PreparedStatement = { text: effect.text, verdict, revision: verdict.bundle.revision, effects: objectEffects(effect.text) }
    if (effect.kind === 'prepare') return { statement }
    // A cursor's rows are text unless it is BINARY ("DECLARE"); Execute on it takes no format codes.
    return { statement, cursor: { statement, params: [], resultFormats: [effect.binary ? 1 : 0] } }
  }

  private onParse(message: Parse): Promise<void> | void {
    if (message.name !== '' && !this.predicted.statement(message.name) && this.predicted.statementCount >= MAX_STATEMENTS) {
      this.deny({ code: '54000', message: `gatehouse: more than ${MAX_STATEMENTS} prepared statements in one session` }, 'parse')
      return undefined
    }
    return when(judgeSql(this.ctx, this.options.who, message.query, this.sqlSession), (judged) => {
      const verdict = judged.kind !== 'deny' && judged.decision.masks.length > 0 && copyOuts(message.query).some((c) => c?.format === 'binary') ? refusal(judged, BINARY_COPY) : judged
      if (verdict.kind === 'deny') {
        this.record(verdict, message.query, 'async')
        this.deny({ code: '42501', message: verdict.message }, 'parse')
        return
      }
      const statement: PreparedStatement = { text: message.query, verdict, revision: verdict.bundle.revision, effects: objectEffects(message.query) }
      // SQL EXECUTE of a protocol statement is decided by what it prepared, as for PREPARE.
      if (message.name !== '' && !this.predicted.statement(message.name) && verdict.statements.length === 1) this.sqlSession.prepared.set(message.name, verdict.statements[0]!)
      this.predicted.prepare(message.name, statement)
      this.expectations.push({ kind: 'parse', name: message.name, statement })
      // Virtual tables are rewritten; anything else goes as the client sent it.
      this.forward(verdict.text === message.query ? message.raw : buildParse(message.name, verdict.text, message.paramTypes))
    })
  }

  private onBind(message: Bind): undefined {
    const statement = this.predicted.statement(message.statement)
    if (!statement) {
      // Unknown to us means unknown upstream too: the server answers with its own error.
      this.expectations.push({ kind: 'bind' })
      this.forward(message.raw)
      return undefined
    }
    if (message.portal !== '' && !this.predicted.portal(message.portal) && this.predicted.portalCount >= MAX_PORTALS) {
      this.deny({ code: '54000', message: `gatehouse: more than ${MAX_PORTALS} portals in one session` }, 'bind')
      return undefined
    }
    const portal: Portal = { statement, params: message.params.map((p) => (p ? Buffer.from(p) : null)), resultFormats: message.resultFormats }
    this.predicted.open(message.portal, portal)
    this.expectations.push({ kind: 'bind', name: message.portal, portal })
    this.forward(message.raw)
    return undefined
  }

  private onExecute(message: Execute): Promise<void> | void {
    const portal = this.predicted.portal(message.portal)
    const run: Extract<Expectation, { kind: 'execute' }> = { kind: 'execute', name: message.portal, portal, settled: true, started: performance.now(), rows: 0 }
    const source = portal ? this.predicted.rowSource(portal.statement.effects[0]) : undefined
    if (!portal || !source) {
      // A portal opened elsewhere (a function's cursor) or a FETCH from one: its rows could not be masked.
      const effect = portal?.statement.effects[0]
      const verdict = refusal(undefined, unattributable(effect && readsElsewhere(effect) ? effect : { kind: 'fetch', name: message.portal, move: false }), this.ctx.state.current)
      return when(this.admit(verdict, portal?.statement.text ?? `Execute ${JSON.stringify(message.portal)}`, [], run), () => {
        this.expectations.push(run)
        this.discardUntilSync = true
        this.forward(buildBind({ portal: '', statement: DENIED_STATEMENT, params: [] }))
      })
    }
    const statement = portal.statement
    run.source = source === 'self' ? statement : source
    // The bundle changed since the statement (or the one whose rows it reads) was judged: judge it again.
    const judged = when(this.freshen(statement), (verdict) => (run.source === statement || verdict.kind === 'deny' ? verdict : when(this.freshen(run.source!), (behind) => (behind.kind === 'deny' ? refusal(verdict, `the statement behind it is no longer allowed: ${behind.message}`) : verdict))))
    return when(judged, (verdict) => {
      const extra = run.source !== statement ? { sources: [{ reads: (statement.effects[0] as { name: string }).name, statement: run.source!.text, masks: run.source!.verdict.decision.masks.map((m) => m.id) }] } : {}
      return when(this.admit(verdict, statement.text, portal.params, run, extra), (admitted) => {
        if (!admitted) {
          this.expectations.push(run)
          this.discardUntilSync = true
          this.forward(buildBind({ portal: '', statement: DENIED_STATEMENT, params: [] }))
          return undefined
        }
        const rowVerdict = run.source === statement ? admitted : run.source!.verdict
        return when(rowVerdict.kind === 'deny' ? undefined : this.planExecution(portal, rowVerdict, message.portal, run.source!), () => {
          run.created = this.create(statement.effects[0], admitted)
          this.predicted.apply(statement.effects[0], run.created)
          this.expectations.push(run)
          this.forward(message.raw)
        })
      })
    })
  }

  /** Makes sure the portal has its masking plan before its rows come back. */
  private planExecution(portal: Portal, verdict: Exclude<Verdict, { kind: 'deny' }>, portalName: string, source: PreparedStatement): Promise<void> | void {
    if (portal.plan || portal.described) return undefined
    if (!this.needsLayout(verdict)) {
      return when(this.cachedPlan(`detectors\0${maskSignature(verdict)}`, () => this.plan(undefined, verdict, 0, source)), (plan) => {
        portal.plan = plan
      })
    }
    const fields = portal.statement.fields
    if (!fields) {
      // The client never asked for the row description; ask for it ourselves and keep the answer.
      this.expectations.push({ kind: 'internal-describe', portal })
      this.forward(buildDescribe('P', portalName))
      return undefined
    }
    return this.planLayout(portal, fields, verdict, source)
  }

  /** The portal's plan for its result columns (as Bind asked for their formats), cached by statement shape. */
  private planLayout(portal: Portal, fields: FieldDescription[], verdict: Verdict, source: PreparedStatement): Promise<void> | undefined {
    const layout = fields.map((f, i) => ({ ...f, format: formatOf(portal.resultFormats, i) }))
    return when(this.cachedPlan(`execute\0${literalShape(source.text)}\0${maskSignature(verdict)}\0${JSON.stringify(layout)}`, () => this.plan(layout, verdict, 0, source)), (plan) => {
      portal.plan = plan
      return undefined
    })
  }

  /** Whether masking needs to know the result's columns (column masks, not only detectors). */
  private needsLayout(verdict: Verdict): boolean {
    return verdict.kind !== 'deny' && verdict.decision.masks.some((m) => !m.id.startsWith('detector:'))
  }

  /**
   * Audits a judged request and decides whether it may go upstream now:
   * waits for approval when held, and for durability in sync mode. Returns
   * the verdict to forward, or undefined after recording a denial in `run`.
   */
  private admit(verdict: Verdict, text: string, params: ReadonlyArray<Buffer | null>, run: Run, extra: Record<string, unknown> = {}): Admitted | Promise<Admitted> {
    if (verdict.kind === 'deny') {
      this.record(verdict, text, 'async', run, extra)
      run.denial = { code: '42501', message: verdict.message }
      return undefined
    }
    if (verdict.kind !== 'hold') return this.recordAndRelease(verdict, text, run, extra)
    return this.waitForApproval(verdict, text, params).then((outcome) => {
      if (outcome.outcome === 'approved') return this.recordAndRelease(verdict, text, run, { ...extra, approval: outcome.id })
      this.record(verdict, text, 'async', run, { ...extra, approval: outcome.id, approvalOutcome: outcome.outcome })
      run.denial = { code: outcome.outcome === 'cancelled' && outcome.byClient ? '57014' : '42501', message: outcome.message }
      return undefined
    })
  }

  /**
   * Records an admitted request. Anything that may change data waits for its
   * event to be durable (sync mode); a read may start at once, but its rows
   * wait (see onUpstream).
   */
  private recordAndRelease(verdict: Exclude<Verdict, { kind: 'deny' }>, text: string, run: Run, extra: Record<string, unknown>): Admitted | Promise<Admitted> {
    const refuse = () => {
      // Nothing was forwarded: the refusal replaces the request, and no response waits for the failed record.
      delete run.durable
      run.settled = true
      run.denial = { code: '53000', message: 'gatehouse: the audit store is unavailable, so nothing is let through; try again shortly' }
      return undefined
    }
    try {
      this.record(verdict, text, this.options.durability, run, extra)
    } catch (err) {
      if (err instanceof AuditUnavailableError) return refuse()
      throw err
    }
    if (!(this.options.durability === 'sync' && isWrite(verdict)) || !run.durable || run.settled) return verdict
    return run.durable.then(
      () => verdict,
      (err: Error) => {
        if (err instanceof AuditUnavailableError) return refuse()
        throw err
      },
    )
  }

  /** Records the event of a request (the outcome follows when the server answers). Throws AuditUnavailableError. */
  private record(verdict: Verdict, text: string, durability: Durability, run?: Run, extra: Record<string, unknown> = {}): void {
    const { decision } = verdict
    this.ctx.counters.statements.inc({ protocol: 'postgres' })
    this.ctx.counters.decisions.inc({ protocol: 'postgres', effect: decision.effect, observed: decision.observed ? 'differs' : 'same' })
    const appended = this.ctx.audit.append(
      {
        kind: 'statement',
        sessionId: this.options.who.id,
        identity: this.options.who.identity,
        resource: this.options.who.resource.name,
        data: { protocol: 'postgres', ...auditedStatement(text, this.options.budget.limits.auditStatementBytes), ...extra },
        shared: decisionFields(decision, verdict.bundle?.revision ?? null),
        ...(decision.effect !== 'deny' && decision.rule ? { usage: { rule: decision.rule } } : decision.effect !== 'deny' ? { usage: {} } : {}),
      },
      durability,
    )
    if (!run) return
    run.eventId = appended.id
    // In sync mode, and in async mode while the writer applies backpressure, the request's responses wait for the record (see onUpstream).
    if (appended.hold) this.ctx.counters.auditHeld.inc({ protocol: 'postgres' })
    if (durability === 'sync' || appended.hold) {
      run.durable = appended.durable
      run.settled = false
      appended.durable.then(() => (run.settled = true), () => undefined)
    }
  }

  private async waitForApproval(verdict: Exclude<Verdict, { kind: 'deny' }>, text: string, params: ReadonlyArray<Buffer | null>): Promise<{ outcome: HoldOutcome; id: string; message: string; byClient: boolean }> {
    const approval = verdict.decision.approval!
    const who = this.options.who
    const controller = new AbortController()
    this.hold = controller
    this.ctx.approvalsWaiting.count++
    try {
      const { outcome, request } = await holdForApproval(
        this.ctx.db,
        {
          identity: who.identity,
          owner: who.owner,
          resource: who.resource.name,
          sessionId: who.id,
          revision: verdict.bundle.revision,
          rule: verdict.decision.rule ?? '',
          organisation: verdict.bundle.bundle.settings.organisation,
          approval,
          ownerMayApprove: verdict.bundle.bundle.settings.approvals.ownerMayApprove,
          protocol: 'postgres',
          text,
          digest: requestDigest(text, params),
        },
        {
          signal: controller.signal,
          onCreated: (request) => {
            this.client.write(
              buildNoticeResponse({
                severity: 'NOTICE',
                code: '01000',
                message: `gatehouse: this statement is held until it is approved (request ${request.id})`,
                detail: holdDetail(verdict.decision.rule, approval),
                hint: approveHint(request.id, this.ctx.config.approvalsUrl),
              }),
            )
          },
        },
      )
      const reason = String((controller.signal.reason as Error | undefined)?.message ?? '')
      const message = outcome === 'approved' ? '' : holdOutcomeMessage(outcome, request, reason, 'statement')
      return { outcome, id: request.id, message, byClient: reason === 'cancelled' }
    } finally {
      this.ctx.approvalsWaiting.count--
      this.hold = undefined
    }
  }

  /** Replaces an extended-protocol message with one that fails upstream, and skips to the next Sync. */
  private deny(denial: Denial, kind: 'parse' | 'bind'): void {
    this.expectations.push({ kind, denial })
    this.discardUntilSync = true
    this.forward(buildParse('', DENIED_SQL, []))
  }

  // ---------------------------------------------------------------------------
  // Upstream → client

  private onUpstreamData(chunk: Buffer): void {
    let messages: BackendMessage[]
    try {
      messages = this.options.upstream.reader.push(chunk)
    } catch (err) {
      this.options.log.error('protocol violation from the database', { session: this.options.who.id, error: err as Error })
      this.fatal('08P01', 'the database sent something the gateway cannot read; the session is closed', 'upstream protocol violation')
      return
    }
    if (this.upstreamBusy) {
      this.upstreamQueue.push(...messages)
      return
    }
    // The hot path: handle synchronously until something needs waiting for.
    this.client.cork()
    let i = 0
    try {
      for (; i < messages.length; i++) {
        const pending = this.onUpstream(messages[i]!)
        if (pending) {
          this.upstreamQueue.push(...messages.slice(i + 1))
          void this.drainUpstream(pending)
          break
        }
      }
    } catch (err) {
      this.upstreamFailed(err)
    } finally {
      this.client.uncork()
      this.flow.relayed()
    }
  }

  /** Continues after an asynchronous step, with the upstream socket paused meanwhile. */
  private async drainUpstream(first: Promise<void>): Promise<void> {
    this.upstreamBusy = true
    this.upstreamSocket.pause()
    try {
      await first
      this.client.cork()
      while (this.upstreamQueue.length > 0 && !this.ended) {
        const pending = this.onUpstream(this.upstreamQueue.shift()!)
        if (pending) {
          this.client.uncork()
          await pending
          this.client.cork()
        }
      }
    } catch (err) {
      this.upstreamFailed(err)
    } finally {
      this.client.uncork()
      this.upstreamBusy = false
      this.flow.relayed()
      this.flow.resumeUpstream()
    }
  }

  private upstreamFailed(err: unknown): void {
    this.options.log.error('session failed while relaying results', { session: this.options.who.id, error: err as Error })
    this.fatal('XX000', 'the gateway failed while relaying results; the session is closed', 'internal error')
  }

  /** Handles one upstream message; returns a promise when it has to wait (durability, catalog). */
  private onUpstream(message: BackendMessage): Promise<void> | undefined {
    const head = this.expectations[0]
    // invariant: no response leaves before the durable record of the request it answers.
    if (head && (head.kind === 'query' || head.kind === 'execute') && head.durable && !head.settled) {
      return head.durable.then(
        () => this.onUpstream(message),
        () => {
          this.fatal('53000', 'gatehouse: the audit store failed before this result could be recorded; the session is closed', 'audit failure')
        },
      )
    }
    switch (message.type) {
      case '1':
      case '2':
      case '3':
        this.expectations.shift()
        if (head) this.confirm(head)
        break
      case 'n':
        if (head?.kind === 'internal-describe') {
          this.expectations.shift()
          return this.planPortal(head.portal, [])
        }
        this.expectations.shift()
        break
      case 'T':
        return this.onRowDescription(message)
      case 'D':
        return this.onDataRow(message)
      case 'C':
      case 'I':
      case 's':
        this.onComplete(message)
        break
      case 'E':
        this.onError(message)
        return undefined
      case 'Z': {
        const status = decodeReadyForQuery(message.raw)
        while (this.expectations.length > 0) {
          const e = this.expectations.shift()!
          if (e.kind === 'query') this.confirmed.forgetUnnamed()
          if (e.kind === 'sync' || e.kind === 'query') break
        }
        const committed = this.transaction !== 'E' && !this.failedSinceReady && this.lastTag !== 'ROLLBACK'
        if (status === 'I') this.confirmed.endTransaction(committed)
        if (this.expectations.length === 0) {
          // Nothing in flight: the server's objects are exactly the confirmed ones. After a failure or a
          // change of named objects the prediction may differ (a creation refused upstream): take them.
          if (this.failedSinceReady || this.namedObjectsChanged) this.predicted.copyFrom(this.confirmed)
          else if (status === 'I') this.predicted.endTransaction(committed)
          this.namedObjectsChanged = false
        }
        this.transaction = status
        this.failedSinceReady = false
        this.lastTag = ''
        break
      }
      case 'H':
      case 'W':
        return this.onCopyOut(message)
      case 'd':
        return this.onCopyData(message)
      case 'N':
        this.client.write(this.maskedNotice(message.raw))
        return undefined
      case 'S':
        this.client.write(clientParameterStatus(message.raw, this.options.who.identity))
        return undefined
      default:
        break
    }
    this.client.write(message.raw)
    return undefined
  }

  private onRowDescription(message: BackendMessage): Promise<void> | undefined {
    const head = this.expectations[0]
    const fields = decodeRowDescription(message.raw)
    if (head?.kind === 'internal-describe') {
      this.expectations.shift()
      // The client did not ask: plan, but do not pass it on.
      return this.planPortal(head.portal, fields)
    }
    let planning: Promise<MaskingPlan | undefined> | undefined
    if (head?.kind === 'describe') {
      this.expectations.shift()
      // A portal's rows may come from elsewhere (FETCH, EXECUTE): plan with the statement behind them.
      const behind = head.portal ? this.confirmed.rowSource(head.portal.statement.effects[0]) : 'self'
      const statement = behind === 'self' ? (head.statement ?? head.portal?.statement) : behind
      if (head.statement) head.statement.fields = fields
      if (statement && statement.verdict.kind !== 'deny') {
        const formats = head.portal?.resultFormats ?? []
        const verdict = statement.verdict
        const planned = this.cachedPlan(`describe\0${literalShape(statement.text)}\0${maskSignature(verdict)}\0${formats.join(',')}\0${message.raw.toString('latin1')}`, () =>
          this.plan(fields.map((f, i) => ({ ...f, format: head.portal ? formatOf(formats, i) : f.format })), verdict, 0, statement),
        )
        if (!(planned instanceof Promise)) {
          if (head.portal) head.portal.plan = planned
          this.writeRowDescription(message.raw, planned)
          return undefined
        }
        planning = planned.then((plan) => {
          if (head.portal) head.portal.plan = plan
          return plan
        })
      }
    } else if (head?.kind === 'query' && head.verdict && head.verdict.kind !== 'deny') {
      head.formats = fields.map((f) => f.format)
      const effect = head.effects?.[head.statement]
      const source = readsElsewhere(effect) ? this.confirmed.rowSource(effect) : 'self'
      if (source === undefined || (source !== 'self' && source.verdict.kind === 'deny')) {
        this.refuseUnattributed()
        return undefined
      }
      // A statement of the same shape and result layout has the same plan: reuse it without waiting.
      const verdict = source === 'self' ? head.verdict : source.verdict
      const key = `${literalShape(source === 'self' ? head.text : source.text)}\0${source === 'self' ? head.statement : 'source'}\0${maskSignature(verdict)}\0${message.raw.toString('latin1')}`
      const planned = this.cachedPlan(key, () => (source === 'self' ? this.plan(fields, verdict, head.statement, undefined, head) : this.plan(fields, verdict, 0, source)))
      if (!(planned instanceof Promise)) {
        head.plan = planned
        this.writeRowDescription(message.raw, planned)
        return undefined
      }
      planning = planned.then((plan) => (head.plan = plan))
    }
    if (!planning) {
      this.client.write(message.raw)
      return undefined
    }
    return planning.then((plan) => this.writeRowDescription(message.raw, plan))
  }

  /** A plan from the cache at once, or the promise of computing (and caching) it. */
  private cachedPlan(key: string, compute: () => Promise<MaskingPlan | undefined>): MaskingPlan | undefined | Promise<MaskingPlan | undefined> {
    if (this.plans.has(key)) return this.plans.get(key)
    return compute().then((plan) => {
      if (this.plans.size >= PLAN_CACHE_SIZE) this.plans.clear()
      this.plans.set(key, plan)
      return plan
    })
  }

  /** Passes a RowDescription on, describing masked non-text columns as text. */
  private writeRowDescription(raw: Buffer, plan: MaskingPlan | undefined): void {
    const retyped = plan?.fields.some((f) => f.mask && f.retype)
    this.client.write(retyped ? rewriteRowDescription(raw, (i) => (plan!.fields[i]?.mask && (plan!.fields[i] as { retype: boolean }).retype ? TEXT_FIELD : undefined)) : raw)
  }

  private planPortal(portal: Portal, fields: FieldDescription[]): Promise<void> | undefined {
    // The rows of a FETCH or EXECUTE portal are those of the statement behind it (unknown: refused at Execute).
    const behind = this.confirmed.rowSource(portal.statement.effects[0])
    const source = behind === 'self' || behind === undefined ? portal.statement : behind
    return this.planLayout(portal, fields, source.verdict, source)
  }

  /** The masking plan for a result: undefined when nothing can be masked. */
  private async plan(fields: FieldDescription[] | undefined, verdict: Verdict, statementIndex: number, prepared?: PreparedStatement, query?: QueryRun, columnCount?: number): Promise<MaskingPlan | undefined> {
    if (verdict.kind === 'deny' || verdict.decision.masks.length === 0) return undefined
    const text = prepared?.text ?? query?.text ?? ''
    let lineage: StatementLineage | null | undefined
    if (verdict.decision.masks.some((m) => !m.id.startsWith('detector:'))) {
      if (prepared) {
        if (prepared.lineage === undefined) prepared.lineage = this.lineageOf(text)?.[0] ?? null
        lineage = prepared.lineage
      } else if (query) {
        if (query.lineage === undefined) query.lineage = this.lineageOf(text) ?? null
        lineage = query.lineage === null ? undefined : query.lineage[statementIndex]
        // Rows from a statement without lineage of its own (FETCH from a cursor,
        // EXECUTE of a prepared statement) may carry anything: treat them as unknown.
        if (lineage === null && fields && query.verdict?.statements[statementIndex]?.kind !== 'VariableShowStmt') lineage = undefined
      }
    }
    return planMasking({
      fields: fields?.map((f) => ({ name: f.name, tableOid: f.tableOid, columnNumber: f.columnNumber, typeOid: f.typeOid, format: f.format })),
      ...(columnCount !== undefined ? { columnCount } : {}),
      masks: verdict.decision.masks,
      lineage,
      catalog: this.options.catalog,
      hashKey: this.ctx.maskKey,
    })
  }

  private lineageOf(text: string): Array<StatementLineage | null> | undefined {
    const schema = this.options.who.resource.postgres?.defaultSchema ?? 'public'
    // Lineage does not depend on numbers either: cache it by literal shape, as classifications are.
    const key = `${schema}\0${literalShape(text)}`
    if (lineageCache.has(key)) return lineageCache.get(key)
    const result = outputLineage(text, { defaultSchema: schema })
    const statements = result.ok ? result.statements : undefined
    if (lineageCache.size >= LINEAGE_CACHE_SIZE) lineageCache.delete(lineageCache.keys().next().value!)
    lineageCache.set(key, statements)
    return statements
  }

  private onDataRow(message: BackendMessage): undefined {
    const head = this.expectations[0]
    if (head?.kind === 'execute' && !this.attributed(head)) {
      this.refuseUnattributed()
      return undefined
    }
    const plan = head?.kind === 'query' ? head.plan : head?.kind === 'execute' ? head.portal?.plan : undefined
    if (head && (head.kind === 'query' || head.kind === 'execute')) head.rows++
    if (!plan?.active) {
      this.client.write(message.raw)
      return undefined
    }
    const formats = head?.kind === 'execute' ? (head.portal?.resultFormats ?? []) : head?.kind === 'query' ? (head.formats ?? []) : []
    let masked = 0
    const raw = rewriteDataRow(message.raw, (i, value) => {
      const binary = head?.kind === 'execute' ? formatOf(formats, i) === 1 : formats[i] === 1
      const result = maskField(plan, i, value, binary, this.ctx.maskKey)
      if (result !== undefined) masked++
      return result
    })
    if (masked > 0) this.maskedValues.inc(masked)
    this.client.write(raw)
    return undefined
  }

  private onComplete(message: BackendMessage): void {
    const head = this.expectations[0]
    if (message.type === 'C') this.lastTag = decodeCommandComplete(message.raw).tag
    if (head?.kind === 'query') {
      if (message.type === 'C' && head.effects?.[head.statement]) {
        this.confirmed.apply(head.effects[head.statement], head.created?.[head.statement])
        this.namedObjectsChanged = true
      }
      this.outcome(head, message.type === 'C' ? decodeCommandComplete(message.raw).tag : 'EMPTY')
      head.statement++
      head.plan = undefined
      head.rows = 0
      delete head.copy
      if (message.type === 'C' && /^(CREATE|ALTER|DROP)/.test(decodeCommandComplete(message.raw).tag)) {
        this.options.catalog?.invalidate()
        this.plans.clear()
      }
    } else if (head?.kind === 'execute') {
      if (message.type === 'C' && head.portal?.statement.effects[0]) {
        this.confirmed.apply(head.portal.statement.effects[0], head.created)
        this.namedObjectsChanged = true
      }
      this.outcome(head, message.type === 'C' ? decodeCommandComplete(message.raw).tag : message.type === 's' ? 'SUSPENDED' : 'EMPTY')
      this.expectations.shift()
    }
  }

  private onError(message: BackendMessage): void {
    const head = this.expectations[0]
    this.failedSinceReady = true
    const denial = head && 'denial' in head ? head.denial : undefined
    const error = decodeErrorOrNotice(message.raw)
    if (head && (head.kind === 'query' || head.kind === 'execute')) this.outcome(head, undefined, denial ? { code: denial.code, message: denial.message } : { code: error.fields.code ?? '', message: error.fields.message ?? '' })
    // The server's error for a denial is replaced by ours.
    this.client.write(denial ? buildErrorResponse({ severity: 'ERROR', code: denial.code, message: denial.message, ...(denial.code === '42501' ? { hint: PERMISSIONS_HINT } : {}) }) : this.maskedNotice(message.raw))
    if (!head || head.kind === 'query' || head.kind === 'sync') return
    // Extended protocol: the server skips everything up to the next Sync.
    while (this.expectations.length > 0 && this.expectations[0]!.kind !== 'sync') this.expectations.shift()
  }

  private onCopyOut(message: BackendMessage): Promise<void> | undefined {
    const head = this.expectations[0]
    const response = decodeCopyResponse(message.raw)
    const verdict = head?.kind === 'query' ? head.verdict : head?.kind === 'execute' ? head.portal?.statement.verdict : undefined
    if (!head || (head.kind !== 'query' && head.kind !== 'execute') || !verdict || verdict.kind === 'deny' || verdict.decision.masks.length === 0) {
      this.client.write(message.raw)
      return undefined
    }
    const copy = head.kind === 'query' ? copyOuts(head.text)[head.statement] : copyOuts(head.portal!.statement.text)[0]
    if (response.format === 1 || !copy || copy.format === 'binary') {
      // Refused before it ran when the gateway could tell (binary COPY cannot be masked row by row); never passed on.
      this.fatal('42501', `permission denied by gatehouse: ${BINARY_COPY}`, 'binary copy with masks')
      return undefined
    }
    const format = copy.format
    return this.plan(undefined, verdict, head.kind === 'query' ? head.statement : 0, head.kind === 'execute' ? head.portal!.statement : undefined, head.kind === 'query' ? head : undefined, response.columnFormats.length).then((plan) => {
      if (plan) head.copy = { plan, format, header: copy.header }
      this.client.write(message.raw)
    })
  }

  private onCopyData(message: BackendMessage): undefined {
    const head = this.expectations[0]
    const copy = head && (head.kind === 'query' || head.kind === 'execute') ? head.copy : undefined
    if (!copy?.plan.active || copy.header) {
      // The server sends the header line as its own CopyData ("COPY": one message per row).
      if (copy) copy.header = false
      this.client.write(message.raw)
      return undefined
    }
    const decoded = decodeCopyRows(message.raw.subarray(5), { format: copy.format })
    if (!decoded.ok) {
      // A row the gateway cannot read is not passed on unmasked.
      this.fatal('42501', 'permission denied by gatehouse: a COPY row could not be masked', 'unmaskable copy row')
      return undefined
    }
    let masked = 0
    const rows = decoded.rows.map((row) =>
      row.map((value, i) => {
        if (value === null) return null
        const result = maskField(copy.plan, i, Buffer.from(value, 'utf8'), false, this.ctx.maskKey)
        if (result === undefined) return value
        masked++
        return result === null ? null : result.toString('utf8')
      }),
    )
    if (head && (head.kind === 'query' || head.kind === 'execute')) head.rows += rows.length
    if (masked === 0) {
      this.client.write(message.raw)
      return undefined
    }
    this.maskedValues.inc(masked)
    const payload = encodeCopyRows(rows, { format: copy.format }, { lineEnding: decoded.lineEnding })
    const out = Buffer.allocUnsafe(5 + payload.length)
    out[0] = 0x64
    out.writeInt32BE(4 + payload.length, 1)
    payload.copy(out, 5)
    this.client.write(out)
    return undefined
  }

  private outcome(run: Run, tag: string | undefined, error?: { code: string; message: string }): void {
    if (!run.eventId) return
    const result = {
      outcome: error ? `error ${error.code}` : (tag ?? 'done'),
      rows: run.rows,
      durationMs: Math.round((performance.now() - run.started) * 1000) / 1000,
      ...(error ? { error } : {}),
    }
    // The statement's own event carries it while still queued (async mode); else the session's next event does.
    try {
      this.ctx.audit.settleOutcome(run.eventId, result, this.eventSubject)
    } catch {
      // The store is failing: the next request will be refused; this outcome cannot be kept.
      this.options.log.warn('an outcome could not be recorded: the audit store is unavailable', { session: this.options.who.id, event: run.eventId })
    }
  }

  /** The decision of the statement an error or notice comes from; undefined when it cannot be told. */
  private verdictOfHead(): Verdict | undefined {
    const head = this.expectations[0]
    if (head?.kind === 'query') {
      const effect = head.effects?.[head.statement]
      const source = readsElsewhere(effect) ? this.confirmed.rowSource(effect) : 'self'
      return source === 'self' ? head.verdict : source?.verdict
    }
    if (head?.kind === 'execute') return head.source?.verdict ?? head.portal?.statement.verdict
    if (head?.kind === 'parse') return head.statement?.verdict
    if (head?.kind === 'bind') return head.portal?.statement.verdict
    return undefined
  }

  /** An ErrorResponse or NoticeResponse with the values it quotes masked (see notice-masking.ts). */
  private maskedNotice(raw: Buffer): Buffer {
    const bundle = this.ctx.state.current
    if (!bundle) return raw
    if (this.noticeMaskCache?.revision !== bundle.revision) {
      this.noticeMaskCache = { revision: bundle.revision, masks: identityNoticeMasks(bundle.engine, this.options.who.identity, this.options.who.resource.name, this.ctx.maskKey) }
    }
    const masks = this.noticeMaskCache.masks
    if (!masks) return raw
    // A statement of no known origin may have touched any masked table.
    const verdict = this.verdictOfHead()
    const masked = maskNotice(raw, { detectors: masks.detectors, quotesData: masks.tables.size > 0 && (!verdict || verdict.statements.length === 0 || touchesMaskedTable(verdict.statements, masks)) })
    if (masked !== raw) this.maskedValues.inc(1)
    return masked
  }

  /** ParseComplete, BindComplete, CloseComplete: the server now has (or no longer has) the object. */
  private confirm(head: Expectation): void {
    if ((head.kind === 'parse' || head.kind === 'bind' || head.kind === 'close') && head.name) this.namedObjectsChanged = true
    if (head.kind === 'parse' && head.statement) this.confirmed.prepare(head.name ?? '', head.statement)
    else if (head.kind === 'bind' && head.portal) this.confirmed.open(head.name ?? '', head.portal)
    else if (head.kind === 'close' && head.target === 'S') this.confirmed.deallocate(head.name)
    else if (head.kind === 'close') this.confirmed.close(head.name)
  }

  /** Whether an Execute's rows come from the portal and statement it was decided and planned for. */
  private attributed(head: Extract<Expectation, { kind: 'execute' }>): boolean {
    if (head.attributed) return true
    const portal = this.confirmed.portal(head.name)
    const source = portal ? this.confirmed.rowSource(portal.statement.effects[0]) : undefined
    head.attributed = !!portal && portal === head.portal && (source === 'self' ? portal.statement : source) === head.source
    return head.attributed
  }

  /** Rows the gateway cannot attribute to a statement it decided are never passed on. */
  private refuseUnattributed(): void {
    this.options.log.warn('a result could not be attributed to a known statement; the session is closed', { session: this.options.who.id })
    this.fatal('42501', 'permission denied by gatehouse: a result came from a cursor or prepared statement the gateway did not see created, so it cannot be masked; the session is closed', 'unattributed result')
  }

  // ---------------------------------------------------------------------------

  /** Sends a FATAL error to the client (when it can still receive) and ends the session. */
  private fatal(code: string, message: string, reason: string): void {
    if (this.ended) return
    if (this.client.writable) this.client.write(buildErrorResponse({ severity: 'FATAL', code, message }))
    this.end(reason)
  }

  /** The client stopped reading its results: close the session rather than hold them. */
  private stalled(stall: Stall): void {
    this.options.log.warn('closing a session whose client stopped reading', { session: this.options.who.id, unsentBytes: stall.unsentBytes, seconds: stall.seconds })
    this.options.onLimit?.('stalled')
    this.fatal('53400', `terminating connection: the client did not read its results for ${stall.seconds} s`, `client stopped reading (${stall.unsentBytes} bytes unsent after ${stall.seconds} s)`)
  }

  private end(reason: string): void {
    if (this.ended) return
    this.ended = true
    this.flow.stop()
    this.hold?.abort(new Error('cancelled'))
    this.unsubscribe()
    if (this.upstreamSocket.writable) this.upstreamSocket.end(buildTerminate())
    this.upstreamSocket.destroySoon?.()
    this.client.end()
    this.client.resume()
    setTimeout(() => (this.client.destroy(), this.upstreamSocket.destroy()), 1000).unref()
    try {
      this.ctx.audit.append({ kind: 'session.end', sessionId: this.options.who.id, identity: this.options.who.identity, resource: this.options.who.resource.name, data: { protocol: 'postgres', reason } }, 'async')
    } catch {
      this.options.log.warn('the end of a session could not be recorded: the audit store is unavailable', { session: this.options.who.id })
    }
    this.options.onEnd()
  }

  get transactionStatus(): TransactionStatus {
    return this.transaction
  }
}

type Admitted = Exclude<Verdict, { kind: 'deny' }> | undefined

const BINARY_COPY = 'binary COPY of data with masks is not allowed, as its values cannot be masked; use FORMAT text or csv'

/** Why a FETCH or EXECUTE of a name the gateway did not see created is refused: its rows could not be masked. */
function unattributable(effect: Extract<ObjectEffect, { kind: 'fetch' | 'execute' }>): string {
  const what = effect.kind === 'fetch' ? `cursor \`${effect.name}\`` : `prepared statement \`${effect.name}\``
  return `${what} was not created through the gateway in this session, so its rows could not be masked`
}

/** A refusal the gateway makes before the statement runs, for a reason of its own rather than a rule. */
function refusal(verdict: Verdict | undefined, reason: string, bundle = verdict?.bundle): Verdict {
  const decision = { effect: 'deny' as const, rule: null, reasons: [reason], errors: [], masks: [] }
  return { kind: 'deny', decision, statements: verdict?.statements ?? [], message: denialMessage(decision), bundle }
}

/** Continues with `value` at once when it is ready, after it resolves otherwise: the hot path stays synchronous. */
function when<T, R>(value: T | Promise<T>, next: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value)
}

/** The result format of column `i` from Bind's format codes ("Message Formats / Bind"). */
function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0
  if (formats.length === 1) return formats[0]!
  return formats[i] ?? 0
}

/** A session id that is also safe to show and to log. */
export function newSessionId(): string {
  return `pg_${randomBytes(9).toString('base64url')}`
}
