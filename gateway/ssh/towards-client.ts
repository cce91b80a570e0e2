// Channels the host opens back towards the client: a connection to a remote
// forward's listener, an X11 client, an agent request. Each is decided again
// on the bundle in force, so a reload that takes the rule away stops the next
// one, and recorded before anything reaches the client.
import type { ClientChannel, ServerChannel } from 'ssh2'
import type { SshChannelRequest } from '../../engine/ssh/index.js'
import type { ChannelHost } from './channel.js'
import { decideRequest } from './judge.js'

/** Takes one of the connection's channel slots, returning its release, or undefined when all are in use. */
export type ReserveChannel = () => (() => void) | undefined

/**
 * Whether the host may open this channel now: the release of the channel
 * slot it takes when it may, undefined when it may not. The slot is taken
 * before deciding, so no event says "allow" for a channel the cap then
 * refuses; an unrecordable channel is refused too.
 */
export function admitTowardsClient(host: ChannelHost, reserve: ReserveChannel, request: SshChannelRequest, kind: string, data: Record<string, unknown>): (() => void) | undefined {
  const release = reserve()
  if (!release) return undefined
  const { ctx, who } = host
  const { decision, bundle } = decideRequest(ctx, who, request)
  const allowed = decision.effect === 'allow' && !host.signal.aborted
  try {
    ctx.audit.append({ kind, sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', ...data, decision: allowed ? 'allow' : 'deny', rule: decision.rule, revision: bundle?.revision ?? null } }, 'async')
  } catch {
    release()
    return undefined
  }
  if (allowed) return release
  release()
  return undefined
}

/** Relays between the host's channel and the client's until either closes; `release` runs once, at the end. */
export function joinChannels(host: ChannelHost, client: ServerChannel, upstream: ClientChannel, release: () => void): void {
  client.on('error', () => undefined)
  upstream.on('error', () => undefined)
  const untrack = host.track(() => client.close())
  client.pipe(upstream).pipe(client)
  client.once('close', () => (upstream.close(), untrack(), release()))
  upstream.once('close', () => client.close())
}
