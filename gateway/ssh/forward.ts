// Local port forwarding (direct-tcpip, RFC 4254 §7.2): decided on the
// canonical `host:port`, then opened from the upstream host to that same
// canonical target, so the connection goes where the decision looked.
import type { ServerChannel, TcpipRequestInfo } from 'ssh2'
import { normalizeHost } from '../../engine/ssh/index.js'
import type { ChannelHost } from './channel.js'
import { admit } from './judge.js'

/** Resolves once the forwarded channel has closed, or was refused. */
export async function forwardTcp(host: ChannelHost, info: TcpipRequestInfo, accept: () => ServerChannel, reject: () => void): Promise<void> {
  const target = normalizeHost(info.destIP)
  const admission = await admit(host.ctx, host.who, { type: 'forward', host: info.destIP, port: info.destPort }, {
    kind: 'ssh.forward',
    data: { target: `${target ?? info.destIP}:${info.destPort}` },
    text: `forward to ${target ?? info.destIP}:${info.destPort}`,
    notify: () => undefined,
    signal: host.signal,
  })
  if (!admission.ok || target === undefined || host.signal.aborted) return reject()
  let upstream
  try {
    const connection = await host.upstream()
    upstream = await new Promise<ServerChannel>((resolve, fail) =>
      connection.forwardOut(info.srcIP, info.srcPort, target.replace(/^\[|\]$/g, ''), info.destPort, (err, channel) => (err ? fail(err) : resolve(channel as unknown as ServerChannel))),
    )
  } catch (err) {
    host.log.warn('forwarding could not be opened upstream', { error: err as Error })
    return reject()
  }
  const client = accept()
  client.on('error', () => undefined)
  upstream.on('error', () => undefined)
  const untrack = host.track(() => client.close())
  client.pipe(upstream).pipe(client)
  await new Promise<void>((resolve) => {
    client.once('close', resolve)
    upstream.once('close', () => (client.close(), resolve()))
  })
  untrack()
}
