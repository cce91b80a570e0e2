// A throwaway OpenSSH server for the end-to-end tests: its own config, host
// key and authorized key in a temporary directory, on a free port on
// 127.0.0.1, accepting only public-key logins of one unprivileged user. The
// system sshd (port 22), if any, is neither used nor touched.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { awaitExit, descendantsOf, makeServiceDir, registerCleanup } from './cleanup.js'
import { logTail, runCommand } from './command.js'
import { delay, freePort, readGreeting } from './ports.js'

export const SSH_TEST_USER = 'gatehouse-test'
const SSHD = '/usr/sbin/sshd' // sshd re-executes itself, so it must be started by absolute path

/** Where a running server is and how to log in: what the test processes receive. */
export interface SshdCoordinates {
  host: string
  port: number
  user: string
  /** Private key authorized for `user`: the gateway's upstream key in the tests. */
  clientKeyPath: string
  /** The server's public host key, `ssh-ed25519 AAAA… comment`. */
  hostKey: string
}

export interface SshdClient extends SshdCoordinates {
  /** The host key as a known_hosts line for this host and port, for `UserKnownHostsFile`. */
  knownHostsLine: string
}

export interface SshdServer extends SshdClient {
  configFile: string
  logFile: string
  /** Stops the server and every session it spawned, and removes its directory. Idempotent. */
  stop(): Promise<void>
}

export interface SshdOptions {
  startTimeoutMs?: number
}

export function describeSshd(coordinates: SshdCoordinates): SshdClient {
  const [type, key] = coordinates.hostKey.trim().split(/\s+/)
  // ssh writes non-default ports as `[host]:port` in known_hosts (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).
  return { ...coordinates, knownHostsLine: `[${coordinates.host}]:${coordinates.port} ${type} ${key}` }
}

export async function startSshd(options: SshdOptions = {}): Promise<SshdServer> {
  const timeoutMs = options.startTimeoutMs ?? 20_000
  await ensureTestUser(SSH_TEST_USER)
  // Privilege separation needs this directory (sshd(8)); a fresh machine that
  // never ran the system sshd lacks it, and /run is a tmpfs.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })

  const dir = makeServiceDir('gatehouse-sshd-')
  // sshd reads AuthorizedKeysFile with the user's privileges, so the user must
  // be able to reach it; the private keys inside stay 0600.
  chmodSync(dir, 0o755)
  const file = (name: string): string => path.join(dir, name)
  const logFile = file('sshd.log')
  let child: ChildProcess | undefined
  let stopped = false
  const stopSync = (): void => {
    if (stopped) return
    stopped = true
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) killTree(child.pid)
    rmSync(dir, { recursive: true, force: true })
  }
  const unregister = registerCleanup(stopSync)

  try {
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gatehouse-test-host', '-f', file('host_ed25519')])
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gatehouse-test-upstream', '-f', file('client_ed25519')])
    writeFileSync(file('authorized_keys'), readFileSync(file('client_ed25519.pub')), { mode: 0o644 })
    const hostKey = readFileSync(file('host_ed25519.pub'), 'utf8').trim()

    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const configFile = file('sshd_config')
      writeFileSync(configFile, config(dir, port))
      // -t reports a bad configuration as one clear line instead of an early exit.
      await runCommand(SSHD, ['-t', '-f', configFile])
      const logStart = existsSync(logFile) ? statSync(logFile).size : 0
      const log = openSync(logFile, 'a')
      // Its own process group, so a Ctrl-C at the terminal reaches the runner,
      // which stops sshd in order, rather than sshd directly.
      child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', log, log], detached: true })
      closeSync(log)
      const started = await waitForBanner(child, port, timeoutMs)
      if (started) {
        return {
          ...describeSshd({ host: '127.0.0.1', port, user: SSH_TEST_USER, clientKeyPath: file('client_ed25519'), hostKey }),
          configFile,
          logFile,
          async stop() {
            stopSync()
            unregister()
          },
        }
      }
      const output = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(logStart) : ''
      if (child.pid !== undefined) killTree(child.pid)
      if (attempt < 5 && /Address already in use/.test(output)) continue
      throw new Error(`sshd did not start on 127.0.0.1:${port} within ${timeoutMs} ms\nsshd log:\n${logTail(logFile)}`)
    }
  } catch (error) {
    stopSync()
    unregister()
    throw error
  }
}

function config(dir: string, port: number): string {
  return `# gatehouse test server
Port ${port}
ListenAddress 127.0.0.1
HostKey ${path.join(dir, 'host_ed25519')}
PidFile ${path.join(dir, 'sshd.pid')}
AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}
AllowUsers ${SSH_TEST_USER}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The temporary directory is not laid out the way StrictModes expects of a home.
StrictModes no
LogLevel VERBOSE
Subsystem sftp internal-sftp
X11Forwarding yes
X11UseLocalhost yes
# The concurrency tests open many connections at once; the default 10:30:100
# starts dropping unauthenticated connections at 10.
MaxStartups 200
MaxSessions 50
`
}

/** True once the server greets (RFC 4253 §4.2), false if it exited first or the time ran out. */
async function waitForBanner(child: ChildProcess, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false
    const greeting = await readGreeting('127.0.0.1', port, 1000)
    if (greeting?.startsWith('SSH-2.0-')) return true
    await delay(50)
  }
  return false
}

/**
 * Creates the login user once. Without PAM, OpenSSH refuses accounts whose
 * password field is locked (`!`, as useradd leaves it), so it is set to `*`:
 * no password works, but the account is not locked.
 */
async function ensureTestUser(user: string): Promise<void> {
  if (spawnSync('id', ['-u', user], { stdio: 'ignore' }).status !== 0) {
    try {
      await runCommand('useradd', ['--create-home', '--shell', '/bin/bash', '--comment', 'gatehouse end-to-end tests', user])
    } catch (error) {
      // Another run may have created it meanwhile.
      if (spawnSync('id', ['-u', user], { stdio: 'ignore' }).status !== 0) throw error
    }
  }
  const entry = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${user}:`))
  if (entry?.split(':')[1]?.startsWith('!')) await runCommand('usermod', ['--password', '*', user])
}

/** SIGTERM to sshd and every session below it (they call setsid(), so they are not in its process group). */
function killTree(pid: number): void {
  const targets = [...descendantsOf(pid).reverse(), pid]
  for (const target of targets) {
    try {
      process.kill(target, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  awaitExit(targets)
}
