// bot.yaml: secrets are references that must resolve, settings are checked,
// misspelt keys are errors, and the defaults are the safe ones.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, parseConfig } from '../../bot/config.js'

const env = { SECRET_A: 'a'.repeat(20), SECRET_B: 'b'.repeat(20), GH_TOKEN: 'ghp_example' }
const BASE = 'store: .gatehouse/store\npolicyRepo: acme/policies\ngithub: {token: {env: GH_TOKEN}}\nwebhook: {secrets: [{env: SECRET_A}]}\n'

test('a minimal configuration gets safe defaults', () => {
  const config = parseConfig(BASE, env)
  assert.deepEqual(config.webhook.secrets, ['a'.repeat(20)])
  assert.equal(config.listen.host, '127.0.0.1')
  assert.equal(config.github.baseUrl, 'https://api.github.com')
  assert.deepEqual(config.approvalsRepo, { owner: 'acme', name: 'policies' })
  assert.equal(config.approvals.forbidOwner, false)
  assert.equal(config.sweep.everySeconds, undefined)
  assert.deepEqual([config.sweep.freshnessSeconds, config.sweep.graceSeconds], [86_400, 604_800], 'a day of freshness, a week of grace')
  assert.equal(config.worker.concurrency, 4)
})

test('two secrets during a rotation, durations, and an App', () => {
  const text = BASE.replace('[{env: SECRET_A}]', '[{env: SECRET_A}, {env: SECRET_B}]').replace('github: {token: {env: GH_TOKEN}}', 'github: {app: {id: 1, installationId: 2, privateKey: {env: GH_TOKEN}}, baseUrl: "http://127.0.0.1:9/api/"}') + 'sweep: {every: 1d, maxPullRequests: 3, freshness: 12h, grace: 3d}\napprovals: {poll: 30s}\n'
  const config = parseConfig(text, env)
  assert.equal(config.webhook.secrets.length, 2)
  assert.equal(config.github.auth.kind, 'app')
  assert.equal(config.github.baseUrl, 'http://127.0.0.1:9/api')
  assert.equal(config.sweep.everySeconds, 86_400)
  assert.deepEqual([config.sweep.freshnessSeconds, config.sweep.graceSeconds], [43_200, 259_200])
  assert.equal(config.approvals.pollSeconds, 30)
})

test('what is wrong is an error that names the setting', () => {
  const wrong: Array<[string, RegExp]> = [
    [BASE.replace('webhook: {secrets: [{env: SECRET_A}]}\n', ''), /webhook\.secrets` is required/],
    [BASE.replace('[{env: SECRET_A}]', '[]'), /webhook\.secrets` is required/],
    [BASE.replace('[{env: SECRET_A}]', '[{env: SECRET_A}, {env: SECRET_A}, {env: SECRET_A}]'), /two while rotating/],
    [BASE.replace('[{env: SECRET_A}]', '["inline-secret-value-here"]'), /must be \{env: NAME\} or \{file: PATH\}/],
    [BASE.replace('[{env: SECRET_A}]', '[{file: /nonexistent/secret}]'), /cannot read `\/nonexistent\/secret`/],
    [BASE.replace('SECRET_A', 'MISSING'), /`MISSING` is not set/],
    [BASE.replace('github: {token: {env: GH_TOKEN}}', 'github: {}'), /github\.app` or `github\.token` is required/],
    [BASE + 'sweep: {evry: 1d}\n', /unknown setting `evry` in `sweep`/],
    [BASE + 'extra: 1\n', /unknown setting `extra`/],
    [BASE.replace('acme/policies', 'not a repo'), /policyRepo` must be `owner\/name`/],
    [BASE + 'sweep: {every: soon}\n', /sweep\.every` must be like 30s/],
    [BASE + 'listen: {port: 70000}\n', /listen\.port` must be an integer/],
    ['store: [', /not valid YAML/],
  ]
  for (const [text, message] of wrong) {
    assert.throws(() => parseConfig(text, env), (err: unknown) => err instanceof ConfigError && message.test((err as Error).message), text)
  }
})
