// A TCP proxy in front of the test PostgreSQL server, standing in for the
// network between the gateway and its audit store: it can cut every
// connection and refuse new ones (an outage), and it can let one query
// through, let the server commit and answer, and then drop the answer and the
// connection (an acknowledgement lost after the commit).
import { Buffer } from 'node:buffer'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export interface StoreProxy {
  /** `direct` (a postgres:// URL) rewritten to go through the proxy. */
  url(direct: string): string
  /** Closes every connection and refuses new ones until `restore`. */
  cut(): void
  restore(): void
  /**
   * The next query whose bytes contain `marker` reaches the server and is
   * answered; the answer is dropped and the connection closed once the server
   * has said it is ready for the next query (so the commit is done).
   * `meanwhile` runs after the commit and before the drop. Resolves when dropped.
   */
  dropReplyTo(marker: string, meanwhile?: () => Promise<void>): Promise<void>
  close(): Promise<void>
}

interface Doom {
  marker: string
  meanwhile: () => Promise<void>
  dropped: () => void
}

export async function startStoreProxy(target: { host: string; port: number }): Promise<StoreProxy> {
  const pairs = new Set<[Socket, Socket]>()
  let refusing = false
  let doom: Doom | undefined
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy()
    const upstream = connect(target)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const end = () => (client.destroy(), upstream.destroy(), pairs.delete(pair))
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    let doomed: Doom | undefined
    let seen: Buffer = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => {
      if (doom && Buffer.concat([seen, chunk]).includes(doom.marker)) {
        doomed = doom
        doom = undefined
      }
      seen = chunk.subarray(Math.max(0, chunk.length - 64))
      upstream.write(chunk)
    })
    let answer: Buffer = Buffer.alloc(0)
    upstream.on('data', (chunk: Buffer) => {
      if (!doomed) return void client.write(chunk)
      // Server messages: a type byte and a length (PostgreSQL protocol, "Message Formats"); wait for ReadyForQuery.
      answer = Buffer.concat([answer, chunk])
      for (let at = 0; at + 5 <= answer.length; at += 1 + answer.readInt32BE(at + 1)) {
        if (answer[at] !== 0x5a) continue
        const { meanwhile, dropped } = doomed
        doomed = undefined
        upstream.pause()
        void meanwhile().finally(() => (end(), dropped()))
        return
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const proxy: StoreProxy = {
    url(direct) {
      const url = new URL(direct)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      return url.toString()
    },
    cut() {
      refusing = true
      for (const [a, b] of pairs) a.destroy(), b.destroy()
      pairs.clear()
    },
    restore() {
      refusing = false
    },
    dropReplyTo(marker, meanwhile = async () => undefined) {
      return new Promise((dropped) => (doom = { marker, meanwhile, dropped }))
    },
    close() {
      proxy.cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
