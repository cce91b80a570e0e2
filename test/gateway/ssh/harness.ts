// A gateway in front of the test sshd, for the SSH front's end-to-end tests:
// the test repository (test/cases/ssh-repo) with a fresh key per identity,
// its resources pointed at the sshd the test command started, a fresh store
// database, and the gateway started in this process on free ports. Clients
// are the real OpenSSH programs (ssh, scp, sftp, rsync) and ssh2's client.
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import ssh2 from 'ssh2'
import type { GatewayConfig } from '../../../gateway/config.js'
import type { RunningGateway } from '../../../gateway/gateway.js'
import { HOST_KEY_FILE } from '../../../gateway/ssh/host-key.js'
import { queryEvents } from '../../../store/audit-read.js'
import type { StoredEvent } from '../../../store/audit-log.js'
import { postgresFromEnv, sshdFromEnv } from '../../services/env.js'
import { runCommand } from '../../services/command.js'
import { SSH_TEST_USER } from '../../services/sshd.js'
import { ROOT } from '../../helpers/repo.js'
import { editYaml } from '../harness.js'
import { compileBundle, startTestGateway } from '../start-gateway.js'

export const REPO = path.join(ROOT, 'test', 'cases', 'ssh-repo')
export const IDENTITIES = ['deployer', 'operator', 'outsider'] as const

export interface Run {
  status: number | null
  stdout: Buffer
  stderr: string
}

export interface ExecResult {
  code: number | null
  signal: string | undefined
  stdout: Buffer
  stderr: Buffer
}

export interface SshGateway {
  port: number
  dir: string
  storeUrl: string
  /** Private key file of each identity. */
  keys: Record<string, string>
  /** A known_hosts file holding the gateway's host key. */
  knownHosts: string
  /** Scripts the `inspect` rule may run with bash (owned by the upstream user). */
  scripts: string
  /** The tree the `files` rule reads (and writes below `upload/`). */
  files: string
  gateway: RunningGateway
  /** OpenSSH's ssh through the gateway: `ssh -p PORT RESOURCE@127.0.0.1 COMMAND`. */
  ssh(identity: string, resource: string, command: string | undefined, options?: { input?: string | Buffer; args?: string[] }): Promise<Run>
  /** Any OpenSSH program (scp, sftp, rsync -e) with the options that reach the gateway as `identity`. */
  run(program: string, args: string[], options?: { input?: string }): Promise<Run>
  /** `-o` options for ssh, scp and sftp logging in as `identity`. */
  sshOptions(identity: string): string[]
  /** ssh2's client, logged in as `identity` on `resource`. */
  connect(identity: string, resource: string): Promise<ssh2.Client>
  exec(client: ssh2.Client, command: string, input?: string): Promise<ExecResult>
  writeScript(name: string, text: string): string
  recompile(edit: (repo: string) => void): Promise<void>
  events(filter?: { sessionId?: string; kinds?: string[] }): Promise<StoredEvent[]>
  stop(): Promise<void>
}

let counter = 0

function collect(child: ReturnType<typeof spawn>, input: string | Buffer | undefined): Promise<Run> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = []
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => stdout.push(d))
    child.stderr!.on('data', (d: Buffer) => (stderr += d))
    child.stdin!.on('error', () => undefined)
    child.stdin!.end(input)
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(stdout), stderr }))
  })
}

