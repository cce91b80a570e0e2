// `gatehouse demo` (what `npm start` runs): the example policy repository in
// front of an embedded sample database, on this machine, with nothing to
// install. The example's orders-db is pointed at the sample database and its
// identities get fresh demo tokens and expiry dates a season from today, in
// a temporary copy (the example's own dates would expire the demo); then the bundle is
// compiled, the gateway starts on an embedded store, and ready-to-paste psql
// commands show an allowed query, a denied one, a masked result, an approval
// hold and `gatehouse.permissions`.
import { randomBytes } from 'node:crypto'
import { accessSync, constants, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { dayFromToday } from '../cli/clock.js'
import { EXIT, UsageError, type Command } from '../cli/command.js'
import { compileRepository } from '../compiler/compile.js'
import { generateToken, scramVerifier, tokenDigest } from '../compiler/credentials.js'
import { loadDirectory } from '../compiler/load.js'
import { startGateway } from '../gateway/gateway.js'
import { createLogger } from '../runtime/log.js'
import { createEmbedded } from '../store/database.js'

// The sample database starts from the embedded store's template: drop the store's own tables first.
const SEED = `
DROP SCHEMA gatehouse CASCADE;
DROP TABLE public.gatehouse_migrations;
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text, notes text);
CREATE TABLE products (id int PRIMARY KEY, name text, price numeric(10,2));
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, status text, total numeric(10,2), created_at timestamptz DEFAULT now());
CREATE TABLE order_items (order_id int REFERENCES orders, product_id int REFERENCES products, quantity int);
CREATE TABLE schema_migrations (version text PRIMARY KEY);
CREATE TABLE payments (id int PRIMARY KEY, order_id int, card_number text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id int PRIMARY KEY, order_id int, total numeric(10,2));
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', '+44 20 7946 0001', 'prefers email'),
  (2, 'Grace Hopper', 'grace@example.org', '+1 202 555 0102', 'paid with 4111 1111 1111 1111 over the phone'),
  (3, 'Alan Turing', 'alan@example.net', '+44 161 496 0003', NULL);
INSERT INTO products VALUES (1, 'Difference engine', 1999.00), (2, 'Punched cards', 4.50);
INSERT INTO orders VALUES (1, 1, 'shipped', 1999.00), (2, 2, 'paid', 9.00), (3, 3, 'new', 4.50);
INSERT INTO order_items VALUES (1, 1, 1), (2, 2, 2), (3, 2, 1);
INSERT INTO payments VALUES (1, 1, '5555555555554444');
INSERT INTO billing.invoices VALUES (1, 1, 1999.00);
`

/** Long enough that no expiry warning shows in the demo (the example warns 14 days ahead). */
const DEMO_VALIDITY_DAYS = 90

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Rewrites one document of a YAML file in place, keeping comments and layout. */
function editYaml(file: string, edit: (doc: ReturnType<typeof parseAllDocuments>[number] & object) => void): void {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'))
  if (!Array.isArray(docs)) return
  for (const doc of docs) edit(doc)
  writeFileSync(file, docs.map((d) => d.toString({ lineWidth: 0 })).join(''))
}

/** The sample database, served over the PostgreSQL protocol on `port`. */
async function startSample(dir: string, port: number): Promise<{ stop(): Promise<void> }> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  // On disk in the temporary directory, from the store's template: an
  // in-memory PGlite would run initdb here and keep its memory.
  const sample = await createEmbedded(dir)
  try {
    await sample.exec(SEED)
    const server = new PGLiteSocketServer({ db: sample, port, host: '127.0.0.1', maxConnections: 50 })
    await server.start()
    return { stop: async () => (await server.stop(), await sample.close()) }
  } catch (err) {
    await sample.close().catch(() => undefined)
    throw err
  }
}

