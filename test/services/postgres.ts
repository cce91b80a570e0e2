// A throwaway PostgreSQL server for the end-to-end tests: its own data
// directory in a temporary directory, TCP on 127.0.0.1 at a free port, TLS
// with a test CA, SCRAM passwords, and real fsync (the audit durability tests
// depend on flushes reaching the disk).
import { spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { createServerCertificate } from './certificates.js'
import { makeServiceDir, registerCleanup } from './cleanup.js'
import { CommandError, logTail, runCommand } from './command.js'
import { findPostgresBin } from './packages.js'
import { delay, freePort } from './ports.js'

/** Where a running server is and how to log in: what the test processes receive. */
export interface PostgresCoordinates {
  host: string
  port: number
  /** Holds the Unix socket; only root can reach it (the directory belongs to `postgres`, mode 0700). */
  socketDir: string
  /** The server's bin directory (psql, pgbench, pg_dump of the same version). */
  binDir: string
  superuser: { user: string; password: string }
  tls: { caFile: string }
}

export interface PostgresClient extends PostgresCoordinates {
  /** `postgresql://` URL for the superuser (no TLS parameters; the server accepts both). */
  url(database?: string): string
  /** Runs `sql` with psql over TCP with TLS `verify-full`; resolves to its unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>
}

export interface PostgresServer extends PostgresClient {
  dataDir: string
  logFile: string
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>
}

export interface PostgresOptions {
  maxConnections?: number
  /** Extra postgresql.conf settings, written as given (quote strings yourself). */
  settings?: Record<string, string>
  startTimeoutMs?: number
}

const SYSTEM_USER = 'postgres' // created by Debian's postgresql-common
const SUPERUSER = 'postgres'

export function describePostgres(coordinates: PostgresCoordinates): PostgresClient {
  return {
    ...coordinates,
    url(database = 'postgres') {
      const { user, password } = coordinates.superuser
      return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${coordinates.host}:${coordinates.port}/${encodeURIComponent(database)}`
    },
    async psql(sql, database = 'postgres') {
      const conninfo = [
        ['host', coordinates.host],
        ['port', String(coordinates.port)],
        ['user', coordinates.superuser.user],
        ['dbname', database],
        ['sslmode', 'verify-full'],
        ['sslrootcert', coordinates.tls.caFile],
      ]
        .map(([key, value]) => `${key}='${value!.replace(/[\\']/g, '\\$&')}'`)
        .join(' ')
      const { stdout } = await runCommand(path.join(coordinates.binDir, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-f', '-'], {
        input: sql,
        env: { ...cleanEnv(), PGPASSWORD: coordinates.superuser.password, PGCONNECT_TIMEOUT: '10' },
      })
      return stdout
    },
  }
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findPostgresBin()
  if (binDir === undefined) throw new Error('no PostgreSQL server under /usr/lib/postgresql/*/bin\nhelp: run ensureCommands() first, or apt-get install postgresql')
  const bin = (name: string): string => path.join(binDir, name)
  const owner = systemUser(SYSTEM_USER)

  // initdb refuses to run as root, so the directory belongs to `postgres`.
  const dir = makeServiceDir('gatehouse-pg-')
  chownSync(dir, owner.uid, owner.gid)
  const dataDir = path.join(dir, 'data')
  const logFile = path.join(dir, 'server.log')
  let stopped = false
  const stopSync = (): void => {
    if (stopped) return
    stopped = true
    stopServer(bin('pg_ctl'), dataDir)
    rmSync(dir, { recursive: true, force: true })
  }
  const unregister = registerCleanup(stopSync)
  const asPostgres = { user: SYSTEM_USER, cwd: dir, env: cleanEnv() }

  try {
    const password = randomBytes(24).toString('base64url')
    const passwordFile = path.join(dir, 'superuser-password')
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
    chownSync(passwordFile, owner.uid, owner.gid)
    // --no-sync only skips initdb's final flush of the new cluster; the running
    // server still has fsync on.
    await runCommand(
      bin('initdb'),
      ['-D', dataDir, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', `--username=${SUPERUSER}`, `--pwfile=${passwordFile}`, '--no-sync'],
      asPostgres,
    )
    rmSync(passwordFile)

    const tls = await createServerCertificate(dir)
    for (const file of [tls.certFile, tls.keyFile]) chownSync(file, owner.uid, owner.gid)
    chmodSync(tls.keyFile, 0o600) // the server refuses a key others can read

    const settings: Record<string, string> = {
      listen_addresses: `'127.0.0.1'`,
      unix_socket_directories: quote(dir),
      max_connections: String(options.maxConnections ?? 300), // pgbench and the concurrency tests
      shared_buffers: `'32MB'`,
      fsync: 'on',
      synchronous_commit: 'on',
      ssl: 'on',
      ssl_cert_file: quote(tls.certFile),
      ssl_key_file: quote(tls.keyFile),
      log_connections: 'on',
      ...options.settings,
    }
    appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      `\n# gatehouse test server\n${Object.entries(settings).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`,
    )

    const port = await startOnFreePort(bin('pg_ctl'), dataDir, logFile, asPostgres, options.startTimeoutMs ?? 60_000)
    const client = describePostgres({ host: '127.0.0.1', port, socketDir: dir, binDir, superuser: { user: SUPERUSER, password }, tls: { caFile: tls.caFile } })
    await waitUntilAccepting(client, logFile, options.startTimeoutMs ?? 60_000)
    return {
      ...client,
      dataDir,
      logFile,
      async stop() {
        stopSync()
        unregister()
      },
    }
  } catch (error) {
    stopSync()
    unregister()
    throw error
  }
}

