import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Document } from 'yaml'
import { containsIdentity, CredentialEditError, rotateSshKey, rotateToken } from '../credential-edit.js'
import { generateToken, scramVerifier, tokenDigest } from '../credentials.js'
import { loadDirectory } from '../load.js'
import { durationSeconds } from '../resolve.js'
import { EXIT, UsageError, type Command, type Io } from '../../cli/command.js'

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/
const OWNER = /^@[A-Za-z0-9][A-Za-z0-9-]{0,38}(\/[A-Za-z0-9._-]{1,100})?$/

export const identityCommand: Command = {
  name: 'identity',
  summary: 'create a new identity with a fresh gateway token, or rotate one',
  usage: `usage: gatehouse identity new NAME --owner @LOGIN|@ORG/TEAM [--expires YYYY-MM-DD] [--role ROLE]...
       gatehouse identity rotate NAME --grace DURATION [--repo DIR] [--ssh-key FILE.pub]

Creates a gateway token, prints it once, and prints the Identity YAML to
commit (it holds only verifiers of the token, never the token itself).
The token goes to standard error, the YAML to standard output, so
\`gatehouse identity new ci-deploy --owner @acme/platform > identities/ci-deploy.yaml\`
keeps the token out of the file.

\`identity rotate\` makes a new token and prints it once on standard output
(pipe it into your CI secret store); it edits the identity's file in place,
keeping comments, to add the new token's verifier and give the old one a
\`notAfter\` of now + DURATION (\`7d\`, \`12h\`, \`30m\`). Both tokens work until
then, only the new one after. With --ssh-key, it adds that public key instead
and gives the identity's other keys the same \`notAfter\`.

options:
  --owner OWNER      the accountable GitHub user or team (required)
  --expires DATE     when the identity stops working
  --role ROLE        a role to grant; repeatable
  --description TEXT what the identity is for
  --grace DURATION   how long the old credential keeps working (rotate)
  --repo DIR         the policy repository (rotate; default .)
  --ssh-key FILE     rotate to this OpenSSH public key rather than a token`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        owner: { type: 'string' },
        expires: { type: 'string' },
        role: { type: 'string', multiple: true },
        description: { type: 'string' },
        grace: { type: 'string' },
        repo: { type: 'string' },
        'ssh-key': { type: 'string' },
      },
      allowPositionals: true,
    })
    const [verb, name] = positionals
    if (verb === 'rotate' && name && positionals.length === 2) return rotate(name, values, io)
    if (verb !== 'new' || !name || positionals.length > 2) throw new UsageError('expected `identity new NAME` or `identity rotate NAME`')
    if (!NAME.test(name)) throw new UsageError(`\`${name}\` is not a valid name: lower-case letters, digits, \`.\`, \`_\`, \`-\``)
    if (!values.owner || !OWNER.test(values.owner)) throw new UsageError('--owner must be a GitHub user (@login) or team (@org/team)')
    if (values.expires !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(values.expires)) throw new UsageError('--expires must be YYYY-MM-DD')
    const roles = values.role ?? []
    for (const role of roles) if (!NAME.test(role)) throw new UsageError(`\`${role}\` is not a valid role name`)

    const token = generateToken()
    const doc = new Document({
      apiVersion: 'gatehouse.dev/v1',
      kind: 'Identity',
      name,
      description: values.description ?? `${name}, owned by ${values.owner}`,
      owner: values.owner,
      ...(values.expires ? { expires: values.expires } : {}),
      roles,
      // `created` lets the stale sweep tell when the token is due for rotation.
      credentials: { token: { scram: scramVerifier(token), sha256: tokenDigest(token), created: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') } },
    })
    io.err(`token for ${name} (shown once; store it in your CI secret store, never in the repository):\n\n  ${token}\n`)
    io.out(doc.toString({ lineWidth: 0 }))
    return EXIT.ok
  },
}

async function rotate(name: string, options: { grace?: string | undefined; repo?: string | undefined; 'ssh-key'?: string | undefined }, io: Io): Promise<number> {
  if (!options.grace || !/^\d{1,4}[smhd]$/.test(options.grace)) throw new UsageError('--grace must be a duration such as 7d, 12h or 30m')
  const grace = durationSeconds(options.grace)
  const dir = options.repo ?? '.'
  const repo = await loadDirectory(dir)
  const files = repo.files.filter((f) => containsIdentity(f.text, name))
  if (files.length !== 1) {
    io.err(files.length === 0 ? `no identity \`${name}\` in ${dir}` : `identity \`${name}\` is defined in ${files.length} files: ${files.map((f) => f.path).join(', ')}`)
    return EXIT.findings
  }
  const file = files[0]!
  const now = new Date()
  try {
    if (options['ssh-key']) {
      const key = (await readFile(options['ssh-key'], 'utf8')).trim()
      const rotated = rotateSshKey(file.text, name, key, now, grace)
      await writeFile(path.join(dir, file.path), rotated.text)
      io.err(`${file.path}: added the new SSH key of ${name}; its other keys work until ${rotated.notAfter}`)
      return EXIT.ok
    }
    const rotated = rotateToken(file.text, name, now, grace)
    await writeFile(path.join(dir, file.path), rotated.text)
    io.err(`${file.path}: ${name} has a new token (shown once, on standard output); the old one works until ${rotated.notAfter}. Commit the change, and put the new token where the old one was used.`)
    io.out(rotated.token)
    return EXIT.ok
  } catch (err) {
    if (!(err instanceof CredentialEditError)) throw err
    io.err(err.message)
    return EXIT.findings
  }
}
