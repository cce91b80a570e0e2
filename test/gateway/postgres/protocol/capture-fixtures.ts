// Records real client↔server byte streams through a plain TCP relay, for the
// protocol fixtures. Not a test: run by hand against a scratch server, e.g.
//   PGPORT=54329 PGPASSWORD=secret node --import tsx test/gateway/postgres/protocol/capture-fixtures.ts
// Each connection becomes fixtures/<name>.json with the frontend and backend
// byte streams in hex, exactly as they crossed the wire.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import pg from 'pg'

const upstreamPort = Number(process.env['PGPORT'] ?? 5432)
const password = process.env['PGPASSWORD'] ?? ''
const outDir = new URL('./fixtures/', import.meta.url)

interface Capture { frontend: Buffer[]; backend: Buffer[] }

async function capture(name: string, run: (port: number) => Promise<void>): Promise<void> {
  const captures: Capture[] = []
  const server = createServer((client) => {
    const c: Capture = { frontend: [], backend: [] }
    captures.push(c)
    const up = createConnection({ host: '127.0.0.1', port: upstreamPort })
    client.on('data', (d) => { c.frontend.push(d); up.write(d) })
    up.on('data', (d) => { c.backend.push(d); client.write(d) })
    client.on('close', () => up.end())
    up.on('close', () => client.end())
    client.on('error', () => up.destroy())
    up.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await run(port)
  await new Promise((resolve) => setTimeout(resolve, 300))
  server.close()
  const first = captures[0]
  if (!first) throw new Error(`no connection captured for ${name}`)
  writeFileSync(new URL(`${name}.json`, outDir), JSON.stringify({
    description: `captured from PostgreSQL ${process.env['PGVERSION'] ?? ''} by capture-fixtures.ts`.trim(),
    frontend: Buffer.concat(first.frontend).toString('hex'),
    backend: Buffer.concat(first.backend).toString('hex'),
  }, null, 2) + '\n')
}

// Asynchronous on purpose: the relay runs in this process's event loop.
function psql(port: number, script: string): Promise<void> {
  const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=0', `host=127.0.0.1 port=${port} user=postgres dbname=postgres sslmode=prefer application_name=psql`], {
    env: { ...process.env, PGPASSWORD: password, PGGSSENCMODE: 'disable' }, stdio: ['pipe', 'ignore', 'ignore'],
  })
  child.stdin.end(script)
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`)))))
}

await capture('psql-session', async (port) => psql(port, `
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, note text, balance numeric(10,2));
INSERT INTO customers VALUES (1, 'ada@example.com', E'tab\\there', 10.50), (2, 'bob@example.com', NULL, -3);
SELECT id, email, note, balance FROM customers ORDER BY id;
DO $$ BEGIN RAISE NOTICE 'about to % rows', 2 USING HINT = 'just a notice'; END $$;
INSERT INTO customers VALUES (1, 'dup@example.com', NULL, 0);
SELECT 1/0 AS boom, 'x';
SELEC broken;
LISTEN jobs;
NOTIFY jobs, 'payload with ünïcode';
BEGIN;
SELECT 'in tx';
SELECT * FROM missing_table;
ROLLBACK;
COPY customers TO STDOUT;
COPY customers TO STDOUT (FORMAT csv, HEADER);
COPY customers (id, email) FROM STDIN;
3\tcarol@example.com
4\tdan\\\\@example.com
\\.
SELECT ''::text AS empty, NULL AS nothing;
;
`))

await capture('node-postgres-extended', async (port) => {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password, application_name: 'node-postgres' })
  await client.connect()
  await client.query('SELECT $1::int AS n, $2::text AS t, $3::text AS missing', [42, 'héllo', null])
  await client.query({ name: 'by-id', text: 'SELECT id, email FROM customers WHERE id = $1', values: [1] })
  await client.query({ name: 'by-id', text: 'SELECT id, email FROM customers WHERE id = $1', values: [2] })
  await client.query('SELECT $1::int', ['not a number']).catch(() => undefined)
  await client.query('UPDATE customers SET note = $1 WHERE id = $2', ['updated', 2])
  await client.end()
})

console.log('captured')
