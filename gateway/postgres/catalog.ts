// Column names the masking layer needs from the real database: which
// `schema.table.column` a result column comes from (RowDescription gives a
// table OID and column number), and a table's columns in order (to expand
// `*` and to read COPY rows). One small connection per resource, made with
// the resource's own credentials; answers are cached for a minute, and
// dropped when a session runs DDL. Sessions asking for the same table at once
// share one lookup, and lookups go one at a time over the connection.
import pg from 'pg'
import type { BundleResource } from '../../engine/types.js'
import { readSecret } from '../secrets.js'

const TTL_MS = 60_000

export interface TableColumns {
  /** `schema.table`, quoted where the classifier quotes (see engine/sql/names.ts). */
  table: string
  /** attnum → column name. */
  columns: Map<number, string>
  /** Names in column order (dropped columns excluded). */
  ordered: string[]
}

export interface Catalog {
  byOid(oids: readonly number[]): Promise<Map<number, TableColumns>>
  byName(table: string): Promise<TableColumns | undefined>
  invalidate(): void
  close(): Promise<void>
}

const QUERY = `
  SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, a.attnum::int AS attnum, a.attname AS column
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped`

const IDENTIFIER = /^[a-z_][a-z0-9_$]*$/
const quoteName = (name: string) => (IDENTIFIER.test(name) ? name : `"${name.replace(/"/g, '""')}"`)

export function createCatalog(resource: BundleResource, env: NodeJS.ProcessEnv = process.env): Catalog {
  const connection = resource.postgres!
  let client: Promise<pg.Client> | undefined
  let cache = new Map<string, { at: number; value: Promise<TableColumns | undefined> }>()
  let queue: Promise<unknown> = Promise.resolve()

  const connect = async () => {
    const password = connection.password ? await readSecret(connection.password, env) : undefined
    const ca = connection.tls.ca ? await readSecret(connection.tls.ca, env) : undefined
    const ssl =
      connection.tls.mode === 'disable'
        ? false
        : { rejectUnauthorized: connection.tls.mode === 'verify-full', ...(ca ? { ca } : {}), ...(connection.tls.serverName ? { servername: connection.tls.serverName } : {}) }
    const c = new pg.Client({ host: connection.host, port: connection.port, user: connection.user, database: connection.database, ...(password ? { password } : {}), ssl, application_name: 'gatehouse catalog', connectionTimeoutMillis: 5000 })
    c.on('error', () => {
      client = undefined
    })
    await c.connect()
    return c
  }

  const query = async (where: string, params: unknown[]) => {
    client ??= connect()
    try {
      return (await (await client).query<{ oid: number; schema: string; name: string; attnum: number; column: string }>(`${QUERY} ${where} ORDER BY c.oid, a.attnum`, params)).rows
    } catch (err) {
      const broken = client
      client = undefined
      void broken?.then((c) => c.end()).catch(() => undefined)
      throw err
    }
  }

  const run = (where: string, params: unknown[]) => {
    const result = queue.then(() => query(where, params))
    queue = result.catch(() => undefined)
    return result
  }

  const collect = (rows: Awaited<ReturnType<typeof query>>) => {
    const tables = new Map<number, TableColumns>()
    for (const row of rows) {
      let table = tables.get(row.oid)
      if (!table) tables.set(row.oid, (table = { table: `${quoteName(row.schema)}.${quoteName(row.name)}`, columns: new Map(), ordered: [] }))
      table.columns.set(row.attnum, row.column)
      table.ordered.push(row.column)
    }
    return tables
  }

  const fresh = (key: string) => {
    const hit = cache.get(key)
    return hit && Date.now() - hit.at < TTL_MS ? hit.value : undefined
  }

  /** Caches a lookup while it runs too; a failed one is forgotten so the next asks again. */
  const remember = (key: string, value: Promise<TableColumns | undefined>) => {
    const entry = { at: Date.now(), value }
    cache.set(key, entry)
    value.catch(() => cache.get(key) === entry && cache.delete(key))
    return value
  }

  return {
    async byOid(oids) {
      // Each oid's answer is taken once, here: looking it up again after an await could find it expired.
      const lookups = new Map<number, Promise<TableColumns | undefined>>()
      const missing: number[] = []
      for (const oid of new Set(oids)) {
        const hit = fresh(`oid:${oid}`)
        if (hit) lookups.set(oid, hit)
        else missing.push(oid)
      }
      if (missing.length > 0) {
        const found = run('WHERE c.oid = ANY($1::oid[])', [missing]).then(collect)
        for (const oid of missing) lookups.set(oid, remember(`oid:${oid}`, found.then((tables) => tables.get(oid))))
      }
      const out = new Map<number, TableColumns>()
      for (const [oid, lookup] of lookups) {
        const value = await lookup
        if (value) out.set(oid, value)
      }
      return out
    },
    byName(table) {
      const hit = fresh(`name:${table}`)
      if (hit) return hit
      // The classifier's names are `schema.table` with quotes only where needed.
      const match = /^("(?:[^"]|"")+"|[^".]+)\.("(?:[^"]|"")+"|[^".]+)$/.exec(table)
      const unquote = (part: string) => (part.startsWith('"') ? part.slice(1, -1).replace(/""/g, '"') : part)
      const value = match ? run('WHERE n.nspname = $1 AND c.relname = $2', [unquote(match[1]!), unquote(match[2]!)]).then((rows) => [...collect(rows).values()][0]) : Promise.resolve(undefined)
      return remember(`name:${table}`, value)
    },
    invalidate() {
      cache = new Map()
    },
    async close() {
      const c = client
      client = undefined
      await c?.then((x) => x.end()).catch(() => undefined)
    },
  }
}
