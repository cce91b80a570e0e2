// How fast the tools start and how much memory they hold: the commands people
// run by hand and in CI, the gateway on the embedded store (a first start on a
// new data directory and a restart), and `npm start`. Medians of several runs,
// wall time and CPU time (user + system, which other work on a shared machine
// disturbs far less than wall time), with a bare `node -e 0` measured in the
// same run as the reference.
//   npm run build && node dist/bench/startup.js [--runs 7] [--servers 5]
// Goals: validate and explain under 0.3 s, explain --sql under 0.5 s; the
// gateway ready under 3 s on a first start and 1.5 s on a restart, under
// 250 MB idle; `npm start` ready under 8 s and under 400 MB.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { median } from './stats.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, servers: { type: 'string', default: '5' }, idle: { type: 'string', default: '3' } } })
const runs = Number(values.runs)
const servers = Number(values.servers)
const idleSeconds = Number(values.idle)
const root = path.resolve(import.meta.dirname, '..', '..')
const gatehouse = path.join(root, 'dist', 'bin', 'gatehouse.js')
const example = path.join(root, 'policies.example')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-startup-'))

interface Sample {
  seconds: number
  cpuSeconds: number
  megabytes: number
}

/** Runs a command to completion: wall seconds, CPU seconds of it and its children, peak resident MB. */
function runCommand(command: string, args: string[]): Sample {
  // /usr/bin/time is not on every machine; a shell's `times` is.
  const script = `"$@" >/dev/null 2>"$BENCH_ERR"; status=$?; times; exit $status`
  const errFile = path.join(work, 'stderr')
  const start = process.hrtime.bigint()
  const result = spawnSync('sh', ['-c', script, 'sh', command, '--import', path.join(root, 'bench', 'report-rss.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, BENCH_ERR: errFile },
  })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed (${result.status}): ${readFileSync(errFile, 'utf8').slice(-500)}`)
  // `times` prints the shell's own user/system line, then its children's.
  const children = result.stdout.trim().split('\n').at(-1) ?? ''
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0)
  const rss = /max-rss-bytes (\d+)/.exec(readFileSync(errFile, 'utf8'))
  return { seconds, cpuSeconds, megabytes: rss ? Number(rss[1]) / 1e6 : NaN }
}

function residentMegabytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1000 : 0
  } catch {
    return 0
  }
}

/** Every process under `pid`, itself included (npm start runs a shell that runs node). */
function processTree(pid: number): number[] {
  const out = [pid]
  for (const task of (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    } catch {
      return []
    }
  })())
    out.push(...processTree(task))
  return out
}

function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

interface ServerSample {
  seconds: number
  cpuSeconds: number
  peakMegabytes: number
  idleMegabytes: number
}

/** Starts a long-running command, waits for `ready` in its output, then for it to idle; stops it with SIGINT. */
async function runServer(command: string, args: string[], ready: RegExp): Promise<ServerSample> {
  const start = process.hrtime.bigint()
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  const seconds = await new Promise<number>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk
      if (ready.test(output)) resolve(Number(process.hrtime.bigint() - start) / 1e9)
    }
    child.stdout.on('data', seen)
    child.stderr.on('data', seen)
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${output.slice(-500)}`)))
  })
  const tree = processTree(child.pid!)
  const cpuSeconds = tree.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0)
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
  const now = processTree(child.pid!)
  const idleMegabytes = now.reduce((sum, pid) => sum + residentMegabytes(pid, 'VmRSS'), 0)
  const peakMegabytes = now.reduce((sum, pid) => sum + residentMegabytes(pid, 'VmHWM'), 0)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(-child.pid!, 'SIGINT')
  await exited
  return { seconds, cpuSeconds, peakMegabytes, idleMegabytes }
}

const table: string[] = ['| what | goal | wall s (median) | CPU s (median) | MB |', '| --- | --- | --- | --- | --- |']
const fmt = (n: number, digits = 2) => n.toFixed(digits)

function recordCommand(name: string, goal: string, args: string[]): void {
  const samples = Array.from({ length: runs }, () => runCommand(process.execPath, args))
  table.push(`| ${name} | ${goal} | ${fmt(median(samples.map((s) => s.seconds)))} | ${fmt(median(samples.map((s) => s.cpuSeconds)))} | ${fmt(median(samples.map((s) => s.megabytes)), 0)} peak |`)
}

async function recordServer(name: string, goal: string, samples: ServerSample[]): Promise<void> {
  table.push(
    `| ${name} | ${goal} | ${fmt(median(samples.map((s) => s.seconds)))} | ${fmt(median(samples.map((s) => s.cpuSeconds)))} | ` +
      `${fmt(median(samples.map((s) => s.idleMegabytes)), 0)} idle, ${fmt(median(samples.map((s) => s.peakMegabytes)), 0)} peak |`,
  )
}

try {
  const bundle = path.join(work, 'bundle.json')
  runCommand(process.execPath, [gatehouse, 'compile', example, '-o', bundle])
  recordCommand('`node -e 0` (reference)', '', ['-e', '0'])
  recordCommand('`gatehouse validate policies.example`', '< 0.3 s', [gatehouse, 'validate', example])
  recordCommand('`gatehouse explain policies.example --identity ci-deploy`', '< 0.3 s', [gatehouse, 'explain', example, '--identity', 'ci-deploy'])
  recordCommand('`gatehouse explain … --sql …`', '< 0.5 s', [gatehouse, 'explain', example, '--identity', 'orders-reporting', '--resource', 'orders-db', '--sql', 'SELECT email FROM customers; DELETE FROM orders'])
  recordCommand('`gatehouse test policies.example`', '', [gatehouse, 'test', example])

  const gateway = (dataDir: string) => [gatehouse, 'gateway', '--bundle', bundle, '--data-dir', dataDir, '--postgres-listen', '127.0.0.1:0', '--log-level', 'warn']
  const first: ServerSample[] = []
  const restart: ServerSample[] = []
  for (let i = 0; i < servers; i++) {
    const dataDir = path.join(work, `gateway-${i}`)
    first.push(await runServer(process.execPath, gateway(dataDir), /gateway running/))
    restart.push(await runServer(process.execPath, gateway(dataDir), /gateway running/))
  }
  await recordServer('gateway, embedded store, first start', '< 3 s, < 250 MB idle', first)
  await recordServer('gateway, embedded store, restart', '< 1.5 s, < 250 MB idle', restart)

  const demo: ServerSample[] = []
  for (let i = 0; i < Math.min(servers, 3); i++) demo.push(await runServer('npm', ['start', '--silent', '--', '--port', '0'], /Press Ctrl-C to stop/))
  await recordServer('`npm start` (the demo), ready to paste', '< 8 s, < 400 MB', demo)

  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(`Node.js ${process.version}, ${runs} runs per command, ${servers} per server (load average ${load})\n`)
  console.log(table.join('\n'))
} finally {
  rmSync(work, { recursive: true, force: true })
}
