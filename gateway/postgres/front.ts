// The PostgreSQL front: listen, run the startup handshake (TLS, cancel
// requests, authentication of the identity, which resource), connect
// upstream with the resource's credentials, then hand the two connections
// to a session. What a client sees when it is refused is a closed set:
// 28P01 failed authentication, 42501 policy denial, 57P03 no bundle in force, 08P01 protocol
// violation, 08006 the database could not be reached; details go to the
// log under the session id, never to the client.
import { readFile } from 'node:fs/promises'
import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net'
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls'
import type { BundleResource } from '../../engine/types.js'
import { recordAuthFailure, resolveTarget } from '../access.js'
import { NO_BUNDLE_MESSAGE } from '../messages.js'
import type { Front, GatewayContext } from '../gateway.js'
import { createRateLimiter } from '../rate-limit.js'
import type { Logger } from '../../runtime/log.js'
import { CancelKeys } from './cancel-keys.js'
import { clientParameterStatus, upstreamIsSuperuser } from './parameter-status.js'
import { createCatalog, type Catalog } from './catalog.js'
import { authenticateClient, chooseMethod, identityOf } from './client-auth.js'
import { createFrontendReader, type AuthenticationResponse, type FrontendMessage, type FrontendReader, type StartupMessage } from './protocol/frontend.js'
import { buildBackendKeyData, buildErrorResponse, buildReadyForQuery } from './protocol/serialize.js'
import { resolveLimits } from '../limits.js'
import { BufferBudget } from './flow-control.js'
import { newSessionId, PostgresSession } from './session.js'
import { connectUpstream } from './upstream.js'

/** Before authentication, messages are small (PostgreSQL caps them at 64 kB too). */
const STARTUP_MESSAGE_BYTES = 64 * 1024
const MAX_CLIENT_MESSAGE_BYTES = 256 * 1024 * 1024
/** How long closing sessions get to deliver their last message at shutdown. */
const SHUTDOWN_GRACE_MS = 2000

/** Startup parameters passed through to the database; anything else is dropped or refused. */
const PASSED_PARAMETERS = new Set(['application_name', 'datestyle', 'timezone', 'intervalstyle', 'extra_float_digits', 'lc_monetary', 'lc_numeric', 'lc_time', 'geqo', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'])

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6. */
function isLoopback(address: string | undefined): boolean {
  if (!address || !isIP(address)) return false
  return address === '::1' || /^(::ffff:)?127\./.test(address)
}

class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail?: string,
  ) {
    super(message)
  }
}

/** Turns the socket's bytes into startup-phase messages the handshake can wait for. */
class HandshakeReader {
  private readonly queue: FrontendMessage[] = []
  private waiter: ((m: FrontendMessage) => void) | undefined
  private failer: ((err: Error) => void) | undefined
  private failure: Error | undefined
  private readonly onData = (chunk: Buffer) => {
    try {
      for (const m of this.reader.push(chunk)) this.queue.push(m)
    } catch (err) {
      this.fail(err as Error)
      return
    }
    this.deliver()
  }
  private readonly onClose = () => this.fail(new Error('client disconnected'))

  constructor(
    private socket: Socket,
    readonly reader: FrontendReader,
  ) {
    this.attach(socket)
  }

  attach(socket: Socket): void {
    this.socket.off('data', this.onData)
    this.socket.off('close', this.onClose)
    this.socket = socket
    socket.on('data', this.onData)
    socket.once('close', this.onClose)
    socket.on('error', () => undefined)
  }

  next(): Promise<FrontendMessage> {
    const ready = this.queue.shift()
    if (ready) return Promise.resolve(ready)
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiter = resolve
      this.failer = reject
    })
  }

  /** Stops reading; returns what arrived after the handshake (the client may pipeline queries). */
  detach(): FrontendMessage[] {
    this.socket.off('data', this.onData)
    this.socket.off('close', this.onClose)
    this.socket.pause()
    return this.queue.splice(0)
  }

  private deliver(): void {
    if (!this.waiter || this.queue.length === 0) return
    const waiter = this.waiter
    this.waiter = undefined
    this.failer = undefined
    waiter(this.queue.shift()!)
  }

  private fail(err: Error): void {
    this.failure ??= err
    const failer = this.failer
    this.waiter = undefined
    this.failer = undefined
    failer?.(err)
  }
}

