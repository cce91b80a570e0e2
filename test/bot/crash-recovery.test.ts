// The real `gatehouse bot` process, killed with SIGKILL while it evaluates a
// pull request (a `/hold` queued behind that delivery), and started
// again with its default lease: within 30 s of the restart the pull request's
// status and comment are brought up to date and the hold is counted, each
// once.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { signPayload } from '../../bot/webhook/verify.js'
import { FakeGitHub } from '../fake-github/server.js'
import { ROOT } from '../helpers/repo.js'
import { BACKENDS } from '../store/backends.js'
import { commentPayload, policyComment, processFixture, pullRequestPayload, SECRET } from './helpers.js'

const TOKEN = 'ghp_crashtoken00000000000'

function startBot(configFile: string): { child: ChildProcess; port: Promise<number>; exited: Promise<string>; stderr(): string } {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), 'bot', '--config', configFile], {
    env: { ...process.env, BOT_WEBHOOK_SECRET: SECRET, BOT_GITHUB_TOKEN: TOKEN },
  })
  let stderr = ''
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`${code} ${signal}`)))
  const port = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr)
      if (match) resolve(Number(match[1]))
    })
    void exited.then((how) => reject(new Error(`the bot exited (${how}) before listening: ${stderr}`)))
  })
  return { child, port, exited, stderr: () => stderr }
}

async function post(port: number, event: string, id: string, payload: unknown): Promise<number> {
  const body = Buffer.from(JSON.stringify(payload))
  const headers = { 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': signPayload(SECRET, body) }
  return (await fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', headers, body })).status
}

test('a bot killed mid-delivery catches up within 30 s of its restart, without duplicates', async () => {
  const postgres = BACKENDS.find((b) => b.name === 'postgres')!
  const store = await postgres.open()
  const github = new FakeGitHub()
  await github.start()
  const fixture = processFixture(github, TOKEN, { security: ['alice'], platform: ['paula'] }, store.location)
  const { repo, number } = fixture
  github.setOrgMembers('acme', ['alice', 'paula', 'eve'])
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bot-crash-'))
  const config = path.join(dir, 'bot.yaml')
  // The default lease (the fixture sets none) is what is tested.
  writeFileSync(config, fixture.config)
  let bot = startBot(config)
  try {
    // The evaluation stops at the compare call; the bot is killed there, holding the delivery.
    const gate = github.hold(/\/compare\//)
    assert.equal(await post(await bot.port, 'pull_request', 'crash-opened', pullRequestPayload(repo, number)), 202)
    await gate.reached
    // A hold: an approval written now would predate the evaluation it is for, and be refused as such.
    const hold = repo.addComment(number, 'alice', '/hold')
    assert.equal(await post(await bot.port, 'issue_comment', 'crash-comment', commentPayload(repo, number, hold)), 202)
    bot.child.kill('SIGKILL')
    assert.equal(await bot.exited, 'null SIGKILL')
    gate.release()
    const [running] = await store.db.query<{ status: string }>(`SELECT status FROM gatehouse.bot_deliveries WHERE id = 'crash-opened'`)
    assert.equal(running!.status, 'running', 'the killed process left its delivery leased')

    bot = startBot(config)
    await bot.port
    const restarted = Date.now()
    const deliveries = () => store.db.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM gatehouse.bot_deliveries ORDER BY id`)
    while (Date.now() - restarted < 30_000 && !(await deliveries()).every((d) => d.status === 'done')) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.ok(Date.now() - restarted < 30_000, `caught up in ${Date.now() - restarted} ms: ${bot.stderr()}`)
    assert.deepEqual((await deliveries()).map((r) => [r.id, r.status, r.attempts]), [['crash-comment', 'done', 1], ['crash-opened', 'done', 2]])
    assert.equal(repo.statuses.length, 2, 'one status for the evaluation, one for the hold')
    assert.deepEqual(hold.reactions, ['+1'], 'the comment queued behind the killed delivery was counted, once')
    assert.equal(policyComment(repo, number).length, 1, 'one policy comment')
    assert.match(policyComment(repo, number)[0]!.body, /On hold by @alice/)
    assert.match(repo.statuses.at(-1)!.description, /on hold by @alice/)
    assert.ok(repo.statuses.every((s) => s.sha === repo.git.resolve('change') && s.context === 'gatehouse/policy: main'))
    bot.child.kill('SIGTERM')
    assert.equal(await bot.exited, '0 null', bot.stderr())
  } finally {
    if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL')
    await github.close()
    await store.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
})
