import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { keyId } from '../../engine/bundle-integrity.js'
import { EXIT, UsageError, type Command } from '../../cli/command.js'

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 key pair for signing bundles',
  usage: `usage: gatehouse keygen -o PATH

Writes PATH (the private key, PKCS#8 PEM, mode 0600) and PATH.pub (the
public key the gateway verifies bundles with). Refuses to write the private
key into a Git work tree where it is not ignored: \`git add -A\` would
commit it.

options:
  -o, --output PATH  where to write the private key`,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { output: { type: 'string', short: 'o' } } })
    if (!values.output) throw new UsageError('missing -o/--output')
    const exposure = committableIn(values.output)
    if (exposure) {
      io.err(
        `gatehouse keygen: refusing to write a private key to ${values.output}: it is inside the Git work tree at ${exposure.root} and not ignored, so \`git add -A\` would commit it\n` +
          `help: write it outside the repository (e.g. -o ~/.config/gatehouse/signing-key), or ignore it first: echo '/${exposure.relative}' >> ${path.join(exposure.root, '.gitignore')}`,
      )
      return EXIT.findings
    }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    // `wx`: never overwrite an existing key.
    await writeFile(values.output, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
    await writeFile(`${values.output}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' })
    io.err(`wrote ${values.output} and ${values.output}.pub (key id ${keyId(publicKey)})`)
    return EXIT.ok
  },
}

/** The work tree a file would be committed from, if it is in one and Git does not ignore it. */
function committableIn(file: string): { root: string; relative: string } | undefined {
  const dir = path.dirname(path.resolve(file))
  const git = (...args: string[]) => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const top = git('rev-parse', '--show-toplevel')
  // Not in a work tree (or no Git at all): nothing would commit the key.
  if (top.status !== 0 || top.error) return undefined
  // `check-ignore` exits 0 when the path is ignored, 1 when it is not.
  if (git('check-ignore', '-q', '--', path.resolve(file)).status === 0) return undefined
  const root = top.stdout.trim()
  return { root, relative: path.relative(root, path.resolve(file)).split(path.sep).join('/') }
}
