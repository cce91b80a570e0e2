// A throwaway certificate authority and a server certificate signed by it, so
// clients can be tested with full verification (libpq's `verify-full`, Node's
// default `rejectUnauthorized`) rather than with verification switched off.
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runCommand } from './command.js'

export interface ServerCertificate {
  caFile: string
  certFile: string
  keyFile: string
}

/** Writes `ca.crt`, `server.crt` and `server.key` (for localhost and 127.0.0.1) into `dir`. */
export async function createServerCertificate(dir: string): Promise<ServerCertificate> {
  const file = (name: string): string => path.join(dir, name)
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await runCommand('openssl', [
    'req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '30',
    '-subj', '/CN=Gatehouse test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  await runCommand('openssl', ['req', ...key, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost'])
  // verify-full matches the host the client dialled against the subjectAltName
  // entries (RFC 6125; libpq checks IP entries since PostgreSQL 14).
  writeFileSync(
    file('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  )
  await runCommand('openssl', [
    'x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-set_serial', `0x${Date.now().toString(16)}`, '-days', '30', '-extfile', file('server.ext'), '-out', file('server.crt'),
  ])
  // Nothing signs anything else with this CA.
  for (const name of ['ca.key', 'server.csr', 'server.ext']) rmSync(file(name), { force: true })
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') }
}
