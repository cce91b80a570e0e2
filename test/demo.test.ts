// `npm start` runs `gatehouse demo`: this runs it and pastes every command it
// prints into a shell, as a first-time user would, and checks each shows what
// the demo says it shows.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { ROOT } from './helpers/repo.js'
import { postgresFromEnv } from './services/env.js'

interface Shell {
  status: number | null
  stdout: string
  stderr: string
}

const env = { ...process.env, PATH: `${postgresFromEnv().binDir}:${process.env.PATH}` }
let demo: ChildProcess
let printed = ''

function paste(command: string): Promise<Shell> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

/** The command printed on the line after the one containing `heading`. */
function commandAfter(heading: string, offset = 1): string {
  const lines = printed.split('\n')
  const at = lines.findIndex((line) => line.includes(heading))
  assert.ok(at >= 0, `the demo prints "${heading}"`)
  return lines[at + offset]!.trim()
}

before(async () => {
  demo = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  demo.stderr!.on('data', (chunk: Buffer) => (stderr += chunk))
  await new Promise<void>((resolve, reject) => {
    demo.stdout!.on('data', (chunk: Buffer) => {
      printed += chunk
      if (printed.includes('Press Ctrl-C to stop.')) resolve()
    })
    demo.once('exit', (code) => reject(new Error(`the demo exited with ${code}: ${stderr}`)))
  })
})

after(async () => {
  const exited = new Promise((resolve) => demo.once('exit', resolve))
  demo.kill('SIGINT')
  await exited
})

test('the allowed query returns rows', async () => {
  const result = await paste(commandAfter('An allowed query'))
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stdout, /shipped/)
})

test('the denied statement is refused with the reason and a hint', async () => {
  const result = await paste(commandAfter('A denied one'))
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, /permission denied by gatehouse/)
  assert.match(result.stderr, /gatehouse\.permissions/)
})

test('the masked result hides e-mail addresses, phones and card numbers', async () => {
  const result = await paste(commandAfter('A masked result'))
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stdout, /a\*\*\*@example\.com/)
  assert.match(result.stdout, /\[redacted:credit-card\]/)
  assert.doesNotMatch(result.stdout, /ada@example\.com/i)
})

test('the held schema change runs once it is approved with the printed commands', async () => {
  const held = paste(commandAfter('An approval hold'))
  let id: string | undefined
  for (let attempt = 0; attempt < 50 && !id; attempt++) {
    const list = await paste(commandAfter('An approval hold', 2))
    assert.equal(list.status, 0, list.stderr)
    id = /^(apr_\S+)\s+PENDING/m.exec(list.stdout)?.[1]
    if (!id) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.ok(id, 'the hold is listed as pending')
  const approve = await paste(commandAfter('An approval hold', 3).replace('<ID>', id))
  assert.equal(approve.status, 0, approve.stderr)
  const result = await held
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stderr, new RegExp(id))
  assert.match(result.stdout, /ALTER TABLE/)
})

test('gatehouse.permissions lists the rules in force', async () => {
  const result = await paste(commandAfter('What may I do here?'))
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stdout, /orders-deploy\/maintain-orders/)
})

test('the audit trail shows the session', async () => {
  const line = printed.split('\n').find((l) => l.startsWith('The audit trail: '))
  assert.ok(line)
  const result = await paste(line.slice('The audit trail: '.length))
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stdout, /orders-reporting/)
})
