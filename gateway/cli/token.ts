import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { decodeJwt } from 'jose'
import { EXIT, UsageError, type Command } from '../../cli/command.js'
import { looksLikeJwt } from '../oidc/verify.js'
import { partFor } from '../ssh/token-prompts.js'

export const tokenCommand: Command = {
  name: 'token',
  summary: 'print a workload identity token for the gateway',
  usage: `usage: gatehouse token --audience AUDIENCE [--file PATH]
       gatehouse token --askpass PROMPT [--file PATH]

Prints a workload identity token (an OIDC JWT) to log in to the gateway
with, so a job needs no stored secret:

  inside GitHub Actions  asks GitHub for the job's token with this audience
                         (the job needs \`permissions: id-token: write\`)
  --file PATH            reads a token from a file, e.g. a Kubernetes
                         projected service-account token

  PGPASSWORD=$(gatehouse token --audience gatehouse) psql "host=gateway sslmode=verify-full ..."

--askpass PROMPT answers one prompt of the gateway's SSH keyboard-interactive
login with the part of the token it asks for; the token comes from
$GATEHOUSE_TOKEN (or --file), so every prompt gets a part of the same token:

  export GATEHOUSE_TOKEN=$(gatehouse token --audience gatehouse)
  SSH_ASKPASS=/path/to/script SSH_ASKPASS_REQUIRE=force ssh -o PreferredAuthentications=keyboard-interactive web-1@gateway ...
  (the script: exec gatehouse token --askpass "$1")

options:
  --audience AUD   the audience the gateway's binding expects (required without --askpass)
  --file PATH      read the token from this file
  --askpass PROMPT print the part of the token this SSH prompt asks for`,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { audience: { type: 'string' }, file: { type: 'string' }, askpass: { type: 'string' } } })
    if (values.askpass !== undefined) {
      const token = values.file ? await readToken(values.file) : process.env.GATEHOUSE_TOKEN?.trim()
      if (!token) throw new UsageError('--askpass needs the token in $GATEHOUSE_TOKEN or --file')
      io.out(partFor(token, values.askpass))
      return EXIT.ok
    }
    const audience = values.audience
    if (!audience) throw new UsageError('missing --audience')
    const token = values.file ? await readToken(values.file) : await githubActionsToken(audience)
    if (!looksLikeJwt(token)) return fail(io, `${values.file ?? 'GitHub'} did not give a JWT`)
    const aud = decodeJwt(token).aud
    if (!(Array.isArray(aud) ? aud : [aud]).includes(audience)) return fail(io, `the token is for audience ${JSON.stringify(aud)}, not \`${audience}\``)
    io.out(token)
    return EXIT.ok
  },
}

function fail(io: { err(text: string): void }, message: string): number {
  io.err(`gatehouse token: ${message}`)
  return EXIT.findings
}

async function readToken(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim()
}

/**
 * GitHub Actions' OIDC token request: the runner gives the job a URL and a
 * bearer token when the job may ask for an ID token (`id-token: write`).
 */
async function githubActionsToken(audience: string): Promise<string> {
  const url = process.env.ACTIONS_ID_TOKEN_REQUEST_URL
  const bearer = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
  if (!url || !bearer) throw new UsageError('not inside a GitHub Actions job that may request an ID token (give the job `permissions: id-token: write`), and no --file given')
  const target = new URL(url)
  target.searchParams.set('audience', audience)
  const response = await fetch(target, { headers: { authorization: `bearer ${bearer}`, accept: 'application/json; api-version=2.0' }, signal: AbortSignal.timeout(15_000) })
  if (!response.ok) throw new Error(`GitHub refused the token request: HTTP ${response.status}`)
  const body = (await response.json()) as { value?: unknown }
  if (typeof body.value !== 'string') throw new Error('GitHub answered the token request without a token')
  return body.value
}
