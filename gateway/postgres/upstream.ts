// The gateway's own connection to the real database, made with the
// resource's credentials (read at connection time, never shown to the
// client): TLS as the resource says, then startup and whatever
// authentication the server asks for (SCRAM-SHA-256, MD5, cleartext, trust).
import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import { connect as connectTcp, isIP, type Socket } from 'node:net'
import { connect as connectTls, type TLSSocket } from 'node:tls'
import type { BundleResource } from '../../engine/types.js'
import { readSecret } from '../secrets.js'
import {
  createBackendReader,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeErrorOrNotice,
  readEncryptionResponse,
  type BackendMessage,
  type BackendReader,
} from './protocol/backend.js'
import { buildPasswordMessage, buildSaslInitialResponse, buildSaslResponse, buildSSLRequest, buildStartupMessage } from './protocol/serialize.js'
import { createScramClient } from './scram.js'

export const MAX_UPSTREAM_MESSAGE_BYTES = 1024 * 1024 * 1024

export interface Upstream {
  socket: Socket | TLSSocket
  reader: BackendReader
  /** Raw ParameterStatus messages to pass on to the client. */
  parameterStatus: Buffer[]
  /** The server's cancel key, used when the client cancels through the gateway (absent if the server sent none). */
  backendKey?: { processId: number; secretKey: Buffer }
}

/** Why the upstream connection failed, safe to log (never contains a secret). */
export class UpstreamError extends Error {}

const CONNECT_TIMEOUT_MS = 10_000

function once(socket: Socket, reader: { feed(chunk: Buffer): boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new UpstreamError('the database did not answer in time')), CONNECT_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      try {
        if (reader.feed(chunk)) done()
      } catch (err) {
        fail(err as Error)
      }
    }
    const onClose = () => fail(new UpstreamError('the database closed the connection'))
    const onError = (err: Error) => fail(new UpstreamError(`connection failed: ${err.message}`))
    function cleanup() {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      socket.off('error', onError)
    }
    function done() {
      cleanup()
      socket.pause()
      resolve()
    }
    function fail(err: Error) {
      cleanup()
      socket.destroy()
      reject(err)
    }
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.once('error', onError)
    socket.resume()
  })
}

function openTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host, port })
    const timer = setTimeout(() => (socket.destroy(), reject(new UpstreamError('connection timed out'))), CONNECT_TIMEOUT_MS)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.setNoDelay(true)
      socket.off('error', onError)
      resolve(socket)
    })
    const onError = (err: Error) => {
      clearTimeout(timer)
      reject(new UpstreamError(`connection failed: ${err.message}`))
    }
    socket.once('error', onError)
  })
}

async function startTls(socket: Socket, resource: NonNullable<BundleResource['postgres']>, env: NodeJS.ProcessEnv): Promise<Socket | TLSSocket> {
  socket.write(buildSSLRequest())
  const answer = { response: 'N' as 'S' | 'N' | 'G' | 'E' }
  await once(socket, {
    feed(chunk) {
      answer.response = readEncryptionResponse(chunk).response
      return true
    },
  })
  if (answer.response !== 'S') throw new UpstreamError('the database does not offer TLS, which the resource requires')
  const ca = resource.tls.ca ? await readSecret(resource.tls.ca, env) : undefined
  return new Promise((resolve, reject) => {
    const serverName = resource.tls.serverName ?? resource.host
    const tls = connectTls({
      socket,
      // `host` is what the certificate is checked against; SNI carries names only, never addresses.
      host: serverName,
      ...(isIP(serverName) ? {} : { servername: serverName }),
      rejectUnauthorized: resource.tls.mode === 'verify-full',
      ...(ca ? { ca } : {}),
    })
    const timer = setTimeout(() => (tls.destroy(), reject(new UpstreamError('TLS handshake timed out'))), CONNECT_TIMEOUT_MS)
    tls.once('secureConnect', () => {
      clearTimeout(timer)
      tls.off('error', onError)
      tls.pause()
      resolve(tls)
    })
    const onError = (err: Error) => {
      clearTimeout(timer)
      reject(new UpstreamError(`TLS failed: ${err.message}`))
    }
    tls.once('error', onError)
  })
}

