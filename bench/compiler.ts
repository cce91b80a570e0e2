// Wall time and peak memory of `gatehouse validate`, `compile` and `diff` on
// a generated repository of 10,000 identities, 1,000 resources and 2,000
// policies, medians of several runs. Goals: validate and compile under 3 s
// and 500 MB; diff of two revisions under 5 s.
//   npm run build && node dist/bench/compiler.js [--runs 5]
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { median } from './stats.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } })
const runs = Number(values.runs)
const root = path.resolve(import.meta.dirname, '..', '..')
const gatehouse = path.join(root, 'dist', 'bin', 'gatehouse.js')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'))

function generate(out: string, variant: number): void {
  execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'generate-repo.js'), out, '--variant', String(variant)], { stdio: 'ignore' })
}

/** Runs a gatehouse command; returns seconds and peak resident megabytes. */
function measure(args: string[], cwd = work): { seconds: number; megabytes: number } {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, ['--import', path.join(root, 'bench', 'report-rss.mjs'), gatehouse, ...args], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (result.status !== 0 && result.status !== 1) throw new Error(`gatehouse ${args[0]} failed: ${result.stderr.slice(-500)}`)
  const rss = /max-rss-bytes (\d+)/.exec(result.stderr)
  return { seconds, megabytes: rss ? Number(rss[1]) / 1e6 : NaN }
}

try {
  const repo = path.join(work, 'repo')
  generate(path.join(repo, 'policies'), 0)
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo })
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], { cwd: repo, stdio: 'ignore' })
  git('add', '-A')
  git('commit', '-qm', 'base')
  const head = path.join(work, 'head')
  generate(head, 7)
  rmSync(path.join(repo, 'policies'), { recursive: true })
  cpSync(head, path.join(repo, 'policies'), { recursive: true })
  git('add', '-A')
  git('commit', '-qm', 'head')

  const policies = path.join(repo, 'policies')
  const rows: Array<[string, number, number, string]> = []
  const record = (name: string, goal: string, args: string[]) => {
    const samples = Array.from({ length: runs }, () => measure(args))
    rows.push([name, median(samples.map((s) => s.seconds)), Math.max(...samples.map((s) => s.megabytes)), goal])
  }
  record('validate', '< 3 s, < 500 MB', ['validate', policies])
  record('compile', '< 3 s, < 500 MB', ['compile', policies, '-o', path.join(work, 'bundle.json')])
  record('diff (two revisions)', '< 5 s', ['diff', 'HEAD~1', 'HEAD', '--repo', policies, '--format', 'json'])
  console.log(`generated repository: 10,000 identities, 1,000 resources, 2,000 policies; median of ${runs} runs`)
  console.log('| command | median wall time | peak memory | goal |')
  console.log('| --- | --- | --- | --- |')
  for (const [name, seconds, megabytes, goal] of rows) console.log(`| ${name} | ${seconds.toFixed(2)} s | ${megabytes.toFixed(0)} MB | ${goal} |`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
