// The SSH front: listen, authenticate the identity by its key, check the
// target resource (the login user names it: `ssh web-1@gateway ...`), then
// serve the client's channels, each decided on its own, over one upstream
// connection made with the resource's key to its pinned host.
//
// Password and keyboard-interactive logins carry a workload identity token
// (token-login.ts). Anything not handled here is refused: global requests
// other than remote forwarding, channel types other than sessions and
// direct-tcpip. A broken or hostile client ends its own
// connection only: every connection carries its own error handlers, a
// deadline to log in that starts at the accept (before the banner), an idle
// timeout once logged in, and a cap on open channels.
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import ssh2, { type AuthContext, type Client, type Connection } from 'ssh2'
import { recordAuthFailure, resolveTarget } from '../access.js'
import { NO_BUNDLE_MESSAGE } from '../messages.js'
import type { Front, GatewayContext } from '../gateway.js'
import { createRateLimiter } from '../rate-limit.js'
import type { WorkloadClaims } from '../oidc/verify.js'
import { checkPublicKey, fingerprint } from './authenticate.js'
import { ClientAgentRelay } from './agent.js'
import { handleSessionChannel, recordRefusal, type ChannelHost } from './channel.js'
import { forwardTcp } from './forward.js'
import { loadOrCreateHostKey } from './host-key.js'
import { remoteForwards } from './remote-forward.js'
import { isTokenLogin, loginMethods, tokenLogin } from './token-login.js'
import type { SshWho } from './judge.js'
import { connectUpstream, HostKeyMismatchError } from './upstream.js'
import { SSH_DEFAULTS } from './settings.js'
import { relayX11 } from './x11.js'

/** Open channels per connection, as OpenSSH's MaxSessions. */
export const MAX_CHANNELS = 10

/** A session id that is also safe to show and to log. */
function newSshSessionId(): string {
  return `ssh_${randomBytes(9).toString('base64url')}`
}

