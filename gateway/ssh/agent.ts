// Agent forwarding (OpenSSH's auth-agent@openssh.com). When a rule allows it
// and the client offered its agent on a session, the upstream host's agent
// requests travel back over the client's own connection to the client's own
// agent: the gateway relays bytes and never holds or sees a key. Each use is
// decided again and recorded (see towards-client.ts).
import ssh2, { type Connection, type ServerChannel } from 'ssh2'
import type { Duplex } from 'node:stream'
import type { ChannelHost } from './channel.js'
import { admitTowardsClient, type ReserveChannel } from './towards-client.js'

/** ssh2's server offers no call to open this channel type, though its protocol layer writes it (ssh2 is pinned to an exact version). */
interface ServerInternals {
  _chanMgr: { add(callback: ((err: Error | undefined, channel: ServerChannel) => void) & { type: string }): number }
  _protocol: { openssh_authAgent(channel: number, window: number, packetSize: number): void }
}
/** The window and packet size ssh2's server gives the channels it opens. */
const WINDOW = 2 * 1024 * 1024
const PACKET_SIZE = 32 * 1024

function openAgentChannel(connection: Connection): Promise<ServerChannel> {
  const internals = connection as unknown as ServerInternals
  return new Promise((resolve, reject) => {
    const opened = Object.assign((err: Error | undefined, channel: ServerChannel) => (err ? reject(err) : resolve(channel)), { type: 'auth-agent@openssh.com' })
    const id = internals._chanMgr.add(opened)
    if (id === -1) return reject(new Error('no free channels'))
    internals._protocol.openssh_authAgent(id, WINDOW, PACKET_SIZE)
  })
}

/**
 * The agent the upstream connection is given. It authenticates nothing (the
 * upstream login uses the resource's key only); it exists to hand ssh2 a
 * stream to the client's agent when the upstream host asks for one.
 */
export class ClientAgentRelay extends ssh2.BaseAgent {
  /** Set once a session channel's agent request was allowed: the client has agreed to lend its agent. */
  private offered = false

  /** `reserve` takes a channel slot for each agent channel. */
  constructor(
    private readonly connection: Connection,
    private readonly host: ChannelHost,
    private readonly reserve: ReserveChannel,
  ) {
    super()
  }

  offer(): void {
    this.offered = true
  }

  getIdentities(cb: (err: Error | undefined, keys?: never[]) => void): void {
    cb(undefined, [])
  }

  sign(_key: unknown, _data: Buffer, _options: unknown, cb?: (err: Error) => void): void {
    cb?.(new Error('the gateway signs nothing with a client agent'))
  }

  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    const release = this.offered ? admitTowardsClient(this.host, this.reserve, { type: 'agent' }, 'ssh.agent', {}) : undefined
    if (!release) return cb(new Error('agent forwarding is not allowed'))
    openAgentChannel(this.connection).then(
      (channel) => {
        channel.on('error', () => undefined)
        const untrack = this.host.track(() => channel.close())
        channel.once('close', () => (untrack(), release()))
        cb(undefined, channel)
      },
      (err: Error) => {
        release()
        this.host.log.warn('the client agent could not be reached', { error: err })
        cb(err)
      },
    )
  }
}
