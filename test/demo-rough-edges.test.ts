// The demo on a machine that is not set up for it: its port already taken
// (6432 is PgBouncer's default too), or no psql to paste the commands into.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { ROOT } from './helpers/repo.js'
import { postgresFromEnv } from './services/env.js'
import { freePort } from './services/ports.js'

const GATEHOUSE = path.join(ROOT, 'dist', 'bin', 'gatehouse.js')
const noTools = mkdtempSync(path.join(tmpdir(), 'gatehouse-empty-path-'))
after(() => rmSync(noTools, { recursive: true, force: true }))

function occupy(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(undefined))
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

/** Runs the demo until it is ready (then stops it) or exits; what it printed. */
function runDemo(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ready: boolean; status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GATEHOUSE, 'demo', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let ready = false
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
      if (!ready && stdout.includes('Press Ctrl-C to stop.')) {
        ready = true
        child.kill('SIGINT')
      }
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('close', (status) => resolve({ ready, status, stdout, stderr }))
  })
}

test('a port given with --port that is taken stops the demo with one line naming the option', async () => {
  const port = await freePort()
  const server = await occupy(port)
  try {
    const result = await runDemo(['--port', String(port)])
    assert.equal(result.ready, false)
    assert.equal(result.status, 2)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    assert.match(result.stderr, new RegExp(`port ${port} is in use; choose another with --port`))
  } finally {
    server?.close()
  }
})

test('when 6432 is taken the demo runs on a free port and says so', async () => {
  // Ours, or already someone else's: taken either way.
  const server = await occupy(6432)
  try {
    const result = await runDemo([], { ...process.env, PATH: `${postgresFromEnv().binDir}:${process.env.PATH}` })
    assert.ok(result.ready, result.stderr)
    assert.doesNotMatch(result.stdout, /is not on your PATH/, 'psql is there: no install advice')
    const port = Number(/listens on 127\.0\.0\.1:(\d+)/.exec(result.stdout)?.[1])
    assert.ok(port > 0 && port !== 6432, result.stdout)
    assert.match(result.stdout, /port 6432 is taken/)
    assert.match(result.stdout, new RegExp(`psql "host=127\\.0\\.0\\.1 port=${port} `))
  } finally {
    server?.close()
  }
})

test('without psql on the PATH the demo says how to install it', async () => {
  const result = await runDemo(['--port', '0'], { ...process.env, PATH: noTools })
  assert.ok(result.ready, result.stderr)
  assert.match(result.stdout, /psql \(the PostgreSQL client\) is not on your PATH/)
  assert.match(result.stdout, /apt-get install postgresql-client/)
})

test('a --port that is not a port number is a usage error', async () => {
  const result = await runDemo(['--port', '65536'])
  assert.equal(result.status, 2)
  assert.match(result.stderr, /--port must be a port number/)
})
