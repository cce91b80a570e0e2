// The real `gatehouse bot` executable: it refuses to start without a webhook
// secret, and, run against the PostgreSQL server the test command started and
// a personal access token, it serves a signed delivery end to end (commit
// status and comment), recognises the redelivery, and stops cleanly on SIGTERM.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { BACKENDS } from '../store/backends.js'
import { gatehouse, gatehouseAsync } from '../helpers/cli.js'
import { ROOT } from '../helpers/repo.js'
import { signPayload } from '../../bot/webhook/verify.js'
import { FakeGitHub } from '../fake-github/server.js'
import { policyComment, processFixture, pullRequestPayload, SECRET } from './helpers.js'

function configFile(text: string): { file: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bot-config-'))
  const file = path.join(dir, 'bot.yaml')
  writeFileSync(file, text)
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

test('the bot refuses to start without a usable webhook secret, in one line', () => {
  const missing = configFile('store: /nonexistent\npolicyRepo: acme/policies\ngithub: {token: {env: GH_TOKEN}}\n')
  const unset = configFile('store: /nonexistent\npolicyRepo: acme/policies\ngithub: {token: {env: GH_TOKEN}}\nwebhook: {secrets: [{env: GATEHOUSE_UNSET_SECRET}]}\n')
  const short = configFile('store: /nonexistent\npolicyRepo: acme/policies\ngithub: {token: {env: GH_TOKEN}}\nwebhook: {secrets: [{env: SHORT_SECRET}]}\n')
  try {
    const env = { GH_TOKEN: 'ghp_x', SHORT_SECRET: 'short', GATEHOUSE_UNSET_SECRET: '' }
    const results = [missing, unset, short].map((c) => gatehouse(['bot', '--config', c.file], { env }))
    for (const r of results) {
      assert.equal(r.status, 2)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.doesNotMatch(r.stderr, /\n\s+at /)
    }
    assert.match(results[0]!.stderr, /webhook\.secrets` is required/)
    assert.match(results[1]!.stderr, /GATEHOUSE_UNSET_SECRET` is not set/)
    assert.match(results[2]!.stderr, /at least 16 characters/)
  } finally {
    for (const c of [missing, unset, short]) c.cleanup()
  }
})

test('the bot process serves a signed delivery against a PostgreSQL store with a token', async () => {
  const postgres = BACKENDS.find((b) => b.name === 'postgres')!
  const store = await postgres.open()
  await store.db.close()
  const github = new FakeGitHub()
  await github.start()
  const fixture = processFixture(github, 'ghp_clitoken000000000000', { platform: ['paula'], data: ['dora'] }, store.location)
  const { repo, number } = fixture
  github.setOrgMembers('acme', ['paula', 'dora', 'dana'])
  const config = configFile(fixture.config)
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), 'bot', '--config', config.file], {
    env: { ...process.env, BOT_WEBHOOK_SECRET: SECRET, BOT_GITHUB_TOKEN: 'ghp_clitoken000000000000' },
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`${code} ${signal}`)))
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bot did not start: ${stderr}`)), 20_000)
      child.stderr.on('data', () => {
        const match = /listening on 127\.0\.0\.1:(\d+) as gatehouse-cli/.exec(stderr)
        if (match) (clearTimeout(timer), resolve(Number(match[1])))
      })
    })
    const body = Buffer.from(JSON.stringify(pullRequestPayload(repo, number)))
    const headers = { 'x-github-event': 'pull_request', 'x-github-delivery': 'cli-delivery-1', 'x-hub-signature-256': signPayload(SECRET, body) }
    assert.equal((await fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', headers, body })).status, 202)
    const deadline = Date.now() + 20_000
    while (repo.statuses.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(repo.statuses.length, 1, stderr)
    assert.deepEqual({ ...repo.statuses[0], description: undefined }, { sha: repo.git.resolve('change'), state: 'failure', context: 'gatehouse/policy: main', description: undefined })
    assert.equal(policyComment(repo, number).length, 1)
    assert.equal((await fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', headers, body })).status, 200, 'the redelivery is recognised')
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)
    child.kill('SIGTERM')
    assert.equal(await exited, '0 null', stderr)
    assert.doesNotMatch(stderr, /ghp_clitoken/)

    // Not spawnSync: the fake GitHub answering the sweep runs in this process.
    const sweep = await gatehouseAsync(['bot', 'sweep', '--config', config.file, '--dry-run'], { env: { BOT_WEBHOOK_SECRET: SECRET, BOT_GITHUB_TOKEN: 'ghp_clitoken000000000000' } })
    assert.equal(sweep.status, 1, sweep.stderr)
    assert.match(sweep.stdout.trim(), /^refused: the store holds no usage records/, 'a store no gateway writes to proves nothing idle')
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    await github.close()
    await store.cleanup()
    config.cleanup()
  }
})