function md5Hex(text: string | Buffer): string {
  return createHash('md5').update(text).digest('hex')
}

export interface UpstreamOptions {
  /** Startup parameters passed through from the client (already sanitised). */
  parameters: Record<string, string>
  env?: NodeJS.ProcessEnv
}

export async function connectUpstream(resource: BundleResource, options: UpstreamOptions): Promise<Upstream> {
  const connection = resource.postgres
  if (!connection) throw new UpstreamError('not a PostgreSQL resource')
  const env = options.env ?? process.env
  const password = connection.password ? await readSecret(connection.password, env) : undefined
  let socket: Socket | TLSSocket = await openTcp(connection.host, connection.port)
  try {
    if (connection.tls.mode !== 'disable') socket = await startTls(socket, connection, env)
    const reader = createBackendReader({ maxMessageBytes: MAX_UPSTREAM_MESSAGE_BYTES })
    socket.write(buildStartupMessage({ ...options.parameters, user: connection.user, database: connection.database, client_encoding: 'UTF8' }))
    const parameterStatus: Buffer[] = []
    let backendKey: Upstream['backendKey'] | undefined
    let scram: ReturnType<typeof createScramClient> | undefined
    const needPassword = () => {
      if (password === undefined) throw new UpstreamError('the database asks for a password but the resource has none')
      return password
    }
    const handle = (message: BackendMessage): boolean => {
      switch (message.type) {
        case 'R': {
          const auth = decodeAuthentication(message.raw)
          switch (auth.kind) {
            case 'Ok':
              return false
            case 'CleartextPassword':
              if (connection.tls.mode === 'disable') throw new UpstreamError('the database asks for a cleartext password over a connection without TLS; refusing to send it')
              socket.write(buildPasswordMessage(needPassword()))
              return false
            case 'MD5Password':
              socket.write(buildPasswordMessage('md5' + md5Hex(Buffer.concat([Buffer.from(md5Hex(needPassword() + connection.user)), auth.salt]))))
              return false
            case 'SASL':
              if (!auth.mechanisms.includes('SCRAM-SHA-256')) throw new UpstreamError(`unsupported SASL mechanisms: ${auth.mechanisms.join(', ')}`)
              scram = createScramClient(needPassword())
              socket.write(buildSaslInitialResponse('SCRAM-SHA-256', scram.clientFirst))
              return false
            case 'SASLContinue': {
              const step = scram?.final(auth.data.toString('utf8'))
              if (!step?.ok) throw new UpstreamError(`SCRAM failed: ${step?.reason ?? 'unexpected message'}`)
              socket.write(buildSaslResponse(step.value))
              return false
            }
            case 'SASLFinal': {
              const verified = scram?.verify(auth.data.toString('utf8'))
              if (!verified?.ok) throw new UpstreamError(`SCRAM failed: ${verified?.reason ?? 'unexpected message'}`)
              return false
            }
            default:
              throw new UpstreamError(`unsupported authentication method ${auth.kind}`)
          }
        }
        case 'S':
          parameterStatus.push(Buffer.from(message.raw))
          return false
        case 'K': {
          const key = decodeBackendKeyData(message.raw)
          backendKey = { processId: key.processId, secretKey: Buffer.from(key.secretKey) }
          return false
        }
        case 'N':
          return false
        case 'E': {
          const { fields } = decodeErrorOrNotice(message.raw)
          throw new UpstreamError(`the database refused the connection: ${fields.code ?? ''} ${fields.message ?? ''}`.trim())
        }
        case 'Z':
          return true
        case 'v':
          return false
        default:
          throw new UpstreamError(`unexpected message \`${message.type}\` during startup`)
      }
    }
    await once(socket, {
      feed(chunk) {
        let ready = false
        for (const message of reader.push(chunk)) if (handle(message)) ready = true
        return ready
      },
    })
    return { socket, reader, parameterStatus, ...(backendKey ? { backendKey } : {}) }
  } catch (err) {
    socket.destroy()
    throw err instanceof UpstreamError ? err : new UpstreamError((err as Error).message)
  }
}
