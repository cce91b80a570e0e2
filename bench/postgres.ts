// The PostgreSQL data path, side by side in one run against one real server:
// direct, through PgBouncer (session pooling, the reference proxy), through a
// bare Node.js byte relay (the floor for any proxy in this runtime) and through
// the gateway with enforcement, audit (sync and async) and masking on.
//   npm run build && node dist/bench/postgres.js [--seconds 10] [--rounds 3]
// Prints, as medians of the rounds (runs interleaved so noise hits all alike):
// pgbench -S throughput at 1 and 8 clients, simple and extended protocol, as
// ratios to PgBouncer, and at 8 clients split over two gateway replicas;
// added median latency at 1 client; masking throughput
// on a 200,000-row result; memory of 500 idle connections; and 100 bundle
// reloads under load. Before all that, what a statement costs: CPU µs per
// transaction of each process on the path (proxy, upstream backends, audit
// store backends, other PostgreSQL processes, pgbench) at saturation and at one
// rate equal for all paths (`pgbench -R`), next to the relay, with the audit
// writer's worst queue and oldest unwritten event during each gateway run.
// `--only cost` measures that and nothing else; `--rate N` fixes the equal
// rate (default: 80% of the async gateway's saturated rate in the first round);
// `--baseline DIR` adds, to that measurement, a second gateway run from
// another build's `dist` (say, of the previous commit), so a change is
// measured against what it replaces in the same run; `--paths a,b` measures
// those paths only (by the names in the table, e.g. "node relay,gateway async").
// `--perf` (needs `perf`, Debian package linux-perf) instead records the relay
// and the async gateway with `perf record` at the equal rate (default 1,000),
// after a saturated run to warm them up, and prints where each one's CPU per
// transaction goes, by kind of work (bench/cpu-breakdown.ts).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs, promisify } from 'node:util'
import pg from 'pg'
import { compileRepository } from '../compiler/compile.js'
import { generateToken, scramVerifier, tokenDigest } from '../compiler/credentials.js'
import { loadDirectory } from '../compiler/load.js'
import { ensureCommands, SERVICE_COMMANDS } from '../test/services/packages.js'
import { freePort, waitForPort } from '../test/services/ports.js'
import { startPostgres, type PostgresServer } from '../test/services/postgres.js'
import { cpuBreakdown, KINDS } from './cpu-breakdown.js'
import { BackendCpu, childPids, processCpu } from './process-cpu.js'
import { median } from './stats.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, profile: { type: 'string' }, only: { type: 'string' }, rate: { type: 'string' }, baseline: { type: 'string' }, paths: { type: 'string' }, perf: { type: 'boolean' } } })
const SECONDS = Number(values.seconds)
const ROUNDS = Number(values.rounds)
const root = path.resolve(import.meta.dirname, '..', '..')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-pg-'))
const children: ChildProcess[] = []

