// The system tools the end-to-end tests need, installed from Debian's archive
// when missing. A fresh Debian 12 machine has none of them; a developer's
// machine usually has them all, and then this costs a few stat() calls.
import { accessSync, constants, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { registerCleanup } from './cleanup.js'
import { CommandError, lastLines, runCommand } from './command.js'

export interface CommandRequirement {
  /** A name looked up on PATH, or an absolute path. */
  command: string
  /** The Debian package that provides it. */
  package: string
  /**
   * Look in the newest `/usr/lib/postgresql/<version>/bin` instead of PATH:
   * Debian installs PostgreSQL's programs there (PATH only has wrappers for
   * the client tools, and nothing for initdb, pg_ctl and postgres).
   */
  postgresBin?: true
}

export const SERVICE_COMMANDS: readonly CommandRequirement[] = [
  ...['initdb', 'pg_ctl', 'postgres', 'pgbench'].map((command) => ({ command, package: 'postgresql', postgresBin: true as const })),
  // The client tools come with the server package (postgresql-client-<version>).
  ...['psql', 'pg_dump', 'pg_isready'].map((command) => ({ command, package: 'postgresql', postgresBin: true as const })),
  { command: '/usr/sbin/sshd', package: 'openssh-server' },
  ...['ssh', 'scp', 'sftp', 'ssh-keygen'].map((command) => ({ command, package: 'openssh-client' })),
  { command: 'rsync', package: 'rsync' },
  // sshd runs xauth to hand a forwarded X11 display its cookie.
  { command: 'xauth', package: 'xauth' },
  { command: 'openssl', package: 'openssl' },
  { command: 'runuser', package: 'util-linux' },
  { command: 'useradd', package: 'passwd' },
]

const POSTGRES_ROOT = '/usr/lib/postgresql'

/** The bin directory of the newest installed PostgreSQL server, or undefined when there is none. */
export function findPostgresBin(): string | undefined {
  if (!existsSync(POSTGRES_ROOT)) return undefined
  const versions = readdirSync(POSTGRES_ROOT)
    .filter((name) => /^\d+(\.\d+)?$/.test(name) && isExecutable(path.join(POSTGRES_ROOT, name, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(POSTGRES_ROOT, versions[0], 'bin')
}

/** Where `requirement` is installed, or undefined. */
export function findCommand(requirement: CommandRequirement): string | undefined {
  if (requirement.postgresBin) {
    const bin = findPostgresBin()
    const file = bin === undefined ? undefined : path.join(bin, requirement.command)
    return file !== undefined && isExecutable(file) ? file : undefined
  }
  if (path.isAbsolute(requirement.command)) return isExecutable(requirement.command) ? requirement.command : undefined
  // root's PATH has the sbin directories; a test runner's may not.
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    const file = path.join(dir || '.', requirement.command)
    if (isExecutable(file)) return file
  }
  return undefined
}

export interface InstallReport {
  /** Packages installed by this call; empty when everything was present. */
  installed: string[]
}

/**
 * Installs the packages behind any missing command with one `apt-get update`
 * and one `apt-get install`, then checks again. Throws when not root and
 * something is missing, or when a command is still missing afterwards.
 */
export async function ensureCommands(requirements: readonly CommandRequirement[] = SERVICE_COMMANDS): Promise<InstallReport> {
  const missing = requirements.filter((requirement) => findCommand(requirement) === undefined)
  if (missing.length === 0) return { installed: [] }
  const packages = [...new Set(missing.map((requirement) => requirement.package))]
  const commands = missing.map((requirement) => `\`${requirement.command}\``).join(', ')
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${commands}; the test command installs them with apt-get, which needs root\n` +
        `help: run the tests as root, or install them yourself: apt-get install --no-install-recommends ${packages.join(' ')}`,
    )
  }
  const started = Date.now()
  await withServiceStartsDenied(async () => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    try {
      await runCommand('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 })
      await runCommand('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env, timeoutMs: 1_200_000 })
    } catch (error) {
      if (!(error instanceof CommandError)) throw error
      throw new Error(`could not install ${packages.join(' ')} for ${commands}: ${error.message}\n${lastLines(error.stdout, 20)}`)
    }
  })
  console.log(`provision: installed ${packages.join(' ')} (for ${commands}) in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  const still = requirements.filter((requirement) => findCommand(requirement) === undefined)
  if (still.length > 0) {
    throw new Error(`still missing after installing ${packages.join(' ')}: ${still.map((requirement) => `\`${requirement.command}\``).join(', ')}`)
  }
  return { installed: packages }
}

/**
 * Keeps the packages' maintainer scripts from starting the system PostgreSQL
 * cluster (port 5432) and sshd (port 22): the tests use their own servers, and
 * system services would outlive the test run. `policy-rc.d` answering 101 is
 * Debian's documented switch for this (invoke-rc.d(8)); an existing one is
 * left alone.
 */
async function withServiceStartsDenied(install: () => Promise<void>): Promise<void> {
  const policy = '/usr/sbin/policy-rc.d'
  if (existsSync(policy)) return install()
  writeFileSync(policy, '#!/bin/sh\n# written by gatehouse test/services/packages.ts while installing\nexit 101\n', { mode: 0o755 })
  const remove = (): void => rmSync(policy, { force: true })
  const unregister = registerCleanup(remove) // also when interrupted mid-install
  try {
    await install()
  } finally {
    unregister()
    remove()
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}
