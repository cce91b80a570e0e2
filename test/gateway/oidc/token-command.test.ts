// `gatehouse token`: inside a GitHub Actions job it asks the runner's token
// service for the job's token with the audience (as GitHub documents the
// request: the request URL and bearer the runner gives a job with
// `id-token: write`), or reads a Kubernetes projected token from a file;
// `--askpass` answers the gateway's SSH prompts with parts of one token.
import assert from 'node:assert/strict'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { partPrompt, TOKEN_PARTS } from '../../../gateway/ssh/token-prompts.js'
import { gatehouseAsync } from '../../helpers/cli.js'
import { startOidcIssuer, type LocalIssuer } from '../../services/oidc-issuer.js'

let issuer: LocalIssuer
let runner: Server
let url: string
const requests: Array<{ url: string; authorization: string | undefined }> = []
before(async () => {
  issuer = await startOidcIssuer()
  // The runner's token service: answers `{value}` for the job's bearer, with the audience asked for.
  runner = createServer((req, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization })
    const audience = new URL(req.url ?? '/', 'http://runner').searchParams.get('audience') ?? 'https://github.com/acme'
    if (req.headers.authorization !== 'bearer job-request-token') return void res.writeHead(401).end()
    void issuer.githubToken({ audience }).then((value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })))
  })
  await new Promise<void>((resolve) => runner.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(runner.address() as { port: number }).port}/_apis/distributedtask/hubs/build/plans/1/jobs/2/idtoken?api-version=2.0`
})
after(async () => {
  runner?.close()
  await issuer?.close()
})

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

test('inside a GitHub Actions job, the job\'s own token is printed with the audience asked for', async () => {
  const result = await gatehouseAsync(['token', '--audience', 'gatehouse'], { env: { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'job-request-token' } })
  assert.equal(result.status, 0, result.stderr)
  const claims = claimsOf(result.stdout.trim())
  assert.equal(claims.aud, 'gatehouse')
  assert.equal(claims.repository, 'acme/orders')
  const request = requests.at(-1)!
  assert.equal(new URL(request.url, 'http://runner').searchParams.get('audience'), 'gatehouse')
  assert.equal(new URL(request.url, 'http://runner').searchParams.get('api-version'), '2.0')
})

test('outside a job that may request a token, it says what is missing and prints nothing', async () => {
  const result = await gatehouseAsync(['token', '--audience', 'gatehouse'], { env: { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' } })
  assert.equal(result.status, 2)
  assert.match(result.stderr, /id-token: write/)
  assert.equal(result.stdout, '')
  const refused = await gatehouseAsync(['token', '--audience', 'gatehouse'], { env: { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong' } })
  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr, /HTTP 401/)
})

test('a Kubernetes projected token is read from its file, and refused when it is for another audience', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-token-'))
  const file = path.join(dir, 'token')
  const token = await issuer.kubernetesToken('batch', 'nightly', 'gatehouse')
  writeFileSync(file, `${token}\n`)
  const result = await gatehouseAsync(['token', '--audience', 'gatehouse', '--file', file])
  assert.equal(result.status, 0, result.stderr)
  assert.equal(result.stdout.trim(), token)
  const other = await gatehouseAsync(['token', '--audience', 'vault', '--file', file])
  assert.equal(other.status, 1)
  assert.match(other.stderr, /for audience \["gatehouse"\], not `vault`/)
  assert.ok(!other.stderr.includes(token.split('.')[2]!), 'the token was printed in an error')
})

test('--askpass answers each prompt with its part, and the parts join into the token', async () => {
  const token = await issuer.githubToken()
  const parts: string[] = []
  for (let part = 1; part <= TOKEN_PARTS; part++) {
    const result = await gatehouseAsync(['token', '--askpass', partPrompt(part)], { env: { GATEHOUSE_TOKEN: token } })
    assert.equal(result.status, 0, result.stderr)
    assert.ok(result.stdout.length <= 1001)
    parts.push(result.stdout.replace(/\n$/, ''))
  }
  assert.equal(parts.join(''), token)
  const password = await gatehouseAsync(['token', '--askpass', "web-1@127.0.0.1's password: "], { env: { GATEHOUSE_TOKEN: token } })
  assert.equal(password.stdout.trim(), token)
})
