// A bounded HTTPS GET for an issuer's discovery document and key set: HTTPS
// only, no redirects, a deadline, and a cap on the body, since the answer
// comes from outside and is read before anything about it is trusted.
import { Buffer } from 'node:buffer'
import { request } from 'node:https'
import { rootCertificates } from 'node:tls'

export interface HttpsJsonOptions {
  /** Extra certificate authorities (PEM) trusted besides the system's. */
  ca?: string
  timeoutMs?: number
  maxBytes?: number
}

export class FetchError extends Error {}

export function getHttpsJson(url: string, options: HttpsJsonOptions = {}): Promise<unknown> {
  const target = new URL(url)
  if (target.protocol !== 'https:') return Promise.reject(new FetchError(`${url} is not an https URL`))
  const maxBytes = options.maxBytes ?? 512 * 1024
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: 'GET', headers: { accept: 'application/json' }, ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}) },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          return reject(new FetchError(`${url} answered ${res.statusCode}`))
        }
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > maxBytes) {
            req.destroy(new FetchError(`${url} sent more than ${maxBytes} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
          } catch {
            reject(new FetchError(`${url} did not send JSON`))
          }
        })
        res.on('error', reject)
      },
    )
    // One deadline for the whole exchange: a server sending a byte now and then must not hold the fetch open.
    const deadline = setTimeout(() => req.destroy(new FetchError(`${url} did not answer in time`)), options.timeoutMs ?? 5000)
    deadline.unref()
    req.on('close', () => clearTimeout(deadline))
    req.on('error', reject)
    req.end()
  })
}
