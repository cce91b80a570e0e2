// A gateway in front of a real database, for end-to-end tests: a fresh
// database and login role on the test server, the test repository
// (test/cases/gateway-repo) pointed at them with fresh tokens, compiled, and
// the gateway started in this process on free ports.
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { parseAllDocuments } from 'yaml'
import { generateToken, scramVerifier, tokenDigest } from '../../compiler/credentials.js'
import type { GatewayConfig } from '../../gateway/config.js'
import type { RunningGateway } from '../../gateway/gateway.js'
import { postgresFromEnv } from '../services/env.js'
import { ROOT } from '../helpers/repo.js'
import { compileBundle, startTestGateway } from './start-gateway.js'

export const REPO = path.join(ROOT, 'test', 'cases', 'gateway-repo')

export const SEED = `
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text, ssn text, notes text, born date);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, status text, total numeric(10,2));
CREATE TABLE secrets (id int PRIMARY KEY, value text);
INSERT INTO customers VALUES
  (1, 'Ada', 'ada@example.com', '+44 20 7946 0001', '123-45-6789', 'prefers email', '1815-12-10'),
  (2, 'Grace', 'grace@example.org', '+1 202 555 0102', '234-56-7890', 'card 4111 1111 1111 1111 on file', '1906-12-09');
INSERT INTO orders (customer_id, status, total) VALUES (1, 'shipped', 10.50), (2, 'paid', 99.99);
INSERT INTO secrets VALUES (1, 'launch codes');
`

export interface Shop {
  port: number
  database: string
  tokens: Record<string, string>
  gateway: RunningGateway
  /** Superuser connection string to the shop database, for setup and checks. */
  adminUrl: string
  /** The gateway's working directory. */
  dir: string
  bundlePath: string
  /** Rewrites the repository, recompiles it and writes the bundle (the gateway reloads it). */
  recompile(edit: (repo: string) => void): Promise<void>
  psql(identity: string, sql: string, extra?: string[]): Promise<{ status: number | null; stdout: string; stderr: string }>
  connect(identity: string): Promise<pg.Client>
  stop(): Promise<void>
}

export function editYaml(file: string, edit: (doc: ReturnType<typeof parseAllDocuments>[number] & object) => void): void {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'))
  if (!Array.isArray(docs)) throw new Error(`${file} does not parse`)
  for (const doc of docs) edit(doc)
  writeFileSync(file, docs.map((d) => d.toString({ lineWidth: 0 })).join(''))
}

let counter = 0

/** `storeVia` rewrites the PostgreSQL store's URL (to go through a proxy). */
export async function startShop(options: { store?: 'embedded' | 'postgres'; storeVia?: (url: string) => string; audit?: 'sync' | 'async'; seed?: string; config?: Partial<GatewayConfig> } = {}): Promise<Shop> {
  const server = postgresFromEnv()
  const suffix = `${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 6)}`
  const database = `shop_${suffix}`
  const role = `gatehouse_shop_${suffix}`
  const rolePassword = generateToken()
  const admin = new pg.Client({ connectionString: server.url('postgres') })
  await admin.connect()
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`)
  await admin.query(`CREATE DATABASE ${database} OWNER ${role}`)
  let storeDatabase: string | undefined
  if (options.store === 'postgres') {
    storeDatabase = `store_${suffix}`
    await admin.query(`CREATE DATABASE ${storeDatabase}`)
  }
  await admin.end()
  const seeder = new pg.Client({ host: server.host, port: server.port, user: role, password: rolePassword, database, ssl: { ca: readFileSync(server.tls.caFile, 'utf8') } })
  await seeder.connect()
  await seeder.query(options.seed ?? SEED)
  await seeder.end()

  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-shop-'))
  const repo = path.join(dir, 'repo')
  cpSync(REPO, repo, { recursive: true })
  const passwordVariable = `GATEHOUSE_TEST_SHOP_PASSWORD_${suffix.toUpperCase()}`
  process.env[passwordVariable] = rolePassword
  editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => {
    doc.setIn(['postgres', 'host'], server.host)
    doc.setIn(['postgres', 'port'], server.port)
    doc.setIn(['postgres', 'database'], database)
    doc.setIn(['postgres', 'user'], role)
    doc.setIn(['postgres', 'password'], doc.createNode({ env: passwordVariable }))
    doc.setIn(['postgres', 'tls'], doc.createNode({ mode: 'verify-full', ca: { file: server.tls.caFile } }))
    if (options.audit) doc.setIn(['audit', 'mode'], options.audit)
  })
  const tokens: Record<string, string> = {}
  editYaml(path.join(repo, 'identities', 'all.yaml'), (doc) => {
    const token = generateToken()
    tokens[doc.get('name') as string] = token
    doc.setIn(['credentials', 'token'], doc.createNode({ scram: scramVerifier(token), sha256: tokenDigest(token) }))
  })
  const bundlePath = path.join(dir, 'bundle.json')
  const recompile = async (edit: (repo: string) => void) => {
    edit(repo)
    await compileBundle(repo, bundlePath)
  }
  await recompile(() => undefined)

  const gateway = await startTestGateway({
    bundle: bundlePath,
    dataDir: path.join(dir, 'gateway'),
    store: storeDatabase ? (options.storeVia ?? String)(server.url(storeDatabase)) : path.join(dir, 'gateway', 'store'),
    postgresListen: { host: '127.0.0.1', port: 0 },
    ...options.config,
  })
  const port = gateway.addresses.postgres!.port
  const conninfo = (identity: string) => `host=127.0.0.1 port=${port} user=${identity} dbname=shop sslmode=disable connect_timeout=10`
  return {
    port,
    database,
    tokens,
    gateway,
    adminUrl: server.url(database),
    dir,
    bundlePath,
    recompile,
    psql(identity, sql, extra = []) {
      return new Promise((resolve) => {
        const child = spawn(path.join(server.binDir, 'psql'), [conninfo(identity), '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...extra, '-c', sql], {
          env: { ...process.env, PGPASSWORD: tokens[identity] ?? 'wrong' },
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d))
        child.stderr.on('data', (d: Buffer) => (stderr += d))
        child.on('close', (status) => resolve({ status, stdout, stderr }))
      })
    },
    async connect(identity) {
      const client = new pg.Client({ host: '127.0.0.1', port, user: identity, password: tokens[identity] ?? 'wrong', database: 'shop' })
      await client.connect()
      return client
    },
    async stop() {
      await gateway.stop()
      const drop = new pg.Client({ connectionString: server.url('postgres') })
      await drop.connect()
      await drop.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
      if (storeDatabase) await drop.query(`DROP DATABASE IF EXISTS ${storeDatabase} WITH (FORCE)`)
      await drop.query(`DROP ROLE IF EXISTS ${role}`)
      await drop.end()
      delete process.env[passwordVariable]
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
