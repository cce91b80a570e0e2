// Applies schemas/store/*.sql in order, each once and as one script, inside one transaction,
// under an advisory lock so two processes starting together do not race.
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Database } from './database.js'

/** schemas/store, found from this module whether it runs from source or from dist/. */
export function migrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'schemas', 'store'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('cannot find schemas/store')
    dir = parent
  }
  return path.join(dir, 'schemas', 'store')
}

// Any constant will do; it only has to be the same for every Gatehouse process.
const MIGRATION_LOCK = 7_424_711

export async function migrate(db: Database): Promise<void> {
  const dir = migrationsDir()
  const files = (await readdir(dir)).filter((f) => /^\d{3}-.*\.sql$/.test(f)).sort()
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await tx.query('CREATE TABLE IF NOT EXISTS public.gatehouse_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const applied = new Set((await tx.query<{ name: string }>('SELECT name FROM public.gatehouse_migrations')).map((r) => r.name))
    for (const file of files) {
      if (applied.has(file)) continue
      await tx.exec(await readFile(path.join(dir, file), 'utf8'))
      await tx.query('INSERT INTO public.gatehouse_migrations (name) VALUES ($1)', [file])
    }
  })
}
