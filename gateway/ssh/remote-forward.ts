// Remote port forwarding (tcpip-forward, RFC 4254 §7.1; `ssh -R`). The host
// listens where a `listen` rule allows, on the canonical address the engine
// decided (an empty bind address, every address, is `0.0.0.0`); each
// connection it accepts comes back to the client as a forwarded-tcpip
// channel (see towards-client.ts).
import type { ClientChannel, Connection, ServerChannel, TcpConnectionDetails, TcpipBindInfo } from 'ssh2'
import { formatTarget, listenHost } from '../../engine/ssh/index.js'
import type { ChannelHost } from './channel.js'
import { admit } from './judge.js'
import { admitTowardsClient, joinChannels, type ReserveChannel } from './towards-client.js'

/** Remote forwards one connection may hold at once. */
const MAX_LISTENS = 10

interface Listening {
  /** What the client asked for: the channels it gets back must name it. */
  requested: TcpipBindInfo
  /** The address and port the host listens on (the port it chose when asked for 0). */
  address: string
  port: number
}

export interface RemoteForwards {
  /** A client's tcpip-forward request. */
  listen(info: TcpipBindInfo, accept: (port?: number) => void, reject: () => void): Promise<void>
  /** A client's cancel-tcpip-forward request. */
  cancel(info: TcpipBindInfo, accept: () => void, reject: () => void): Promise<void>
  /** A connection the host accepted on one of them (the upstream's `tcp connection`). */
  relay(details: TcpConnectionDetails, accept: () => ClientChannel, reject: () => void): void
}

export function remoteForwards(host: ChannelHost, client: Connection, reserve: ReserveChannel): RemoteForwards {
  /** By the address and port the host listens on, as it names them when a connection arrives. */
  const listening = new Map<string, Listening>()
  /** Requests being decided or set up: they count against the cap too, or requests arriving together could pass it. */
  let starting = 0

  async function startListening(info: TcpipBindInfo, accept: (port?: number) => void, reject: () => void): Promise<void> {
    const address = listenHost(info.bindAddr)
    const shown = formatTarget(address ?? info.bindAddr, info.bindPort)
    const admission = await admit(host.ctx, host.who, { type: 'listen', host: info.bindAddr, port: info.bindPort }, {
      kind: 'ssh.listen',
      data: { address: shown },
      text: `listen on ${shown}`,
      notify: () => undefined,
      signal: host.signal,
    })
    if (!admission.ok || address === undefined || host.signal.aborted) return reject()
    try {
      const upstream = await host.upstream()
      const bare = address.replace(/^\[|\]$/g, '')
      const port = await new Promise<number>((resolve, fail) => upstream.forwardIn(bare, info.bindPort, (err, bound) => (err ? fail(err) : resolve(bound || info.bindPort))))
      listening.set(formatTarget(bare, port), { requested: info, address: bare, port })
      accept(port)
    } catch (err) {
      host.log.warn('the host would not listen for a remote forward', { error: err as Error, address: shown })
      reject()
    }
  }

  return {
    async listen(info, accept, reject) {
      // The cap comes before the decision, so no event says "allow" for a listener that is then refused.
      if (listening.size + starting >= MAX_LISTENS) return reject()
      starting++
      try {
        await startListening(info, accept, reject)
      } finally {
        starting--
      }
    },

    async cancel(info, accept, reject) {
      // The client names the forward as it asked for it, or by the port the host chose.
      const key = [...listening].find(([, l]) => l.requested.bindAddr === info.bindAddr && (l.requested.bindPort === info.bindPort || l.port === info.bindPort))?.[0]
      if (key === undefined) return reject()
      const { address, port } = listening.get(key)!
      listening.delete(key)
      try {
        const upstream = await host.upstream()
        await new Promise<void>((resolve, fail) => upstream.unforwardIn(address, port, (err) => (err ? fail(err) : resolve())))
        accept()
      } catch {
        reject()
      }
    },

    relay(details, accept, reject) {
      const forward = listening.get(formatTarget(details.destIP, details.destPort))
      if (!forward) return reject()
      const request = { type: 'listen', host: forward.requested.bindAddr, port: forward.requested.bindPort } as const
      const data = { address: formatTarget(details.destIP, details.destPort), from: formatTarget(details.srcIP, details.srcPort) }
      const release = admitTowardsClient(host, reserve, request, 'ssh.listen.connection', data)
      if (!release) return reject()
      client.forwardOut(forward.requested.bindAddr, forward.port, details.srcIP, details.srcPort, (err, channel: ServerChannel) => {
        if (err) return (release(), reject())
        joinChannels(host, channel, accept(), release)
      })
    },
  }
}
