// Running the system tools the services are built from (initdb, openssl,
// ssh-keygen, apt-get) with their output captured for error messages.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

export interface CommandOptions {
  input?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Run as this system user (through runuser), e.g. `postgres`, which initdb requires. */
  user?: string
  timeoutMs?: number
}

export interface CommandResult {
  stdout: string
  stderr: string
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`\`${command}\` ${status === null ? 'was killed' : `exited with status ${status}`}${stderr.trim() ? `:\n${lastLines(stderr, 20)}` : ''}`)
  }
}

export function runCommand(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const argv = options.user ? ['runuser', '-u', options.user, '--', command, ...args] : [command, ...args]
  const shown = argv.join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', (error) => reject(new Error(`could not run \`${shown}\`: ${error.message}`)))
    child.on('close', (status) => (status === 0 ? resolve({ stdout, stderr }) : reject(new CommandError(shown, status, stdout, stderr))))
    // A program that exits without reading its input must not fail the caller with EPIPE.
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n')
}

/** The end of a server log, for error messages; empty when there is none yet. */
export function logTail(file: string, count = 30): string {
  return existsSync(file) ? lastLines(readFileSync(file, 'utf8'), count) : ''
}
