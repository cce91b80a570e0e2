import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { keyId } from '../../engine/bundle-integrity.js'
import { EXIT, UsageError, type Command } from '../../cli/command.js'

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 key pair for signing bundles',
  usage: `usage: gatehouse keygen -o PATH

Writes PATH (the private key, PKCS#8 PEM, mode 0600) and PATH.pub (the
public key the gateway verifies bundles with).

options:
  -o, --output PATH  where to write the private key`,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { output: { type: 'string', short: 'o' } } })
    if (!values.output) throw new UsageError('missing -o/--output')
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    // `wx`: never overwrite an existing key.
    await writeFile(values.output, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
    await writeFile(`${values.output}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' })
    io.err(`wrote ${values.output} and ${values.output}.pub (key id ${keyId(publicKey)})`)
    return EXIT.ok
  },
}
