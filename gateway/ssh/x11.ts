// X11 forwarding, where an `x11` rule allows it. The session's request goes
// upstream with the client's own cookie: OpenSSH's client hands out a fake
// one and swaps in the real one on its side, so the gateway never sees the
// display's credentials. Each X11 connection the host opens comes back to the
// client (see towards-client.ts).
import { Buffer } from 'node:buffer'
import type { ClientChannel, Connection, ServerChannel, X11Details, X11Info, X11Options } from 'ssh2'
import { formatTarget } from '../../engine/ssh/index.js'
import type { ChannelHost } from './channel.js'
import { admitTowardsClient, joinChannels, type ReserveChannel } from './towards-client.js'

/** The upstream request for a client's x11-req, as the client made it. */
export function upstreamX11(info: X11Info): X11Options {
  // ssh2 hands the cookie over as the bytes on the wire (hex text); it must go upstream as that same text.
  const cookie: unknown = info.cookie
  return { single: info.single, protocol: info.protocol, screen: info.screen, cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : String(cookie) }
}

/** An X11 connection the host opened: decided, recorded, then relayed to the client's display. */
export function relayX11(host: ChannelHost, client: Connection, reserve: ReserveChannel, details: X11Details, accept: () => ClientChannel, reject: () => void): void {
  const release = admitTowardsClient(host, reserve, { type: 'x11' }, 'ssh.x11', { from: formatTarget(details.srcIP, details.srcPort) })
  if (!release) return reject()
  client.x11(details.srcIP, details.srcPort, (err, channel: ServerChannel) => {
    if (err) return (release(), reject())
    joinChannels(host, channel, accept(), release)
  })
}