export function createSshFront(ctx: GatewayContext): Front {
  const limiter = createRateLimiter({ maxFailures: 5, windowMs: 60_000 })
  const settings = ctx.config.ssh ?? SSH_DEFAULTS
  const timeouts = ctx.metrics.counter('gatehouse_ssh_timeouts_total', 'SSH connections and channels closed by a timeout, by phase: login (accept to authenticated), idle, stalled (a client that stopped reading).')
  const sockets = new Set<Socket>()
  /** Accepted sockets by remote address and port, until the client has logged in, with the end of their login deadline. */
  const loggingIn = new Map<string, { socket: Socket; loggedIn: () => void }>()
  let server: Server | undefined

  const startLoginDeadline = (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`
    // invariant: the login deadline runs from the accept, so a client that sends no banner, or one byte at a time, is
    // closed like one that stalls later in the key exchange or the login.
    const deadline = setTimeout(() => {
      timeouts.inc({ phase: 'login' })
      socket.destroy()
    }, settings.loginTimeoutMs)
    const loggedIn = () => (clearTimeout(deadline), loggingIn.delete(key))
    loggingIn.set(key, { socket, loggedIn })
    socket.once('close', loggedIn)
  }

  const handle = (client: Connection, info: { ip: string; port: number }) => {
    const accepted = loggingIn.get(`${info.ip}:${info.port}`)
    // invariant: ssh2 reports a connection only for a socket handed to it on accept, still open.
    if (!accepted) return void client.end()
    const id = newSshSessionId()
    const log = ctx.log.child({ session: id })
    let who: SshWho | undefined
    client.on('error', (err) => log.debug('connection error', { error: err }))
    let workload: WorkloadClaims | undefined
    client.on('authentication', (auth) => {
      if (isTokenLogin(auth) && loginMethods(ctx.state.current?.bundle).includes(auth.method)) {
        tokenLogin(ctx, limiter, auth, info.ip, id).then(
          (login) => {
            if (!login) return
            ;({ who, workload } = login)
            auth.accept()
          },
          (err: Error) => {
            // Fail closed: an unexpected fault is a refusal, never a crash or a login.
            log.error('a token login could not be checked', { error: err })
            auth.reject()
          },
        )
        return
      }
      const identity = authenticate(auth, info.ip, id)
      if (!identity) return
      who = identity
      auth.accept()
    })
    client.once('ready', () => {
      accepted.loggedIn()
      if (who) serve(client, accepted.socket, who, log, workload)
      else client.end()
    })
  }

  /** Answers one authentication attempt; returns who logged in once a signature is verified. */
  const authenticate = (auth: AuthContext, source: string, id: string): SshWho | undefined => {
    const resourceName = auth.username
    if (auth.method !== 'publickey') {
      auth.reject(loginMethods(ctx.state.current?.bundle))
      return undefined
    }
    const log = ctx.log.child({ session: id })
    const keys = [`source:${source}`]
    const fail = (identity: string, reason: string, audited: string) => {
      limiter.failed(identity ? [...keys, `identity:${identity}`] : keys)
      recordAuthFailure(ctx, log, { protocol: 'ssh', sessionId: id, identity, resource: resourceName, source, reason, audited })
      auth.reject(loginMethods(ctx.state.current?.bundle))
      return undefined
    }
    if (!limiter.allowed(keys)) return fail('', 'too many failed logins; try again later', 'rate limited')
    const bundle = ctx.state.current
    if (!bundle) return fail('', 'no valid policy bundle is loaded', 'no bundle')
    const check = checkPublicKey(bundle.bundle, auth)
    if (check.kind === 'unknown') return fail('', `unknown key ${fingerprint(auth.key.data)}`, 'unknown key')
    if (check.kind === 'retired') return fail(check.identity, `key ${fingerprint(auth.key.data)} is past its notAfter (${check.notAfter})`, 'key past its notAfter')
    if (!limiter.allowed([`identity:${check.identity}`])) return fail(check.identity, 'too many failed logins; try again later', 'rate limited')
    if (check.kind === 'bad-signature') return fail(check.identity, 'the signature does not verify', 'bad signature')
    const target = resolveTarget(bundle, check.identity, resourceName, 'ssh')
    if (!target.ok) return fail(check.identity, target.message, target.message.replace(/^permission denied by gatehouse: /, ''))
    // A key offered without a signature only asks whether it would do (RFC 4252 §7): yes, and the client signs next.
    if (check.kind === 'query') {
      auth.accept()
      return undefined
    }
    limiter.succeeded([`identity:${check.identity}`])
    return { id, identity: check.identity, owner: bundle.bundle.identities[check.identity]!.owner, resource: target.resource, source }
  }

  const serve = (client: Connection, socket: Socket, who: SshWho, log: GatewayContext['log'], workload: WorkloadClaims | undefined) => {
    const closed = new AbortController()
    let endReason = 'client disconnected'

    const closers = new Set<(reason: string) => void>()
    let upstream: Promise<Client> | undefined
    let channels = 0
    let channelNumber = 0
    const connect = (): Promise<Client> => {
      // The resource as the bundle in force describes it now (host, key, pinned host key), not as it was at login.
      const resource = ctx.state.current?.bundle.resources[who.resource.name]
      if (!resource) return Promise.reject(new Error(`resource \`${who.resource.name}\` is no longer in the bundle`))
      upstream ??= connectUpstream(resource, agent).then(
        (connection) => {
          connection.on('close', () => client.end())
          // Channels the host opens back towards the client.
          connection.on('tcp connection', (details, accept, reject) => remote.relay(details, accept, reject))
          connection.on('x11', (details, accept, reject) => relayX11(host, client, reserve, details, accept, reject))
          if (closed.signal.aborted) connection.end()
          return connection
        },
        (err: Error) => {
          if (err instanceof HostKeyMismatchError) log.error('upstream host key mismatch: refusing to connect', { resource: who.resource.name, error: err })
          else log.error('could not connect to the SSH host', { resource: who.resource.name, error: err })
          try {
            ctx.audit.append({ kind: 'ssh.upstream', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', outcome: err instanceof HostKeyMismatchError ? 'host key mismatch' : 'unreachable' } }, 'async')
          } catch {
            // Logged above; the client is told on its channel.
          }
          throw err
        },
      )
      return upstream
    }
    // invariant: the upstream is connected when the first admitted request needs it, never before: refused
    // requests and `gatehouse whoami` reach nothing upstream, not even a handshake.
    const host: ChannelHost = {
      ctx,
      who,
      log,
      upstream: connect,
      signal: closed.signal,
      track(close) {
        closers.add(close)
        return () => closers.delete(close)
      },
      lendAgent: () => agent.offer(),
      limits: { bufferBytes: settings.channelBufferBytes, stallMs: settings.stallTimeoutMs, maskHoldMs: settings.maskHoldMs },
      stalled({ channel, bufferedBytes }) {
        timeouts.inc({ phase: 'stalled' })
        log.warn('closing a connection whose client stopped reading', { channel, bufferedBytes })
        try {
          ctx.audit.append({ kind: 'ssh.stalled', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', channel, bufferedBytes, stallMs: settings.stallTimeoutMs } }, 'async')
        } catch {
          // Logged above; the connection ends either way.
        }
        endReason = 'the client stopped reading its output'
        // Not a polite end: a client that reads nothing would never take the disconnect either, and what is queued
        // for it must be released now.
        socket.destroy()
      },
    }
    /** One of the connection's channel slots, for a channel the host opens back towards the client. */
    const reserve = () => (opened() ? () => channels-- : undefined)
    const agent = new ClientAgentRelay(client, host, reserve)
    const closeSession = (reason: string) => {
      endReason = reason
      for (const close of [...closers]) close(reason)
      setTimeout(() => client.end(), 100).unref()
    }
    const unregister = ctx.sessions.add({
      id: who.id,
      protocol: 'ssh',
      identity: who.identity,
      resource: who.resource.name,
      startedAt: new Date(),
      close: closeSession,
    })
    if (settings.idleTimeoutMs > 0) {
      // Any byte either way is activity (keepalives included): a command that prints nothing for this long ends too.
      socket.setTimeout(settings.idleTimeoutMs, () => {
        timeouts.inc({ phase: 'idle' })
        log.info('closing an idle session', { idleMs: settings.idleTimeoutMs })
        closeSession(`the session was idle for ${Math.round(settings.idleTimeoutMs / 1000)} s; it is closed`)
      })
    }
    // invariant: every event of this session carries the workload's claims.
    if (workload) ctx.audit.tagSession(who.id, { workload })
    try {
      ctx.audit.append({ kind: 'session.start', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', source: who.source }, usage: {} }, 'async')
    } catch {
      log.warn('refused a session: the audit store is unavailable')
      unregister()
      client.end()
      return
    }
    log.info('session started', { identity: who.identity, resource: who.resource.name, source: who.source })
    const opened = (): boolean => {
      if (channels >= MAX_CHANNELS) return false
      channels++
      return true
    }
    client.on('session', (accept, reject) => {
      if (!opened()) return reject()
      const session = accept()
      session.once('close', () => channels--)
      handleSessionChannel(host, session, channelNumber++)
    })
    client.on('tcpip', (accept, reject, info) => {
      if (!opened()) return reject()
      forwardTcp(host, info, accept, reject)
        .catch((err: Error) => {
          log.error('a forwarded channel failed', { error: err })
          reject()
        })
        .finally(() => channels--)
    })
    const remote = remoteForwards(host, client, reserve)
    client.on('request', (accept, reject, name, info) => {
      const answer = { accept: (port?: number) => accept?.(port), reject: () => reject?.() }
      if (name === 'tcpip-forward') return void remote.listen(info, answer.accept, answer.reject).catch(answer.reject)
      if (name === 'cancel-tcpip-forward') return void remote.cancel(info, answer.accept, answer.reject).catch(answer.reject)
      recordRefusal(host, name, 'not relayed by the gateway')
      reject?.()
    })
    // Unix-socket forwarding (`ssh -L PATH:PATH`): no rule can name a socket, so it is refused, on record.
    client.on('openssh.streamlocal', (_accept, reject, info) => {
      recordRefusal(host, `Unix-socket forward to \`${String(info.socketPath).slice(0, 256)}\``, 'Unix-socket forwarding is not relayed by the gateway')
      reject()
    })
    client.once('close', () => {
      closed.abort()
      unregister()
      void upstream?.then((connection) => connection.end(), () => undefined)
      try {
        ctx.audit.append({ kind: 'session.end', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', reason: endReason } }, 'async')
      } catch {
        log.warn('the end of a session could not be recorded: the audit store is unavailable')
      }
    })
  }

  return {
    async listen(address) {
      const key = await loadOrCreateHostKey(ctx.config.dataDir)
      // ssh2 reads `banner` for each new connection (SSH_MSG_USERAUTH_BANNER,
      // RFC 4252 §5.4): the OpenSSH client prints it, so while no bundle is in
      // force the refusal that follows comes with its one-line reason.
      const config = { hostKeys: [key.privateKey], ident: 'gatehouse', get banner() { return ctx.state.current ? '' : `${NO_BUNDLE_MESSAGE}\r\n` } }
      const ssh = new ssh2.Server(config)
      ssh.on('error', (err: Error) => ctx.log.warn('SSH listener error', { error: err }))
      ssh.on('connection', (client, info) => handle(client, info))
      server = createServer({ noDelay: true }, (socket) => {
        socket.setNoDelay(true)
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        socket.on('error', () => undefined)
        // Lines before the version banner are allowed (RFC 4253 §4.2): say why, then close.
        const refusal = ctx.connections.admit(socket, 'ssh')
        if (refusal) return void socket.end(`gatehouse: ${refusal}\r\n`)
        startLoginDeadline(socket)
        ssh.injectSocket(socket)
      })
      server.on('error', (err) => ctx.log.error('SSH listener error', { error: err }))
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject)
        server!.listen(address.port, address.host, () => resolve())
      })
      ctx.log.info('SSH host key', { publicKey: key.publicKey })
      return server.address() as AddressInfo
    },
    async close() {
      // The listener stops accepting now; it reports closed once the last connection has gone.
      const stopped = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
      ctx.sessions.closeAll('ssh', 'the gateway is shutting down')
      await new Promise((r) => setTimeout(r, 150))
      for (const socket of sockets) socket.destroy()
      await stopped
    },
  }
}
