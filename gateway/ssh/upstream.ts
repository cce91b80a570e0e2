// The gateway's connection to an SSH resource: the resource's own key (read
// from its secret reference now, so rotation needs no restart) and its pinned
// host key, compared byte for byte; any other host key refuses the connection.
import { Buffer } from 'node:buffer'
import { timingSafeEqual } from 'node:crypto'
import { connect as connectTcp } from 'node:net'
import { Client, type BaseAgent } from 'ssh2'
import type { BundleResource } from '../../engine/types.js'
import { readSecret } from '../secrets.js'

const CONNECT_TIMEOUT_MS = 15_000

export class HostKeyMismatchError extends Error {
  readonly code = 'ssh.host_key_mismatch'
}

/** The wire form of a pinned `type base64` host key. */
function pinnedBlob(hostKey: string): Buffer {
  return Buffer.from(hostKey.trim().split(/\s+/)[1] ?? '', 'base64')
}

/** `agent` is where the host's agent requests go once agent forwarding is allowed; it never logs in. */
export async function connectUpstream(resource: BundleResource, agent: BaseAgent): Promise<Client> {
  const target = resource.ssh
  if (!target) throw new Error(`${resource.name} has no SSH connection details`)
  const privateKey = await readSecret(target.privateKey)
  const pinned = pinnedBlob(target.hostKey)
  return new Promise((resolve, reject) => {
    const client = new Client()
    const socket = connectTcp({ host: target.host, port: target.port, noDelay: true })
    socket.on('error', () => undefined)
    let mismatch = false
    const fail = (err: Error) => {
      client.end()
      socket.destroy()
      reject(mismatch ? new HostKeyMismatchError(`the host key of ${target.host}:${target.port} does not match the key pinned for ${resource.name}`) : err)
    }
    const closed = () => fail(new Error('the upstream closed the connection during the handshake'))
    client.once('ready', () => {
      client.off('error', fail)
      client.off('close', closed)
      client.on('error', () => undefined)
      resolve(client)
    })
    client.once('error', fail)
    client.once('close', closed)
    client.connect({
      sock: socket,
      username: target.user,
      privateKey,
      authHandler: ['publickey'],
      agent,
      readyTimeout: CONNECT_TIMEOUT_MS,
      keepaliveInterval: 30_000,
      hostVerifier: (key: Buffer) => {
        const ok = key.length === pinned.length && timingSafeEqual(key, pinned)
        mismatch = !ok
        return ok
      },
    })
  })
}
