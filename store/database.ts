// One interface over the two places the store can live: an embedded PGlite
// data directory (the default; no server to run) or a PostgreSQL server. Same
// SQL, same schema, same queries.
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { unpackTemplate } from './embedded-template.js'
import { migrate } from './migrate.js'

export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>
  /** Runs a script of several statements (no parameters). */
  exec(script: string): Promise<void>
}

export interface Database extends Queryable {
  readonly kind: 'embedded' | 'postgres'
  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location)
}

/** Opens the store and brings its schema up to date. */
export async function openDatabase(location: string): Promise<Database> {
  const db = isPostgresUrl(location) ? openPostgres(location) : await openEmbedded(location)
  try {
    await migrate(db)
  } catch (err) {
    await db.close().catch(() => undefined)
    throw err
  }
  return db
}

function openPostgres(url: string): Database {
  // A store that stops answering without closing the connection (a network
  // partition) must fail the query, not hold the audit writer forever.
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, query_timeout: 30_000, keepAlive: true })
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => undefined)
  return {
    kind: 'postgres',
    async query(text, params) {
      return (await pool.query(text, params as unknown[])).rows
    },
    async exec(script) {
      await pool.query(script)
    },
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn({
          query: async (text, params) => (await client.query(text, params as unknown[])).rows,
          exec: async (script) => void (await client.query(script)),
        })
        await client.query('COMMIT')
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    },
    close: () => pool.end(),
  }
}

const LOCK_FILE = 'gatehouse.lock'

/**
 * PGlite runs inside this process and cannot be shared: a lock file with our
 * pid keeps a second process from opening the same directory.
 */
async function openEmbedded(dir: string): Promise<Database> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const lockPath = path.join(dir, LOCK_FILE)
  await takeLock(lockPath)
  let db: PGlite
  try {
    db = await createEmbedded(path.join(dir, 'pgdata'))
    await db.waitReady
  } catch (err) {
    await rm(lockPath, { force: true })
    throw err
  }
  return embeddedDatabase(db, () => rm(lockPath, { force: true }))
}

/** The store's interface over one PGlite instance; `afterClose` runs once it is closed. */
export function embeddedDatabase(db: PGlite, afterClose: () => Promise<void> = async () => undefined): Database {
  // PGlite runs one statement at a time; queue work so transactions never interleave.
  let tail: Promise<unknown> = Promise.resolve()
  const serialize = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work)
    tail = run.catch(() => undefined)
    return run
  }
  return {
    kind: 'embedded',
    query: (text, params) => serialize(async () => (await db.query(text, params as unknown[])).rows as never),
    exec: (script) => serialize(async () => void (await db.exec(script))),
    transaction: (fn) =>
      serialize(() =>
        db.transaction((tx) =>
          fn({ query: async (text, params) => (await tx.query(text, params as unknown[])).rows as never, exec: async (script) => void (await tx.exec(script)) }),
        ),
      ),
    async close() {
      await serialize(() => db.close())
      await afterClose()
    },
  }
}

/**
 * PostgreSQL's default shared_buffers (128 MB) sized for a server; the store
 * only appends small rows and reads recent ones, and every buffer is memory of
 * the gateway's own process: 16 MB kept an idle gateway about 120 MB smaller.
 */
export const EMBEDDED_SETTINGS = ['shared_buffers=16MB']

/** A PGlite instance on `dataDir` (in memory without one), initialised from the build's template when it is new. */
export async function createEmbedded(dataDir?: string): Promise<PGlite> {
  if (dataDir !== undefined && !existsSync(path.join(dataDir, 'PG_VERSION'))) await unpackTemplate(dataDir)
  const { PGlite } = await import('@electric-sql/pglite')
  return new PGlite(dataDir, { startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((setting) => ['-c', setting])] })
}

async function takeLock(lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim())
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`the store in ${path.dirname(lockPath)} is in use by process ${pid}; use that process's admin API or a PostgreSQL store`)
      }
      // A process that died without closing the store left its lock behind.
      await rm(lockPath, { force: true })
    }
  }
  throw new Error(`cannot lock the store in ${path.dirname(lockPath)}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
