import { parseArgs } from 'node:util'
import { Document } from 'yaml'
import { generateToken, scramVerifier, tokenDigest } from '../credentials.js'
import { EXIT, UsageError, type Command } from '../../cli/command.js'

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/
const OWNER = /^@[A-Za-z0-9][A-Za-z0-9-]{0,38}(\/[A-Za-z0-9._-]{1,100})?$/

export const identityCommand: Command = {
  name: 'identity',
  summary: 'create a new identity with a fresh gateway token',
  usage: `usage: gatehouse identity new NAME --owner @LOGIN|@ORG/TEAM [--expires YYYY-MM-DD] [--role ROLE]...

Creates a gateway token, prints it once, and prints the Identity YAML to
commit (it holds only verifiers of the token, never the token itself).
The token goes to standard error, the YAML to standard output, so
\`gatehouse identity new ci-deploy --owner @acme/platform > identities/ci-deploy.yaml\`
keeps the token out of the file.

options:
  --owner OWNER      the accountable GitHub user or team (required)
  --expires DATE     when the identity stops working
  --role ROLE        a role to grant; repeatable
  --description TEXT what the identity is for`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        owner: { type: 'string' },
        expires: { type: 'string' },
        role: { type: 'string', multiple: true },
        description: { type: 'string' },
      },
      allowPositionals: true,
    })
    const [verb, name] = positionals
    if (verb !== 'new' || !name || positionals.length > 2) throw new UsageError('expected `identity new NAME`')
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
      credentials: { token: { scram: scramVerifier(token), sha256: tokenDigest(token) } },
    })
    io.err(`token for ${name} (shown once; store it in your CI secret store, never in the repository):\n\n  ${token}\n`)
    io.out(doc.toString({ lineWidth: 0 }))
    return EXIT.ok
  },
}