const DEFAULT_PORT = 6432

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Where psql is on the PATH, if it is. */
function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const PSQL_ADVICE = [
  'psql (the PostgreSQL client) is not on your PATH; the commands below need it. Install it with',
  '  Debian, Ubuntu:  sudo apt-get install postgresql-client',
  '  Fedora, RHEL:    sudo dnf install postgresql',
  '  macOS:           brew install libpq && brew link --force libpq',
  'or use any PostgreSQL client with the same host, port, user, database and password.',
]

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the example policies in front of a sample database',
  usage: `usage: gatehouse demo [--port PORT]

Starts an embedded sample database and the gateway in front of it, using a
temporary copy of policies.example/ with fresh demo tokens, and prints psql
commands to try. Stop it with Ctrl-C; nothing is left behind.

options:
  --port PORT   where the gateway listens for PostgreSQL clients (default 6432,
                or any free port when 6432 is taken; 0 for any free port)`,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { port: { type: 'string' } } })
    const requested = values.port === undefined ? undefined : Number(values.port)
    if (requested !== undefined && !(Number.isInteger(requested) && requested >= 0 && requested <= 65535)) throw new UsageError('--port must be a port number (0 for any free port)')
    // 6432 is also PgBouncer's default: when it is taken, any free port will do.
    const port = requested ?? ((await portIsFree(DEFAULT_PORT)) ? DEFAULT_PORT : 0)
    const inUse = () => new Error(`port ${port} is in use; choose another with --port PORT (or --port 0 for any free one)`)
    if (port !== 0 && !(await portIsFree(port))) throw inUse()
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
    const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-demo-'))
    const cleanup: Array<() => Promise<void>> = [async () => rmSync(work, { recursive: true, force: true })]
    try {
      // The sample database starts while the policies compile and the gateway
      // starts: both are mostly WebAssembly start-up, and there are two cores.
      const dbPort = await freePort()
      const sampleStarted = startSample(path.join(work, 'sample-db'), dbPort)
      cleanup.unshift(async () => (await sampleStarted.catch(() => undefined))?.stop())

      // The example, pointed at the sample database, with demo tokens.
      const repo = path.join(work, 'policies')
      cpSync(path.join(root, 'policies.example'), repo, { recursive: true })
      editYaml(path.join(repo, 'resources', 'orders-db.yaml'), (doc) => {
        doc.setIn(['postgres', 'host'], '127.0.0.1')
        doc.setIn(['postgres', 'port'], dbPort)
        doc.setIn(['postgres', 'database'], 'postgres')
        doc.setIn(['postgres', 'user'], 'postgres')
        doc.setIn(['postgres', 'password'], doc.createNode({ env: 'GATEHOUSE_DEMO_DB_PASSWORD' }))
        doc.setIn(['postgres', 'tls'], doc.createNode({ mode: 'disable' }))
      })
      const tokens: Record<string, string> = {}
      for (const [file, names] of [['identities/data-jobs.yaml', ['orders-reporting', 'billing-migrator']], ['identities/ci-deploy.yaml', ['ci-deploy']], ['identities/support-bot.yaml', ['support-bot']]] as const) {
        editYaml(path.join(repo, file), (doc) => {
          const name = doc.get('name') as string
          if (!(names as readonly string[]).includes(name)) return
          const token = generateToken()
          tokens[name] = token
          doc.setIn(['credentials', 'token'], doc.createNode({ scram: scramVerifier(token), sha256: tokenDigest(token) }))
        })
      }
      for (const file of readdirSync(path.join(repo, 'identities'))) {
        editYaml(path.join(repo, 'identities', file), (doc) => {
          if (doc.has('expires')) doc.set('expires', dayFromToday(DEMO_VALIDITY_DAYS))
        })
      }
      const compiled = await compileRepository(await loadDirectory(repo))
      if (!compiled.bundleText) throw new Error(`the demo repository does not compile: ${compiled.diagnostics.map((d) => d.message).join('; ')}`)
      const bundlePath = path.join(work, 'bundle.json')
      writeFileSync(bundlePath, compiled.bundleText)

      const adminToken = randomBytes(24).toString('base64url')
      process.env.GATEHOUSE_DEMO_DB_PASSWORD = 'demo'
      process.env.GATEHOUSE_ADMIN_TOKEN = adminToken
      const adminPort = await freePort()
      const gateway = await startGateway(
        {
          bundle: bundlePath,
          dataDir: path.join(work, 'gateway'),
          store: path.join(work, 'gateway', 'store'),
          postgresListen: { host: '127.0.0.1', port },
          adminListen: { host: '127.0.0.1', port: adminPort },
          requireTls: false,
          auditFlushMs: 100,
          approvalsUrl: 'gatehouse approvals list',
          logLevel: 'warn',
        },
        createLogger({ level: 'warn' }),
      ).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EADDRINUSE' ? inUse() : err
      })
      cleanup.unshift(() => gateway.stop())
      const listening = gateway.addresses.postgres!.port
      await sampleStarted

      const psql = (identity: string, sql: string) => `PGPASSWORD='${tokens[identity]}' psql "host=127.0.0.1 port=${listening} user=${identity} dbname=orders-db sslmode=disable" -c "${sql}"`
      const cli = `node ${path.join(root, 'dist', 'bin', 'gatehouse.js')}`
      io.out(
        [
          '',
          `Gatehouse demo: the gateway listens on 127.0.0.1:${listening} in front of a sample orders database.`,
          ...(requested === undefined && listening !== DEFAULT_PORT ? [`(port ${DEFAULT_PORT} is taken, by PgBouncer perhaps: this run uses ${listening}; --port PORT picks one)`] : []),
          ...(findOnPath('psql') ? [] : ['', ...PSQL_ADVICE]),
          'Demo tokens (valid only for this run):',
          ...Object.entries(tokens).map(([name, token]) => `  ${name.padEnd(17)} ${token}`),
          '',
          'An allowed query (reporting reads orders):',
          `  ${psql('orders-reporting', 'SELECT id, status, total FROM orders')}`,
          '',
          'A denied one (reporting may not write):',
          `  ${psql('orders-reporting', "UPDATE orders SET status = 'refunded'")}`,
          '',
          'A masked result (e-mail partial, phone redacted, the card number in the notes redacted):',
          `  ${psql('support-bot', 'SELECT name, email, phone, notes, upper(email) AS shout FROM customers')}`,
          '',
          'An approval hold (schema changes wait for @acme/payments), then approve it from another terminal:',
          `  ${psql('ci-deploy', 'ALTER TABLE orders ADD COLUMN gift_note text')}`,
          `  GATEHOUSE_ADMIN_TOKEN=${adminToken} ${cli} approvals list --status pending --admin http://127.0.0.1:${adminPort}`,
          `  GATEHOUSE_ADMIN_TOKEN=${adminToken} ${cli} approvals approve <ID> --as @alice --admin http://127.0.0.1:${adminPort}`,
          '',
          'What may I do here?',
          `  ${psql('ci-deploy', 'SELECT effect, rule, target FROM gatehouse.permissions')}`,
          '',
          `The audit trail: GATEHOUSE_ADMIN_TOKEN=${adminToken} ${cli} audit query --admin http://127.0.0.1:${adminPort}`,
          '',
          'Press Ctrl-C to stop.',
        ].join('\n'),
      )
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      return EXIT.ok
    } finally {
      for (const step of cleanup) await step().catch(() => undefined)
    }
  },
}