export async function startSshGateway(options: { config?: Partial<GatewayConfig> } = {}): Promise<SshGateway> {
  const server = postgresFromEnv()
  const sshd = sshdFromEnv()
  const suffix = `${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 6)}`
  const storeDatabase = `sshstore_${suffix}`
  const admin = new pg.Client({ connectionString: server.url('postgres') })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${storeDatabase}`)
  await admin.end()

  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-ssh-'))
  chmodSync(dir, 0o755)
  const repo = path.join(dir, 'repo')
  cpSync(REPO, repo, { recursive: true })
  const upstreamOwned = (name: string) => {
    const full = path.join(dir, name)
    mkdirSync(full, { recursive: true, mode: 0o755 })
    return full
  }
  const scripts = upstreamOwned('scripts')
  const files = upstreamOwned('files')
  mkdirSync(path.join(files, 'upload'))
  const { uid, gid } = userIds(SSH_TEST_USER)
  for (const d of [files, path.join(files, 'upload')]) chownSync(d, uid, gid)

  const keys: Record<string, string> = {}
  const publicKeys: Record<string, string> = {}
  mkdirSync(path.join(dir, 'keys'), { mode: 0o700 })
  // ssh-keygen rather than ssh2's generator: the keys must load in OpenSSH's client exactly as users' keys do.
  for (const identity of [...IDENTITIES, 'other-host']) {
    keys[identity] = path.join(dir, 'keys', identity)
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', identity, '-f', keys[identity]])
    publicKeys[identity] = readFileSync(`${keys[identity]}.pub`, 'utf8').trim()
  }
  const otherHostKey = publicKeys['other-host']!.split(' ').slice(0, 2).join(' ')
  editYaml(path.join(repo, 'resources', 'hosts.yaml'), (doc) => {
    doc.setIn(['ssh', 'host'], sshd.host)
    doc.setIn(['ssh', 'port'], sshd.port)
    doc.setIn(['ssh', 'user'], sshd.user)
    doc.setIn(['ssh', 'privateKey'], doc.createNode({ file: sshd.clientKeyPath }))
    doc.setIn(['ssh', 'hostKey'], doc.get('name') === 'web-2' ? otherHostKey : sshd.hostKey.split(/\s+/).slice(0, 2).join(' '))
  })
  editYaml(path.join(repo, 'identities', 'all.yaml'), (doc) => {
    doc.setIn(['credentials', 'sshKeys'], doc.createNode([publicKeys[doc.get('name') as string]]))
  })
  for (const file of readdirSync(path.join(repo, 'policies'))) {
    const full = path.join(repo, 'policies', file)
    writeFileSync(full, readFileSync(full, 'utf8').replaceAll('SCRIPTS', scripts).replaceAll('FILES', files).replaceAll('SSHD_PORT', String(sshd.port)))
  }
  const bundlePath = path.join(dir, 'bundle.json')
  const recompile = async (edit: (repo: string) => void) => {
    edit(repo)
    await compileBundle(repo, bundlePath)
  }
  await recompile(() => undefined)

  const storeUrl = server.url(storeDatabase)
  const dataDir = path.join(dir, 'gateway')
  const gateway = await startTestGateway({ bundle: bundlePath, dataDir, store: storeUrl, sshListen: { host: '127.0.0.1', port: 0 }, ...options.config })
  const port = gateway.addresses.ssh!.port
  const hostKey = ssh2.utils.parseKey(readFileSync(path.join(dataDir, HOST_KEY_FILE)))
  if (hostKey instanceof Error || Array.isArray(hostKey)) throw new Error('the gateway host key does not parse')
  const knownHosts = path.join(dir, 'known_hosts')
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.type} ${hostKey.getPublicSSH().toString('base64')}\n`)

  const sshOptions = (identity: string) => [
    '-F', '/dev/null',
    '-i', keys[identity] ?? path.join(dir, 'keys', identity),
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10',
  ]

  return {
    port,
    dir,
    storeUrl,
    keys,
    knownHosts,
    scripts,
    files,
    gateway,
    ssh(identity, resource, command, opts = {}) {
      const args = [...sshOptions(identity), '-p', String(port), ...(opts.args ?? []), `${resource}@127.0.0.1`, ...(command === undefined ? [] : [command])]
      return collect(spawn('ssh', args, { stdio: 'pipe' }), opts.input)
    },
    run(program, args, opts = {}) {
      return collect(spawn(program, args, { stdio: 'pipe' }), opts.input)
    },
    sshOptions,
    connect(identity, resource) {
      return new Promise((resolve, reject) => {
        const client = new ssh2.Client()
        client.once('ready', () => resolve(client))
        client.once('error', reject)
        client.connect({ host: '127.0.0.1', port, username: resource, privateKey: readFileSync(keys[identity]!), readyTimeout: 10_000 })
      })
    },
    exec(client, command, input) {
      return new Promise((resolve, reject) => {
        client.exec(command, (err, channel) => {
          if (err) return reject(err)
          const stdout: Buffer[] = []
          const stderr: Buffer[] = []
          let code: number | null = null
          let signal: string | undefined
          channel.on('data', (d: Buffer) => stdout.push(d))
          channel.stderr.on('data', (d: Buffer) => stderr.push(d))
          channel.on('exit', (c: number | null, s?: string) => ((code = c), (signal = s)))
          channel.on('close', () => resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }))
          channel.end(input)
        })
      })
    },
    writeScript(name, text) {
      const file = path.join(scripts, name)
      writeFileSync(file, text, { mode: 0o755 })
      return file
    },
    recompile,
    async events(filter = {}) {
      await gateway.context.audit.flush()
      return queryEvents(gateway.context.db, { ...filter, limit: 100_000 })
    },
    async stop() {
      await gateway.stop()
      const drop = new pg.Client({ connectionString: server.url('postgres') })
      await drop.connect()
      await drop.query(`DROP DATABASE IF EXISTS ${storeDatabase} WITH (FORCE)`)
      await drop.end()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function userIds(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`))
  const [, , uid, gid] = line?.split(':') ?? []
  if (uid === undefined || gid === undefined) throw new Error(`no user ${user}`)
  return { uid: Number(uid), gid: Number(gid) }
}

/** Polls until `check` passes or the time runs out; returns the last value. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (check(value) || Date.now() > deadline) return value
    await new Promise((r) => setTimeout(r, 50))
  }
}
