// The services the test command provisions are reachable the way the
// end-to-end tests use them: PostgreSQL over TLS with full verification (pg
// and psql), sshd with the upstream key and a pinned host key.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { postgresFromEnv, sshdFromEnv } from './env.js'

const run = promisify(execFile)

describe('postgresql test server', () => {
  it('accepts pg over TLS verified against the test CA', async () => {
    const server = postgresFromEnv()
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      user: server.superuser.user,
      password: server.superuser.password,
      database: 'postgres',
      ssl: { ca: readFileSync(server.tls.caFile, 'utf8'), rejectUnauthorized: true },
    })
    await client.connect()
    try {
      const result = await client.query<{ ssl: boolean; fsync: string; max: string }>(
        `SELECT ssl, current_setting('fsync') AS fsync, current_setting('max_connections') AS max FROM pg_stat_ssl WHERE pid = pg_backend_pid()`,
      )
      assert.deepEqual(result.rows, [{ ssl: true, fsync: 'on', max: '300' }])
    } finally {
      await client.end()
    }
  })

  it('rejects a TLS client that does not trust the test CA', async () => {
    const server = postgresFromEnv()
    const client = new pg.Client({ connectionString: server.url(), ssl: { rejectUnauthorized: true } })
    await assert.rejects(client.connect(), /self[- ]signed|unable to (get|verify)/i)
  })

  it('answers psql with sslmode=verify-full', async () => {
    const server = postgresFromEnv()
    assert.equal(await server.psql(`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\nSELECT current_user`), `t\n${server.superuser.user}\n`)
  })
})

describe('sshd test server', () => {
  it('runs a command for the test user with the upstream key and a pinned host key', async () => {
    const server = sshdFromEnv()
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-known-hosts-'))
    try {
      const knownHosts = path.join(dir, 'known_hosts')
      writeFileSync(knownHosts, `${server.knownHostsLine}\n`)
      const { stdout } = await run('ssh', [
        '-i', server.clientKeyPath, '-p', String(server.port),
        '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes',
        '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
        `${server.user}@${server.host}`, 'echo ok; id -un',
      ], { timeout: 20_000 })
      assert.equal(stdout, `ok\n${server.user}\n`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