/**
 * Every connection refused after its startup message ends on record: a
 * `session.end` naming the refusal (so no refused session looks open), and a
 * log line (authentication failures have theirs already).
 */
function recordRefusal(ctx: GatewayContext, log: Logger, refusal: { sessionId: string; identity: string; resource: string; source: string; code: string; message: string }): void {
  if (refusal.code !== '28P01') log.warn('connection refused', { identity: refusal.identity, resource: refusal.resource, source: refusal.source, code: refusal.code, reason: refusal.message })
  try {
    ctx.audit.append(
      { kind: 'session.end', sessionId: refusal.sessionId, ...(refusal.identity ? { identity: refusal.identity } : {}), ...(refusal.resource ? { resource: refusal.resource } : {}), data: { protocol: 'postgres', source: refusal.source, reason: `refused: ${refusal.message}`, code: refusal.code } },
      'async',
    )
  } catch {
    log.warn('a refused connection could not be recorded: the audit store is unavailable', { source: refusal.source })
  }
}

/** A superuser upstream account can do anything a statement slips past the policy: said once per resource, and on /status. */
function reportSuperuser(ctx: GatewayContext, log: Logger, resource: string): void {
  if (ctx.superuserResources.has(resource)) return
  ctx.superuserResources.add(resource)
  log.warn('the upstream account is a superuser: give it only the grants the policies can use', { resource })
}

