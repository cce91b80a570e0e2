// The gateway's own SSH host key: made on first start (Ed25519) and kept in
// the data directory, readable by the gateway's user only, so clients can pin
// it across restarts.
import { Buffer } from 'node:buffer'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
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
    privateKey = newEd25519Key('gatehouse gateway')
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

/**
 * A new Ed25519 key in OpenSSH's private key format (PROTOCOL.key), unencrypted.
 * Written here rather than taken from ssh2's generator, which drops a leading
 * zero byte of the public key about once in 250 keys and so writes a key that
 * neither ssh2 nor OpenSSH can read back.
 */
export function newEd25519Key(comment: string): string {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const seed = Buffer.from(jwk.d!, 'base64url')
  const pub = Buffer.from(jwk.x!, 'base64url')
  const publicBlob = sshStrings('ssh-ed25519', pub)
  const check = randomBytes(4)
  const secret = Buffer.concat([check, check, sshStrings('ssh-ed25519', pub, Buffer.concat([seed, pub]), comment)])
  const padding = Buffer.from([1, 2, 3, 4, 5, 6, 7].slice(0, (8 - (secret.length % 8)) % 8))
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshStrings('none', 'none', ''), // cipher, key derivation, its options
    Buffer.from([0, 0, 0, 1]), // one key
    sshStrings(publicBlob, Buffer.concat([secret, padding])),
  ])
  const lines = body.toString('base64').match(/.{1,70}/g)!
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n')
}

/** SSH wire `string`s: each a 32-bit big-endian length followed by the bytes. */
function sshStrings(...values: Array<string | Buffer>): Buffer {
  return Buffer.concat(values.flatMap((value) => {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    return [length, bytes]
  }))
}
