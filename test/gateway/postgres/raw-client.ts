// A client that speaks the wire protocol message by message through the
// gateway, for tests that need what no driver sends (SQL FETCH from a
// protocol portal, Execute on an SQL cursor, reused statement names) and that
// look at every byte the gateway sent back. node-postgres authenticates;
// then its socket is taken over.
import type { Socket } from 'node:net'
import pg from 'pg'
import { createBackendReader, decodeErrorOrNotice, type BackendMessage } from '../../../gateway/postgres/protocol/backend.js'
import { buildQuery, buildSync } from '../../../gateway/postgres/protocol/serialize.js'
import type { Shop } from '../harness.js'

export interface RawClient {
  /** ParameterStatus values received at startup. */
  readonly parameters: ReadonlyMap<string, string>
  /** Every byte received since the connection was taken over. */
  readonly received: Buffer[]
  send(...messages: Buffer[]): void
  /** Sends the messages and a Sync (unless `sync` is false), and returns the messages up to ReadyForQuery. */
  exchange(messages: Buffer[], sync?: boolean): Promise<BackendMessage[]>
  query(sql: string): Promise<BackendMessage[]>
  readonly closed: boolean
  end(): Promise<void>
}

export async function connectRaw(shop: Shop, identity: string): Promise<RawClient> {
  const client = new pg.Client({ host: '127.0.0.1', port: shop.port, user: identity, password: shop.tokens[identity] ?? 'wrong', database: 'shop' })
  client.on('error', () => undefined)
  const parameters = new Map<string, string>()
  const connection = (client as unknown as { connection: { on(event: string, listener: (m: { parameterName: string; parameterValue: string }) => void): void } }).connection
  connection.on('parameterStatus', (m) => parameters.set(m.parameterName, m.parameterValue))
  await client.connect()
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream
  socket.removeAllListeners('data')
  const reader = createBackendReader({ maxMessageBytes: 64 * 1024 * 1024 })
  const received: Buffer[] = []
  const queue: BackendMessage[] = []
  let waiter: (() => void) | undefined
  let closed = false
  socket.on('data', (chunk: Buffer) => {
    received.push(Buffer.from(chunk))
    queue.push(...reader.push(chunk))
    waiter?.()
  })
  socket.on('close', () => {
    closed = true
    waiter?.()
  })
  const untilReady = async (): Promise<BackendMessage[]> => {
    const out: BackendMessage[] = []
    for (;;) {
      while (queue.length > 0) {
        const message = queue.shift()!
        out.push(message)
        if (message.type === 'Z') return out
        if (message.type === 'E' && decodeErrorOrNotice(message.raw).fields.severityName === 'FATAL') return out
      }
      if (closed) return out
      await new Promise<void>((resolve) => (waiter = resolve))
      waiter = undefined
    }
  }
  const raw: RawClient = {
    parameters,
    received,
    send: (...messages) => {
      for (const m of messages) socket.write(m)
    },
    async exchange(messages, sync = true) {
      raw.send(...messages, ...(sync ? [buildSync()] : []))
      return untilReady()
    },
    query: (sql) => raw.exchange([buildQuery(sql)], false),
    get closed() {
      return closed
    },
    async end() {
      socket.end()
      await client.end().catch(() => undefined)
    },
  }
  return raw
}

/** The error or notice fields of the messages, for assertions. */
export function errorsOf(messages: readonly BackendMessage[]) {
  return messages.filter((m) => m.type === 'E').map((m) => decodeErrorOrNotice(m.raw).fields)
}

/** Runs `body` with a raw client of `identity`, closed afterwards whatever happens. */
export async function withRawClient<T>(shop: Shop, identity: string, body: (raw: RawClient) => Promise<T>): Promise<T> {
  const raw = await connectRaw(shop, identity)
  try {
    return await body(raw)
  } finally {
    await raw.end()
  }
}

/** How many rows (DataRow messages) the messages hold. */
export const dataRows = (messages: readonly BackendMessage[]): number => messages.filter((m) => m.type === 'D').length
