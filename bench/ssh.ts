// The SSH data path, side by side in one run against one real OpenSSH server:
// direct, and through the gateway with enforcement, masking and recording on
// (sync audit to a PostgreSQL store, every byte of output recorded).
//   npm run build && node dist/bench/ssh.js [--rounds 5] [--node-flags=--single-threaded-gc]
// Prints, as medians of the rounds (direct and gateway interleaved so noise
// hits both alike): a trivial command's round trip including connection
// setup (OpenSSH's ssh, a new connection each time), 200 MB of stdout
// streamed to the client, and 200 concurrent sessions held open at once.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import ssh2 from 'ssh2'
import { compileRepository } from '../compiler/compile.js'
import { loadDirectory } from '../compiler/load.js'
import { runCommand } from '../test/services/command.js'
import { ensureCommands, SERVICE_COMMANDS } from '../test/services/packages.js'
import { freePort, waitForPort } from '../test/services/ports.js'
import { startPostgres } from '../test/services/postgres.js'
import { startSshd } from '../test/services/sshd.js'
import { median } from './stats.js'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, trivial: { type: 'string', default: '20' }, sessions: { type: 'string', default: '200' }, profile: { type: 'string' }, 'node-flags': { type: 'string' } } })
const ROUNDS = Number(values.rounds)
const TRIVIAL = Number(values.trivial)
const SESSIONS = Number(values.sessions)
const STREAM_BYTES = 200 * 1024 * 1024
const root = path.resolve(import.meta.dirname, '..', '..')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-ssh-'))
const children: ChildProcess[] = []

interface Target {
  name: string
  port: number
  user: string
  knownHosts: string
  key: string
}

/**
 * OpenSSH's ssh running one command; resolves with the seconds it took and the stdout bytes. Both paths use
 * the key exchange the gateway offers (curve25519): OpenSSH's default, sntrup761x25519, costs direct
 * connections about 120 ms more here, and comparing with it would flatter the gateway.
 */