export function createPostgresFront(ctx: GatewayContext): Front {
  const limiter = createRateLimiter({ maxFailures: 5, windowMs: 60_000 })
  const cancelKeys = new CancelKeys()
  const catalogs = new Map<string, { resource: BundleResource; catalog: Catalog }>()
  const connections = new Set<Socket>()
  const limits = resolveLimits(ctx.config.limits)
  const budget = new BufferBudget(limits)
  const limited = ctx.metrics.counter('gatehouse_postgres_limited_total', 'PostgreSQL connections closed at a limit, by reason: startup-timeout (no session within limits.startupTimeoutMs), idle, stalled (the client stopped reading).')
  ctx.metrics.gauge('gatehouse_postgres_unsent_bytes', 'Bytes PostgreSQL sessions hold unsent towards their clients.', () => [{ labels: {}, value: budget.held }])
  let tls: SecureContext | undefined
  let server: Server | undefined

  const catalogFor = (resource: BundleResource): Catalog => {
    const existing = catalogs.get(resource.name)
    // A changed resource (new host, new credentials) gets a new catalog connection.
    if (existing && JSON.stringify(existing.resource.postgres) === JSON.stringify(resource.postgres)) return existing.catalog
    void existing?.catalog.close()
    const catalog = createCatalog(resource)
    catalogs.set(resource.name, { resource, catalog })
    return catalog
  }

  const handle = async (raw: Socket) => {
    raw.setNoDelay(true)
    raw.on('error', () => undefined)
    const refusal = ctx.connections.admit(raw, 'postgres')
    if (refusal) {
      // Before the startup packet: PostgreSQL itself answers "too many clients" this way (53300).
      raw.end(buildErrorResponse({ severity: 'FATAL', code: '53300', message: `gatehouse: ${refusal}` }))
      setTimeout(() => raw.destroy(), 1000).unref()
      return
    }
    connections.add(raw)
    raw.once('close', () => connections.delete(raw))
    const source = raw.remoteAddress ?? 'unknown'
    const id = newSessionId()
    const log = ctx.log.child({ session: id })
    let socket: Socket = raw
    const reader = createFrontendReader({ maxMessageBytes: STARTUP_MESSAGE_BYTES })
    const handshake = new HandshakeReader(raw, reader)
    const timer = setTimeout(() => (limited.inc({ reason: 'startup-timeout' }), raw.destroy()), limits.startupTimeoutMs)
    // What the client claimed at startup (not authenticated until it is): for the record of a refusal.
    const claimed = { identity: '', resource: '' }
    const refuse = (code: string, message: string) => {
      socket.end(buildErrorResponse({ severity: 'FATAL', code, message }))
      setTimeout(() => socket.destroy(), 1000).unref()
      recordRefusal(ctx, log, { sessionId: id, ...claimed, source, code, message })
    }
    try {
      let startup: StartupMessage | undefined
      let encrypted = false
      while (!startup) {
        const message = await handshake.next()
        if (message.kind === 'SSLRequest') {
          if (!tls || encrypted) {
            socket.write('N')
            reader.expectStartup()
            continue
          }
          socket.write('S')
          const secure = new TLSSocket(socket, { isServer: true, secureContext: tls })
          secure.on('error', () => undefined)
          handshake.attach(secure)
          socket = secure
          encrypted = true
          reader.expectStartup()
        } else if (message.kind === 'GSSENCRequest') {
          socket.write('N')
          reader.expectStartup()
        } else if (message.kind === 'CancelRequest') {
          cancelKeys.find(message.processId, message.secretKey)?.cancel()
          socket.destroy()
          return
        } else if (message.kind === 'StartupMessage') startup = message
        else throw new Refusal('08P01', `protocol violation: ${message.kind} before startup`)
      }
      if (ctx.config.requireTls && !encrypted) throw new Refusal('28000', 'this gateway accepts only TLS connections (sslmode=require)')
      const parameters = startup.parameters
      const identity = parameters.get('user') ?? ''
      const resourceName = parameters.get('database') ?? identity
      claimed.identity = identity
      claimed.resource = resourceName
      if (parameters.has('replication')) throw new Refusal('42501', 'replication connections are not allowed through gatehouse')
      if (parameters.has('options')) throw new Refusal('42501', 'startup options are not allowed through gatehouse; use SET, which policies decide')
      const encoding = parameters.get('client_encoding')
      if (encoding && !/^(utf-?8|unicode)$/i.test(encoding.replace(/'/g, ''))) throw new Refusal('22023', 'gatehouse speaks UTF8 only; set client_encoding to UTF8')

      const exchange = {
        send: (m: Buffer) => void socket.write(m),
        next: async (): Promise<AuthenticationResponse> => {
          const m = await handshake.next()
          if (m.kind !== 'AuthenticationResponse') throw new Refusal('08P01', `protocol violation: expected an authentication message, got ${m.kind}`)
          return m
        },
      }
      const bundle = ctx.state.current
      // 57P03 cannot_connect_now: what PostgreSQL itself says while it cannot take connections yet.
      if (!bundle) throw new Refusal('57P03', NO_BUNDLE_MESSAGE)
      const method = chooseMethod(identityOf(bundle.bundle, identity), { encrypted, loopback: isLoopback(raw.localAddress) }, ctx.config)
      if (!method.ok) {
        recordAuthFailure(ctx, log, { protocol: 'postgres', sessionId: id, identity, resource: resourceName, source, reason: method.message, audited: 'workload identity token without TLS' })
        throw new Refusal('28000', method.message)
      }
      const auth = await authenticateClient(bundle.bundle, identity, source, method.method, limiter, exchange, ctx.workloadTokens)
      if (!auth.ok) {
        const audited = auth.limited ? 'rate limited' : (auth.audited ?? 'authentication failed')
        recordAuthFailure(ctx, log, { protocol: 'postgres', sessionId: id, identity, resource: resourceName, source, reason: auth.reason, audited, ...(auth.workload ? { workload: auth.workload } : {}) })
        throw new Refusal('28P01', `password authentication failed for user "${identity}"`)
      }
      // invariant: every event of this session from here on carries the workload's claims.
      if (auth.workload) ctx.audit.tagSession(id, { workload: auth.workload })
      // Authenticated: which resource, and may this identity reach it at all?
      const target = resolveTarget(ctx.state.current, identity, resourceName, 'postgres')
      if (!target.ok) throw new Refusal('42501', target.message)
      const { bundle: current, resource } = target

      const passed: Record<string, string> = {}
      for (const [name, value] of parameters) if (PASSED_PARAMETERS.has(name.toLowerCase())) passed[name] = value
      let upstream
      try {
        upstream = await connectUpstream(resource, { parameters: passed })
      } catch (err) {
        log.error('could not connect to the database', { resource: resource.name, error: err as Error })
        throw new Refusal('08006', `gatehouse could not connect to "${resource.name}"`)
      }
      try {
        ctx.audit.append({ kind: 'session.start', sessionId: id, identity, resource: resource.name, data: { protocol: 'postgres', source, tls: encrypted, application: parameters.get('application_name') ?? '' }, usage: {} }, 'async')
      } catch {
        upstream.socket.destroy()
        throw new Refusal('53000', 'gatehouse: the audit store is unavailable, so nothing is let through; try again shortly')
      }
      if (upstreamIsSuperuser(upstream.parameterStatus)) reportSuperuser(ctx, log, resource.name)
      reader.setMaxMessageBytes(MAX_CLIENT_MESSAGE_BYTES)
      reader.setMaxStatementBytes(limits.maxStatementBytes)
      const pending = handshake.detach()
      clearTimeout(timer)
      let session: PostgresSession | undefined
      const key = cancelKeys.issue({ cancel: () => session?.cancel() })
      socket.cork()
      for (const status of upstream.parameterStatus) socket.write(clientParameterStatus(status, identity))
      socket.write(buildBackendKeyData(key.processId, key.secretKey))
      socket.write(buildReadyForQuery('I'))
      socket.uncork()
      const removeFromRegistry = ctx.sessions.add({ id, protocol: 'postgres', identity, resource: resource.name, startedAt: new Date(), close: (reason) => session?.close(reason) })
      session = new PostgresSession({
        ctx,
        who: { id, identity, owner: current.bundle.identities[identity]!.owner, resource, application: parameters.get('application_name') ?? '', source },
        client: socket,
        reader,
        pending,
        upstream,
        catalog: catalogFor(resource),
        durability: resource.audit.mode,
        log,
        budget,
        onLimit: (reason) => limited.inc({ reason }),
        onEnd: () => {
          cancelKeys.release(key.processId)
          removeFromRegistry()
        },
      })
      session.start()
      socket.resume()
      log.info('session started', { identity, resource: resource.name, source, tls: encrypted })
    } catch (err) {
      clearTimeout(timer)
      if (err instanceof Refusal) refuse(err.code, err.message)
      else if ((err as { code?: string }).code?.startsWith('protocol.')) {
        log.warn('protocol violation during startup', { source, error: err as Error })
        refuse('08P01', `protocol violation: ${(err as Error).message}`)
      } else if ((err as Error).message === 'client disconnected') socket.destroy()
      else {
        log.error('startup failed', { source, error: err as Error })
        refuse('XX000', 'the gateway could not start this session')
      }
    }
  }

  return {
    async listen(address) {
      if (ctx.config.tls) tls = createSecureContext({ cert: await readFile(ctx.config.tls.cert), key: await readFile(ctx.config.tls.key) })
      server = createServer({ noDelay: true }, (socket) => void handle(socket))
      server.on('error', (err) => ctx.log.error('PostgreSQL listener error', { error: err }))
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject)
        server!.listen(address.port, address.host, () => resolve())
      })
      return server.address() as AddressInfo
    },
    async close() {
      // server.close() only calls back once every connection is gone, so stop
      // accepting first, then end the open sessions (each client is told why)
      // and give their last bytes a moment to leave before cutting them off.
      const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
      ctx.sessions.closeAll('postgres', 'the gateway is shutting down')
      const grace = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())
      await Promise.race([closed, grace])
      for (const socket of connections) socket.destroy()
      await closed
      for (const { catalog } of catalogs.values()) await catalog.close()
    },
  }
}
