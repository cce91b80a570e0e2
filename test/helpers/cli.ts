// Runs the real `gatehouse` executable (the build in dist/), as users do.
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { ROOT } from './repo.js'

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

export function gatehouse(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** The same, without blocking this process (needed when it runs the gateway the command talks to). */
export function gatehouseAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}
