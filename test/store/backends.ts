// The store's tests run against both backends: the embedded PGlite data
// directory and a real PostgreSQL server (a fresh database on the server the
// test command started).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { openDatabase, type Database } from '../../store/database.js'
import { postgresFromEnv } from '../services/env.js'

export interface Backend {
  name: 'embedded' | 'postgres'
  /** A fresh, empty store. */
  open(): Promise<{ db: Database; location: string; cleanup(): Promise<void> }>
}

export const BACKENDS: Backend[] = [
  {
    name: 'embedded',
    async open() {
      const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-store-'))
      const db = await openDatabase(dir)
      return { db, location: dir, cleanup: async () => (await db.close().catch(() => undefined), rmSync(dir, { recursive: true, force: true })) }
    },
  },
  {
    name: 'postgres',
    async open() {
      const server = postgresFromEnv()
      const name = `gatehouse_store_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      const admin = new pg.Client({ connectionString: server.url('postgres') })
      await admin.connect()
      await admin.query(`CREATE DATABASE ${name}`)
      await admin.end()
      const location = server.url(name)
      const db = await openDatabase(location)
      return {
        db,
        location,
        async cleanup() {
          await db.close().catch(() => undefined)
          const drop = new pg.Client({ connectionString: server.url('postgres') })
          await drop.connect()
          await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          await drop.end()
        },
      }
    },
  },
]
