// Free TCP ports and readiness checks for the services.
import net from 'node:net'

/**
 * A port that was free a moment ago: the kernel picks it for a listener on
 * port 0, which is then closed. Another process may take it before the
 * service binds it, so callers retry on "address in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))))
    })
  })
}

/** The first line the server sends, or undefined if it sends nothing in time (bounded: at most 256 bytes). */
export function readGreeting(host: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    let received = ''
    const done = (line: string | undefined): void => {
      socket.destroy()
      resolve(line)
    }
    socket.setTimeout(timeoutMs, () => done(undefined))
    socket.on('error', () => done(undefined))
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\n')
      if (end >= 0) done(received.slice(0, end).replace(/\r$/, ''))
      else if (received.length > 256) done(undefined)
    })
  })
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves once something accepts connections on the port; rejects after about ten seconds. */
export function waitForPort(port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    let tries = 0
    const attempt = () => {
      const socket = net.connect({ host, port })
      socket.once('connect', () => (socket.destroy(), resolve()))
      socket.once('error', () => (socket.destroy(), ++tries > 100 ? reject(new Error(`port ${port} never opened`)) : setTimeout(attempt, 100)))
    }
    attempt()
  })
}