function run(program: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(program, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
}

const execFileAsync = promisify(execFile)

async function main(): Promise<void> {
  await ensureCommands([...SERVICE_COMMANDS, { command: 'pgbouncer', package: 'pgbouncer' }, ...(values.perf ? [{ command: 'perf', package: 'linux-perf' }] : [])])
  const server: PostgresServer = await startPostgres({ maxConnections: 700, settings: { shared_buffers: "'256MB'" } })
  try {
    const bin = server.binDir
    const superEnv = { PGPASSWORD: server.superuser.password, PGSSLMODE: 'disable' }
    const psqlAdmin = (sql: string, db = 'postgres') => run(path.join(bin, 'psql'), ['-h', server.host, '-p', String(server.port), '-U', server.superuser.user, '-d', db, '-X', '-q', '-c', sql], superEnv)
    const benchPassword = generateToken()
    psqlAdmin(`CREATE ROLE bench LOGIN PASSWORD '${benchPassword}'`)
    psqlAdmin('CREATE DATABASE bench OWNER bench')
    psqlAdmin('CREATE DATABASE gatehouse_store')
    run(path.join(bin, 'pgbench'), ['-i', '-s', '10', '-q', '-h', server.host, '-p', String(server.port), '-U', 'bench', 'bench'], { PGPASSWORD: benchPassword, PGSSLMODE: 'disable' })
    psqlAdmin(
      `CREATE TABLE big AS SELECT g AS id, 'user' || g || '@example.com' AS email, CASE WHEN g % 100 = 0 THEN '4111 1111 1111 1111' ELSE 'order ' || g END AS note, md5(g::text) AS token FROM generate_series(1, 200000) g; ALTER TABLE big OWNER TO bench;`,
      'bench',
    )

    // PgBouncer in session mode.
    const bouncerPort = await freePort()
    writeFileSync(path.join(work, 'userlist.txt'), `"bench" "${benchPassword}"\n`)
    writeFileSync(
      path.join(work, 'pgbouncer.ini'),
      `[databases]\nbench = host=${server.host} port=${server.port} dbname=bench user=bench password=${benchPassword}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${bouncerPort}\nauth_type = plain\nauth_file = ${work}/userlist.txt\npool_mode = session\nmax_client_conn = 1000\ndefault_pool_size = 100\nunix_socket_dir =\nlogfile = ${work}/pgbouncer.log\n`,
    )
    execFileSync('chown', ['-R', 'postgres', work])
    const bouncer = spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', path.join(work, 'pgbouncer.ini')], { stdio: 'ignore' })
    children.push(bouncer)
    // A bare Node.js relay: what any proxy in this runtime pays before doing any work of its own.
    const relayPort = await freePort()
    // --perf-basic-prof: perf can name JavaScript frames.
    const perfArgs = values.perf ? ['--perf-basic-prof'] : []
    const relay = spawn(process.execPath, [...perfArgs, path.join(root, 'dist', 'bench', 'byte-relay.js'), String(relayPort), String(server.port)], { stdio: 'ignore', cwd: work })
    children.push(relay)
    await waitForPort(bouncerPort)
    await waitForPort(relayPort)

    // The gateway: two resources on the same database, one per audit mode.
    const repo = path.join(work, 'repo')
    const token = generateToken()
    const plainToken = generateToken()
    const resource = (name: string, mode: string) =>
      `apiVersion: gatehouse.dev/v1\nkind: Resource\nname: ${name}\ntype: postgres\nowner: "@bench/owner"\naudit: {mode: ${mode}}\npostgres: {host: ${server.host}, port: ${server.port}, database: bench, user: bench, password: {env: BENCH_DB_PASSWORD}, tls: {mode: disable}}\n`
    const files: Record<string, string> = {
      'gatehouse.yaml': 'apiVersion: gatehouse.dev/v1\nkind: Settings\norganisation: bench\napprovers: ["@bench/owner"]\n',
      'identities/bench.yaml': `apiVersion: gatehouse.dev/v1\nkind: Identity\nname: bench\nowner: "@bench/owner"\nroles: [bench]\ncredentials:\n  token: {scram: "${scramVerifier(token)}", sha256: ${tokenDigest(token)}}\n---\napiVersion: gatehouse.dev/v1\nkind: Identity\nname: plain\nowner: "@bench/owner"\nroles: [plain]\ncredentials:\n  token: {scram: "${scramVerifier(plainToken)}", sha256: ${tokenDigest(plainToken)}}\n`,
      'resources/bench.yaml': `${resource('bench-async', 'async')}---\n${resource('bench-sync', 'sync')}`,
      'policies/bench.yaml':
        'apiVersion: gatehouse.dev/v1\nkind: Policy\nname: bench\nsubjects: {roles: [bench]}\nresources: {names: [bench-async, bench-sync]}\nrules:\n  - {name: pgbench, effect: allow, actions: [select, insert, update], tables: ["public.pgbench_*", "public.big"]}\n  - {name: no-ddl, effect: deny, actions: [ddl]}\nmasks:\n  - {column: public.big.email, strategy: partial}\n  - {column: public.pgbench_accounts.filler, strategy: redact}\n  - {detector: credit-card, strategy: redact}\n  - {detector: email, strategy: redact}\n' +
        '---\napiVersion: gatehouse.dev/v1\nkind: Policy\nname: plain\nsubjects: {roles: [plain]}\nresources: {names: [bench-async]}\nrules:\n  - {name: read, effect: allow, actions: [select], tables: ["public.big"]}\n',
    }
    for (const [file, text] of Object.entries(files)) {
      const full = path.join(repo, file)
      run('mkdir', ['-p', path.dirname(full)])
      writeFileSync(full, text)
    }
    const compiled = await compileRepository(await loadDirectory(repo))
    if (!compiled.bundleText) throw new Error(compiled.diagnostics.map((d) => d.message).join('\n'))
    const bundlePath = path.join(work, 'bundle.json')
    writeFileSync(bundlePath, compiled.bundleText)
    // --profile DIR: CPU profile of the gateway during one async, simple, 8-client run (or, with
    // BENCH_PROFILE_RUN=masking, the masking measurement), and nothing else.
    const profileArgs = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : []
    // The 500 idle connections below all come from one address: above the default cap per address.
    const configPath = path.join(work, 'gateway.yaml')
    writeFileSync(configPath, 'limits:\n  maxConnectionsPerAddress: 1000\n')
    const startGateway = async (dataDir: string, nodeArgs: string[] = [], dist = path.join(root, 'dist')) => {
      const port = await freePort()
      const adminPort = await freePort()
      const child = spawn(process.execPath, [...nodeArgs, path.join(dist, 'bin', 'gatehouse.js'), 'gateway', '--config', configPath, '--bundle', bundlePath, '--store', server.url('gatehouse_store'), '--data-dir', path.join(work, dataDir), '--postgres-listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--log-level', 'warn', '--audit-flush-ms', '50'], {
        env: { ...process.env, BENCH_DB_PASSWORD: benchPassword },
        // With --perf-basic-prof, V8 writes a log into the working directory: keep it in the bench's own.
        cwd: work,
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      children.push(child)
      await waitForPort(port)
      await waitForPort(adminPort)
      return { child, port, adminPort }
    }
    const { child: gateway, port: gatewayPort, adminPort } = await startGateway('gateway', [...profileArgs, ...perfArgs])
    /** The gateway's own count of the store commits sync statements waited for, and their total time. */
    const syncCommits = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
      const sample = (name: string) => Number(new RegExp(`^${name}\\{durability="sync"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0)
      return { commits: sample('gatehouse_audit_commits_total'), seconds: sample('gatehouse_audit_commit_seconds_total') }
    }
    // A second replica (own data directory and audit chain, same store) answers whether more
    // processes would help on this machine: each takes half of the clients.
    const { port: replicaPort } = await startGateway('replica')
    const baseline = values.baseline ? await startGateway('baseline', [], path.resolve(values.baseline)) : undefined

    /** `admin`: the gateway's admin port, for its metrics. */
    type Target = { name: string; port: number; user: string; db: string; password: string; admin?: number }
    const targets: Target[] = [
      { name: 'direct', port: server.port, user: 'bench', db: 'bench', password: benchPassword },
      { name: 'pgbouncer', port: bouncerPort, user: 'bench', db: 'bench', password: benchPassword },
      { name: 'node relay', port: relayPort, user: 'bench', db: 'bench', password: benchPassword },
      { name: 'gateway async', port: gatewayPort, user: 'bench', db: 'bench-async', password: token, admin: adminPort },
      { name: 'gateway sync', port: gatewayPort, user: 'bench', db: 'bench-sync', password: token, admin: adminPort },
    ]
    const baselines: Target[] = baseline
      ? [
          { name: 'baseline async', port: baseline.port, user: 'bench', db: 'bench-async', password: token, admin: baseline.adminPort },
          { name: 'baseline sync', port: baseline.port, user: 'bench', db: 'bench-sync', password: token, admin: baseline.adminPort },
        ]
      : []
    /** Transactions per second of `pgbench -S` against one target, and how many it ran. */
    const pgbenchRun = async (t: Target, clients: number, mode: string, extra: string[] = []) => {
      const { stdout } = await execFileAsync(path.join(bin, 'pgbench'), ['-h', '127.0.0.1', '-p', String(t.port), '-U', t.user, '-S', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(SECONDS), '-n', ...extra, t.db], {
        env: { ...process.env, PGPASSWORD: t.password, PGSSLMODE: 'disable' },
      })
      return { tps: Number(/tps = ([\d.]+)/.exec(stdout)?.[1]), transactions: Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]) }
    }
    const pgbench = async (t: Target, clients: number, mode: string, extra: string[] = []) => (await pgbenchRun(t, clients, mode, extra)).tps
    const gateways = targets.filter((t) => t.name.startsWith('gateway'))
    /** Eight clients split over the gateway and its replica, four each, at the same time. */
    const replicated = async (t: Target, mode: string) => (await Promise.all([pgbench(t, 4, mode), pgbench({ ...t, port: replicaPort }, 4, mode)])).reduce((a, b) => a + b)
    /** Median per-transaction latency at one client, from pgbench's transaction log. */
    const medianLatency = async (t: Target, mode: string) => {
      const dir = mkdtempSync(path.join(work, 'log-'))
      await pgbench(t, 1, mode, ['-l', '--log-prefix', path.join(dir, 'tx')])
      const latencies: number[] = []
      for (const file of readdirSync(dir)) for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) if (line) latencies.push(Number(line.split(' ')[2]))
      rmSync(dir, { recursive: true, force: true })
      return median(latencies) / 1000
    }

    // Masking throughput: 200,000 rows, masked columns and detectors on, against the same query without masks.
    const rowsPerSecond = async (user: string, password: string) => {
      const client = new pg.Client({ host: '127.0.0.1', port: gatewayPort, user, password, database: 'bench-async' })
      await client.connect()
      const samples: number[] = []
      for (let i = 0; i < ROUNDS + 2; i++) {
        const start = process.hrtime.bigint()
        const result = await client.query('SELECT id, email, note, token FROM big')
        samples.push(result.rowCount! / (Number(process.hrtime.bigint() - start) / 1e9))
      }
      await client.end()
      return median(samples)
    }
    /** A gateway's metrics, as name{labels} -> value. */
    const gatewayMetrics = async (admin = adminPort) => {
      const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
      return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]))
    }
    /** Samples the audit writer every 100 ms until stopped: its worst queue depth and oldest unwritten event. */
    const watchWriter = (admin: number) => {
      const worst = { queue: 0, oldestMs: NaN }
      let stopped = false
      const done = (async () => {
        while (!stopped) {
          const sample = await gatewayMetrics(admin)
          worst.queue = Math.max(worst.queue, sample.get('gatehouse_audit_queue') ?? 0)
          const oldest = sample.get('gatehouse_audit_oldest_event_seconds')
          if (oldest !== undefined) worst.oldestMs = Math.max(Number.isNaN(worst.oldestMs) ? 0 : worst.oldestMs, oldest * 1000)
          await new Promise((r) => setTimeout(r, 100))
        }
      })()
      return async () => ((stopped = true), await done, worst)
    }
    const postmasterPid = Number(readFileSync(path.join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const admin = new pg.Client({ host: server.host, port: server.port, user: server.superuser.user, password: server.superuser.password, database: 'postgres' })
    await admin.connect()
    const backends = new BackendCpu(
      postmasterPid,
      async () => new Map((await admin.query<{ pid: number; datname: string }>('SELECT pid, datname FROM pg_stat_activity WHERE datname IS NOT NULL')).rows.map((r) => [r.pid, r.datname])),
      'bench',
    )
    const proxyPid: Record<string, number | undefined> = {
      pgbouncer: childPids(bouncer.pid!)[0] ?? bouncer.pid,
      'node relay': relay.pid,
      'gateway async': gateway.pid,
      'gateway sync': gateway.pid,
      'baseline async': baseline?.child.pid,
      'baseline sync': baseline?.child.pid,
    }
    const COST_PARTS = ['tps', 'proxy', 'upstream', 'store', 'other', 'client', 'total', 'events', 'queue', 'oldest'] as const
    /** One 8-client simple-protocol run: CPU µs per transaction of each process on the path, and the writer's backlog. */
    const costRun = async (t: Target, rate?: number): Promise<Record<(typeof COST_PARTS)[number], number>> => {
      const pid = proxyPid[t.name]
      const proxyBefore = pid ? processCpu(pid)!.own : 0
      const clientBefore = processCpu(process.pid)!.reaped
      const { admin } = t
      const written = async () => (admin ? ((await gatewayMetrics(admin)).get('gatehouse_audit_events_written_total') ?? 0) : 0)
      const writtenBefore = await written()
      backends.start()
      const watching = admin ? watchWriter(admin) : undefined
      const { tps, transactions } = await pgbenchRun(t, 8, 'simple', rate ? ['-R', String(rate)] : [])
      const worst = (await watching?.()) ?? { queue: NaN, oldestMs: NaN }
      // What the run queued is part of its cost: wait until it is written, and until the closed connections' backends are reaped.
      for (let i = 0; i < 100 && admin && (await gatewayMetrics(admin)).get('gatehouse_audit_queue'); i++) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 300))
      const spent = await backends.stop()
      const perTx = (seconds: number) => (seconds * 1e6) / transactions
      const parts = {
        proxy: perTx(pid ? processCpu(pid)!.own - proxyBefore : 0),
        upstream: perTx(spent.get('bench') ?? 0),
        store: perTx(spent.get('gatehouse_store') ?? 0),
        other: perTx(spent.get('other') ?? 0),
        client: perTx(processCpu(process.pid)!.reaped - clientBefore),
      }
      const total = parts.proxy + parts.upstream + parts.store + parts.other + parts.client
      return { tps, ...parts, total, events: ((await written()) - writtenBefore) / transactions, queue: worst.queue, oldest: worst.oldestMs }
    }
    /** CPU µs per transaction of the relay and the async gateway, by kind of work, from perf at the equal rate. */
    async function perfBreakdown(): Promise<void> {
      const rate = Number(values.rate ?? 1000)
      const hz = 999
      const spent = new Map<string, Map<string, number>>()
      for (const t of targets.filter((t) => t.name === 'node relay' || t.name === 'gateway async')) {
        const pid = proxyPid[t.name]!
        await pgbenchRun(t, 8, 'simple')
        const data = path.join(work, 'perf.data')
        const perf = spawn('perf', ['record', '-F', String(hz), '-g', '-o', data, '-p', String(pid)], { stdio: 'ignore' })
        await new Promise((r) => setTimeout(r, 500))
        const { transactions } = await pgbenchRun(t, 8, 'simple', ['-R', String(rate)])
        perf.kill('SIGINT')
        await new Promise((r) => perf.once('exit', r))
        const { stdout } = await execFileAsync('perf', ['script', '-i', data, '-F', 'comm,tid,ip,sym'], { maxBuffer: 1024 * 1024 * 1024 })
        rmSync(data, { force: true })
        // The symbol map --perf-basic-prof keeps for perf: not needed once read.
        rmSync(path.join(tmpdir(), `perf-${pid}.map`), { force: true })
        spent.set(t.name, new Map([...cpuBreakdown(stdout, pid)].map(([kind, samples]) => [kind, (samples / hz / transactions) * 1e6])))
      }
      const relay = spent.get('node relay')!
      const gateway = spent.get('gateway async')!
      const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
      console.log(`\nCPU µs per transaction by kind of work (perf record -F ${hz} -g, pgbench -S -M simple -c 8 -R ${rate}, ${SECONDS} s, after a saturated run)`)
      console.log('| kind of work | node relay | gateway async | gateway − relay |')
      console.log('| --- | --- | --- | --- |')
      for (const kind of KINDS) console.log(`| ${kind} | ${relay.get(kind)!.toFixed(1)} | ${gateway.get(kind)!.toFixed(1)} | ${(gateway.get(kind)! - relay.get(kind)!).toFixed(1)} |`)
      console.log(`| total | ${total(relay).toFixed(1)} | ${total(gateway).toFixed(1)} | ${(total(gateway) - total(relay)).toFixed(1)} |`)
    }
    async function measureCost(): Promise<void> {
      const costs = new Map<string, Record<string, number>[]>()
      let rate = values.rate ? Number(values.rate) : undefined
      const only = values.paths?.split(',')
      const measured = [...targets, ...baselines].filter((t) => !only || only.includes(t.name))
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of measured) costs.set(`saturation ${t.name}`, [...(costs.get(`saturation ${t.name}`) ?? []), await costRun(t)])
        // Sync audit is far slower than the rest: the equal rate follows async, and sync's row shows what it reached.
        // Without the async gateway among --paths, the rate the design notes quote.
        rate ??= costs.has('saturation gateway async') ? Math.floor(0.8 * costs.get('saturation gateway async')![0]!['tps']!) : 1000
        for (const t of measured) costs.set(`rate ${t.name}`, [...(costs.get(`rate ${t.name}`) ?? []), await costRun(t, rate)])
        console.error(`cost round ${round + 1}/${ROUNDS} done`)
      }
      const cm = (key: string, part: string) => median(costs.get(key)!.map((c) => c[part]!))
      const fixed = (n: number, digits = 0) => (Number.isNaN(n) ? '–' : n.toFixed(digits))
      console.log(`\nCPU µs per transaction, pgbench -S -M simple -c 8, ${SECONDS} s per run, median of ${ROUNDS} rounds; at saturation and at ${rate} tps for every path`)
      console.log('| load | path | tps | proxy | upstream backends | audit-store backends | other PostgreSQL | pgbench | total | total − relay | audit events per tx | writer worst queue | oldest unwritten event (ms) |')
      console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
      for (const load of ['saturation', 'rate']) {
        const relay = costs.has(`${load} node relay`) ? cm(`${load} node relay`, 'total') : NaN
        for (const t of measured) {
          const key = `${load} ${t.name}`
          const c = (part: string) => fixed(cm(key, part))
          console.log(`| ${load === 'rate' ? `${rate} tps` : 'saturation'} | ${t.name} | ${c('tps')} | ${c('proxy')} | ${c('upstream')} | ${c('store')} | ${c('other')} | ${c('client')} | ${c('total')} | ${fixed(cm(key, 'total') - relay)} | ${fixed(cm(key, 'events'), 2)} | ${c('queue')} | ${c('oldest')} |`)
        }
      }
      await admin.end()
    }
    if (values.profile) {
      // BENCH_PROFILE_RUN=masking profiles the 200,000-row result instead.
      if (process.env.BENCH_PROFILE_RUN === 'masking') console.log(await rowsPerSecond('bench', token), 'rows/s masked,', await rowsPerSecond('plain', plainToken), 'unmasked')
      else console.log(await pgbench(targets[3]!, 8, process.env.BENCH_MODE ?? 'simple'), 'tps')
      gateway.kill('SIGTERM')
      await new Promise((r) => gateway.once('exit', r))
      await admin.end()
      return
    }
    if (values.perf) {
      await perfBreakdown()
      await admin.end()
      return
    }
    await measureCost()
    if (values.only === 'cost') return
    const results = new Map<string, number[]>()
    const add = (key: string, value: number) => results.set(key, [...(results.get(key) ?? []), value])
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['simple', 'extended']) {
        for (const clients of [1, 8]) {
          for (const t of targets) {
            const before = await syncCommits()
            add(`tps ${mode} ${clients} ${t.name}`, await pgbench(t, clients, mode))
            const after = await syncCommits()
            if (t.name === 'gateway sync') add(`commit ${mode} ${clients}`, ((after.seconds - before.seconds) / (after.commits - before.commits)) * 1000)
          }
        }
        for (const t of gateways) add(`tps ${mode} replicas ${t.name}`, await replicated(t, mode))
        for (const t of targets) add(`latency ${mode} ${t.name}`, await medianLatency(t, mode))
      }
      console.error(`round ${round + 1}/${ROUNDS} done`)
    }
    const m = (key: string) => median(results.get(key) ?? [NaN])
    console.log(`\npgbench -S, scale 10, ${SECONDS} s per run, median of ${ROUNDS} rounds`)
    console.log('| protocol | clients | direct tps | PgBouncer tps | Node.js byte relay tps (× PgBouncer) | gateway async tps (× PgBouncer) | gateway sync tps (× PgBouncer) |')
    console.log('| --- | --- | --- | --- | --- | --- | --- |')
    for (const mode of ['simple', 'extended']) {
      for (const clients of [1, 8, 'replicas']) {
        const bouncer = m(`tps ${mode} ${clients === 'replicas' ? 8 : clients} pgbouncer`)
        const cell = (name: string) => `${m(`tps ${mode} ${clients} ${name}`).toFixed(0)} (${(m(`tps ${mode} ${clients} ${name}`) / bouncer).toFixed(2)}×)`
        if (clients === 'replicas') console.log(`| ${mode} | 8, over two gateway replicas | | | | ${cell('gateway async')} | ${cell('gateway sync')} |`)
        else console.log(`| ${mode} | ${clients} | ${m(`tps ${mode} ${clients} direct`).toFixed(0)} | ${bouncer.toFixed(0)} | ${cell('node relay')} | ${cell('gateway async')} | ${cell('gateway sync')} |`)
      }
    }
    console.log('\nmedian latency at 1 client (ms), and what each proxy adds to direct')
    console.log('| protocol | direct | PgBouncer (+) | Node.js byte relay (+) | gateway async (+) | gateway sync (+) |')
    console.log('| --- | --- | --- | --- | --- | --- |')
    for (const mode of ['simple', 'extended']) {
      const direct = m(`latency ${mode} direct`)
      const cell = (name: string) => `${m(`latency ${mode} ${name}`).toFixed(3)} (+${(m(`latency ${mode} ${name}`) - direct).toFixed(3)})`
      console.log(`| ${mode} | ${direct.toFixed(3)} | ${cell('pgbouncer')} | ${cell('node relay')} | ${cell('gateway async')} | ${cell('gateway sync')} |`)
    }

    const commit = (mode: string) => `${m(`commit ${mode} 1`).toFixed(2)} / ${m(`commit ${mode} 8`).toFixed(2)} ms`
    console.log(`\nstore commits sync statements waited for (the gateway's metrics), mean at 1 / 8 clients: simple ${commit('simple')}, extended ${commit('extended')}`)

    const masked = await rowsPerSecond('bench', token)
    const unmasked = await rowsPerSecond('plain', plainToken)
    console.log(`\n200,000-row result: masked ${masked.toFixed(0)} rows/s, unmasked ${unmasked.toFixed(0)} rows/s (${(masked / unmasked).toFixed(2)}×)`)

    // 500 idle connections.
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gateway.pid}/status`, 'utf8'))?.[1]) / 1024
    const idle: pg.Client[] = []
    for (let i = 0; i < 500; i++) {
      const c = new pg.Client({ host: '127.0.0.1', port: gatewayPort, user: 'bench', password: token, database: 'bench-async' })
      // Should a later step fail, the gateway's shutdown ends these: not an error to crash on, hiding the one that did.
      c.on('error', () => undefined)
      idle.push(c)
      await c.connect()
    }
    await new Promise((r) => setTimeout(r, 2000))
    console.log(`\n500 idle client connections: gateway resident memory ${rss().toFixed(0)} MB`)
    await Promise.all(idle.map((c) => c.end()))

    // 100 reloads under load.
    const load = spawn(path.join(bin, 'pgbench'), ['-h', '127.0.0.1', '-p', String(gatewayPort), '-U', 'bench', '-S', '-c', '8', '-j', '2', '-T', '30', '-n', 'bench-async'], { env: { ...process.env, PGPASSWORD: token } })
    let loadOut = ''
    load.stdout.on('data', (d: Buffer) => (loadOut += d))
    load.stderr.on('data', (d: Buffer) => (loadOut += d))
    // Listened for now: on a loaded machine the 100 reloads outlast pgbench's 30 s.
    const loadDone = new Promise<void>((resolve) => load.on('close', () => resolve()))
    for (let i = 0; i < 100; i++) {
      writeFileSync(path.join(repo, 'policies', 'reload.yaml'), `apiVersion: gatehouse.dev/v1\nkind: Policy\nname: reload\ndescription: reload ${i}\nsubjects: {roles: [bench]}\nresources: {names: [bench-async]}\nrules:\n  - {name: r, effect: allow, actions: [select], tables: [public.pgbench_branches]}\n`)
      const next = await compileRepository(await loadDirectory(repo))
      writeFileSync(`${bundlePath}.tmp`, next.bundleText!)
      run('mv', [`${bundlePath}.tmp`, bundlePath])
      await new Promise((r) => setTimeout(r, 200))
    }
    await loadDone
    const processed = /number of transactions actually processed: (\d+)/.exec(loadOut)?.[1]
    const failed = /number of failed transactions: (\d+)/.exec(loadOut)?.[1] ?? '0'
    const aborted = /aborted|error/i.test(loadOut.split('\n').filter((l) => !l.startsWith('number of failed')).join('\n'))
    console.log(`100 bundle reloads during 30 s of pgbench -S at 8 clients: ${processed} transactions, ${failed} failed, ${aborted ? 'clients aborted' : 'no client dropped'}`)
  } finally {
    // The gateway flushes its audit trail on SIGTERM: let it finish before the store goes away.
    const exited = children.map((child) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r))))
    for (const child of children) child.kill('SIGTERM')
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 15_000))])
    await server.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
