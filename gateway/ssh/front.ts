// The SSH front: listen, authenticate the identity by its key, check the
// target resource (the login user names it: `ssh web-1@gateway ...`), then
// serve the client's channels, each decided on its own, over one upstream
// connection made with the resource's key to its pinned host.
//
// Anything not handled here is refused: password and keyboard-interactive
// logins, global requests other than remote forwarding, channel types other
// than sessions and direct-tcpip. A broken or hostile client ends its own
// connection only: every connection carries its own error handlers, a
// deadline to authenticate and a cap on open channels.
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import ssh2, { type AuthContext, type Client, type Connection } from 'ssh2'
import { recordAuthFailure, resolveTarget } from '../access.js'
import { NO_BUNDLE_MESSAGE } from '../messages.js'
import type { Front, GatewayContext } from '../gateway.js'
import { createRateLimiter } from '../rate-limit.js'
import { checkPublicKey, fingerprint } from './authenticate.js'
import { ClientAgentRelay } from './agent.js'
import { handleSessionChannel, type ChannelHost } from './channel.js'
import { forwardTcp } from './forward.js'
import { loadOrCreateHostKey } from './host-key.js'
import { remoteForwards } from './remote-forward.js'
import type { SshWho } from './judge.js'
import { connectUpstream, HostKeyMismatchError } from './upstream.js'
import { relayX11 } from './x11.js'

const AUTH_TIMEOUT_MS = 15_000
/** Open channels per connection, as OpenSSH's MaxSessions. */
export const MAX_CHANNELS = 10

/** A session id that is also safe to show and to log. */
function newSshSessionId(): string {
  return `ssh_${randomBytes(9).toString('base64url')}`
}

export function createSshFront(ctx: GatewayContext): Front {
  const limiter = createRateLimiter({ maxFailures: 5, windowMs: 60_000 })
  const sockets = new Set<Socket>()
  let server: Server | undefined

  const handle = (client: Connection, source: string) => {
    const id = newSshSessionId()
    const log = ctx.log.child({ session: id })
    const deadline = setTimeout(() => client.end(), AUTH_TIMEOUT_MS)
    let who: SshWho | undefined
    client.on('error', (err) => log.debug('connection error', { error: err }))
    client.on('close', () => clearTimeout(deadline))
    client.on('authentication', (auth) => {
      const identity = authenticate(auth, source, id)
      if (!identity) return
      who = identity
      auth.accept()
    })
    client.once('ready', () => {
      clearTimeout(deadline)
      if (who) serve(client, who, log)
      else client.end()
    })
  }

  /** Answers one authentication attempt; returns who logged in once a signature is verified. */
  const authenticate = (auth: AuthContext, source: string, id: string): SshWho | undefined => {
    const resourceName = auth.username
    if (auth.method !== 'publickey') {
      auth.reject(['publickey'])
      return undefined
    }
    const log = ctx.log.child({ session: id })
    const keys = [`source:${source}`]
    const fail = (identity: string, reason: string, audited: string) => {
      limiter.failed(identity ? [...keys, `identity:${identity}`] : keys)
      recordAuthFailure(ctx, log, { protocol: 'ssh', sessionId: id, identity, resource: resourceName, source, reason, audited })
      auth.reject(['publickey'])
      return undefined
    }
    if (!limiter.allowed(keys)) return fail('', 'too many failed logins; try again later', 'rate limited')
    const bundle = ctx.state.current
    if (!bundle) return fail('', 'no valid policy bundle is loaded', 'no bundle')
    const check = checkPublicKey(bundle.bundle, auth)
    if (check.kind === 'unknown') return fail('', `unknown key ${fingerprint(auth.key.data)}`, 'unknown key')
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

  const serve = (client: Connection, who: SshWho, log: GatewayContext['log']) => {
    const closed = new AbortController()
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
    }
    /** One of the connection's channel slots, for a channel the host opens back towards the client. */
    const reserve = () => (opened() ? () => channels-- : undefined)
    const agent = new ClientAgentRelay(client, host, reserve)
    const unregister = ctx.sessions.add({
      id: who.id,
      protocol: 'ssh',
      identity: who.identity,
      resource: who.resource.name,
      startedAt: new Date(),
      close(reason) {
        for (const close of [...closers]) close(reason)
        setTimeout(() => client.end(), 100).unref()
      },
    })
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
      try {
        ctx.audit.append({ kind: 'ssh.request', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', request: name, decision: 'deny', rule: null, outcome: 'not relayed by the gateway' } }, 'async')
      } catch {
        // The refusal stands whether or not it could be recorded.
      }
      reject?.()
    })
    client.once('close', () => {
      closed.abort()
      unregister()
      void upstream?.then((connection) => connection.end(), () => undefined)
      try {
        ctx.audit.append({ kind: 'session.end', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', reason: 'client disconnected' } }, 'async')
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
      ssh.on('connection', (client, info) => handle(client, info.ip))
      server = createServer({ noDelay: true }, (socket) => {
        socket.setNoDelay(true)
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        socket.on('error', () => undefined)
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
