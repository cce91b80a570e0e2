// Runs the real `gatehouse` executable (the build in dist/), as users do.
import { spawnSync } from 'node:child_process'
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
