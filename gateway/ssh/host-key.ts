// The gateway's own SSH host key: made on first start (Ed25519) and kept in
// the data directory, readable by the gateway's user only, so clients can pin
// it across restarts.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import ssh2 from 'ssh2'

export const HOST_KEY_FILE = 'ssh-host-key'

/** The private key (OpenSSH format) and its public line. */
export async function loadOrCreateHostKey(dataDir: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(dataDir, HOST_KEY_FILE)
  let privateKey = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (privateKey === undefined) {
    privateKey = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'gatehouse gateway' }).private
    // `wx`: two gateways starting on one data directory must not overwrite each other's key.
    await writeFile(file, privateKey, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err
      privateKey = await readFile(file, 'utf8')
    })
  }
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error(`${file} is not an SSH private key`)
  return { privateKey, publicKey: `${parsed.type} ${parsed.getPublicSSH().toString('base64')}` }
}