function ssh(target: Target, command: string): Promise<{ seconds: number; bytes: number }> {
  const args = ['-F', '/dev/null', '-i', target.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'KexAlgorithms=curve25519-sha256', '-o', `UserKnownHostsFile=${target.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-p', String(target.port), `${target.user}@127.0.0.1`, command]
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let bytes = 0
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (bytes += d.length))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => (status === 0 ? resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, bytes }) : reject(new Error(`${target.name}: ssh ${command} exited ${status}: ${stderr}`))))
  })
}

/** `count` ssh2 clients, each holding a running command open; resolves with the seconds until all ran to their end. */
async function holdSessions(target: Target, count: number, holdSeconds: number, rss: () => number | undefined): Promise<{ seconds: number; peakRss: number | undefined }> {
  const privateKey = readFileSync(target.key)
  const start = process.hrtime.bigint()
  let running = 0
  let peakRss: number | undefined
  const all = Array.from({ length: count }, () => new Promise<void>((resolve, reject) => {
    const client = new ssh2.Client()
    client.on('error', reject)
    client.on('ready', () => {
      client.exec(`sleep ${holdSeconds}`, (err, channel) => {
        if (err) return reject(err)
        if (++running === count) peakRss = rss()
        channel.resume()
        channel.on('close', (code: number) => (client.end(), code === 0 ? resolve() : reject(new Error(`${target.name}: a held session exited ${code}`))))
      })
    })
    client.connect({ host: '127.0.0.1', port: target.port, username: target.user, privateKey, readyTimeout: 60_000, hostVerifier: () => true })
  }))
  await Promise.all(all)
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRss }
}

async function main(): Promise<void> {
  await ensureCommands(SERVICE_COMMANDS)
  const [postgres, sshd] = await Promise.all([startPostgres(), startSshd()])
  try {
    const admin = new pg.Client({ connectionString: postgres.url('postgres') })
    await admin.connect()
    await admin.query('CREATE DATABASE gatehouse_store')
    await admin.end()
    const identityKey = path.join(work, 'bench-key')
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', identityKey])
    const repo = path.join(work, 'repo')
    const files: Record<string, string> = {
      'gatehouse.yaml': 'apiVersion: gatehouse.dev/v1\nkind: Settings\norganisation: bench\napprovers: ["@bench/owner"]\n',
      'identities/bench.yaml': `apiVersion: gatehouse.dev/v1\nkind: Identity\nname: bench\nowner: "@bench/owner"\nroles: [bench]\ncredentials:\n  sshKeys: ["${readFileSync(`${identityKey}.pub`, 'utf8').trim()}"]\n`,
      'resources/host.yaml': `apiVersion: gatehouse.dev/v1\nkind: Resource\nname: bench-host\ntype: ssh\nowner: "@bench/owner"\naudit: {mode: sync}\nssh: {host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, privateKey: {file: ${sshd.clientKeyPath}}, hostKey: "${sshd.hostKey.split(/\s+/).slice(0, 2).join(' ')}"}\n`,
      'policies/bench.yaml':
        'apiVersion: gatehouse.dev/v1\nkind: Policy\nname: bench\nsubjects: {roles: [bench]}\nresources: {names: [bench-host]}\nrules:\n  - {name: run, effect: allow, exec: ["true", "head -c * /dev/zero", "sleep *"]}\nmasks:\n  - {detector: credit-card, strategy: redact}\n  - {detector: private-key, strategy: redact}\n',
    }
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
      writeFileSync(path.join(repo, file), text)
    }
    const compiled = await compileRepository(await loadDirectory(repo))
    if (!compiled.bundleText) throw new Error(compiled.diagnostics.map((d) => d.message).join('\n'))
    const bundlePath = path.join(work, 'bundle.json')
    writeFileSync(bundlePath, compiled.bundleText)
    const gatewayPort = await freePort()
    const dataDir = path.join(work, 'gateway')
    // --profile DIR: a CPU profile of the gateway over the whole run. --node-flags: flags for the gateway's node.
    const nodeFlags = [...(values['node-flags']?.split(/\s+/).filter(Boolean) ?? []), ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [])]
    const gateway = spawn(process.execPath, [...nodeFlags, path.join(root, 'dist', 'bin', 'gatehouse.js'), 'gateway', '--bundle', bundlePath, '--store', postgres.url('gatehouse_store'), '--data-dir', dataDir, '--ssh-listen', `127.0.0.1:${gatewayPort}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
    children.push(gateway)
    await waitForPort(gatewayPort)
    const hostKey = ssh2.utils.parseKey(readFileSync(path.join(dataDir, 'ssh-host-key')))
    if (hostKey instanceof Error || Array.isArray(hostKey)) throw new Error('the gateway host key does not parse')
    writeFileSync(path.join(work, 'known_hosts_gateway'), `[127.0.0.1]:${gatewayPort} ${hostKey.type} ${hostKey.getPublicSSH().toString('base64')}\n`)
    writeFileSync(path.join(work, 'known_hosts_direct'), `${sshd.knownHostsLine}\n`)
    const direct: Target = { name: 'direct', port: sshd.port, user: sshd.user, knownHosts: path.join(work, 'known_hosts_direct'), key: sshd.clientKeyPath }
    const through: Target = { name: 'gateway', port: gatewayPort, user: 'bench-host', knownHosts: path.join(work, 'known_hosts_gateway'), key: identityKey }
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gateway.pid}/status`, 'utf8'))?.[1]) / 1024

    const trivial: Record<string, number[]> = { direct: [], gateway: [] }
    const stream: Record<string, number[]> = { direct: [], gateway: [] }
    for (const t of [direct, through]) await ssh(t, 'true') // warm up
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of [direct, through]) {
        const times: number[] = []
        for (let i = 0; i < TRIVIAL; i++) times.push((await ssh(t, 'true')).seconds)
        trivial[t.name]!.push(median(times))
        const streamed = await ssh(t, `head -c ${STREAM_BYTES} /dev/zero`)
        if (streamed.bytes !== STREAM_BYTES) throw new Error(`${t.name}: streamed ${streamed.bytes} bytes, not ${STREAM_BYTES}`)
        stream[t.name]!.push(STREAM_BYTES / 1024 / 1024 / streamed.seconds)
      }
      console.error(`round ${round + 1}/${ROUNDS} done`)
    }
    const held: Record<string, { seconds: number; peakRss: number | undefined }> = {}
    for (const t of [direct, through]) held[t.name] = await holdSessions(t, SESSIONS, 5, t === through ? rss : () => undefined)

    const ms = (s: number) => (s * 1000).toFixed(1)
    // Each round's ratio pairs two runs made moments apart, so the machine's noise hits both alike.
    const ratio = (of: Record<string, number[]>) => {
      const ratios = of.gateway!.map((g, i) => g / of.direct![i]!)
      return `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
    }
    console.log(`\nSSH through the gateway (recording, masking, sync audit on): medians of ${ROUNDS} rounds; the ratio is the median of the rounds' ratios (their range)`)
    console.log('| what | direct | gateway | ratio | target |')
    console.log('| --- | --- | --- | --- | --- |')
    console.log(`| \`ssh HOST true\`, new connection each time (median of ${TRIVIAL} per round) | ${ms(median(trivial.direct!))} ms | ${ms(median(trivial.gateway!))} ms | ${ratio(trivial)} | ≤ 1.5× |`)
    console.log(`| 200 MB of stdout (\`head -c 200M /dev/zero\`) | ${median(stream.direct!).toFixed(0)} MB/s | ${median(stream.gateway!).toFixed(0)} MB/s | ${ratio(stream)} | ≥ 0.5× |`)
    console.log(`| ${SESSIONS} concurrent sessions, each \`sleep 5\`, all held at once | ${held.direct!.seconds.toFixed(1)} s | ${held.gateway!.seconds.toFixed(1)} s, gateway RSS ${held.gateway!.peakRss?.toFixed(0)} MB | | all held |`)
    gateway.kill('SIGTERM')
    await new Promise((r) => gateway.once('exit', r))
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    await sshd.stop()
    await postgres.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