/** pg_ctl start on a free port; another process may grab the port first, so on "address in use" it tries another. */
async function startOnFreePort(pgCtl: string, dataDir: string, logFile: string, asPostgres: { user: string; cwd: string; env: NodeJS.ProcessEnv }, timeoutMs: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const logStart = existsSync(logFile) ? statSync(logFile).size : 0
    try {
      await runCommand(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), '-o', `-p ${port}`], asPostgres)
      return port
    } catch (error) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(logStart) : ''
      if (attempt < 5 && /could not bind|Address already in use/.test(log)) continue
      const detail = error instanceof CommandError ? error.message : String(error)
      throw new Error(`postgresql did not start: ${detail}\nserver log:\n${log.split('\n').slice(-30).join('\n')}`)
    }
  }
}

/** pg_ctl -w waits for the postmaster; this also proves a TLS + SCRAM login over TCP works. */
async function waitUntilAccepting(client: PostgresClient, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    try {
      if ((await client.psql('SELECT 1')).trim() === '1') return
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
    }
    await delay(200)
  }
  throw new Error(`postgresql on 127.0.0.1:${client.port} did not accept a TLS login within ${timeoutMs} ms: ${last}\nserver log:\n${logTail(logFile)}`)
}

function stopServer(pgCtl: string, dataDir: string): void {
  const pidFile = path.join(dataDir, 'postmaster.pid')
  let pid: number
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  } catch {
    return // never started, or already stopped
  }
  const stop = (mode: string): boolean =>
    spawnSync('runuser', ['-u', SYSTEM_USER, '--', pgCtl, 'stop', '-D', dataDir, '-m', mode, '-w', '-t', '20'], { cwd: '/', env: cleanEnv(), stdio: 'ignore' }).status === 0
  if (stop('fast') || stop('immediate')) return
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

function systemUser(name: string): { uid: number; gid: number } {
  const result = spawnSync('getent', ['passwd', name], { encoding: 'utf8' })
  const fields = result.stdout?.split(':') ?? []
  if (result.status !== 0 || fields.length < 4) {
    throw new Error(`no \`${name}\` system user; Debian's postgresql package creates it\nhelp: apt-get install postgresql`)
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) }
}

/** The caller's environment minus libpq's PG* variables, which would override the explicit connection settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG'))), LC_ALL: 'C' }
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`
}
