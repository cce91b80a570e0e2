// The composite action (action.yml) run the way the GitHub runner runs it:
// each step's `if`, `env` and `run` evaluated in order, with the runner's
// GITHUB_* environment (workspace, event payload, step summary, outputs,
// PATH additions), on a workspace checked out as a pull request is: the merge
// of the head into a base branch that has moved on since the branch began.
// The `uses:` steps are the runner's own actions: setup-node is satisfied by
// this Node.js, and upload-artifact's inputs are checked instead of uploaded.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { parse } from 'yaml'
import { openBundle } from '../../engine/bundle-open.js'
import { evaluate, interpolate, type Contexts } from './expressions.js'
import { EXAMPLE, ROOT } from '../helpers/repo.js'
import { createPublicKey } from 'node:crypto'

interface Step {
  id?: string
  name?: string
  if?: string
  uses?: string
  with?: Record<string, string>
  env?: Record<string, string>
  shell?: string
  run?: string
}

interface Action {
  inputs: Record<string, { default?: string }>
  runs: { using: string; steps: Step[] }
}

const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as Action
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-action-'))
const actionPath = path.join(work, 'action')
after(() => rmSync(work, { recursive: true, force: true }))

// The runner's environment, without what `npm test` itself adds.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|GITHUB_|RUNNER_)/i.test(name)))

before(() => {
  // The action's own source, as `uses: OWNER/gatehouse@v0` checks it out: the files Git knows, no node_modules, no dist.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  for (const file of files) if (existsSync(path.join(ROOT, file))) cpSync(path.join(ROOT, file), path.join(actionPath, file))
})

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim()
}

function edit(file: string, change: (text: string) => string): void {
  writeFileSync(file, change(readFileSync(file, 'utf8')))
}

const ORDERS_READ = path.join('policies', 'policies', 'orders-read.yaml')

/**
 * A policy repository in `policies/` of the workspace: main moves on after
 * the branch starts (it adds payments to the reporting tables), and the
 * checkout is the merge of the branch's head into main, as for a pull request.
 */
function pullRequestWorkspace(name: string, change: (text: string) => string): { workspace: string; event: object } {
  const workspace = path.join(work, name)
  mkdirSync(workspace)
  git(workspace, 'init', '-q')
  cpSync(EXAMPLE, path.join(workspace, 'policies'), { recursive: true })
  git(workspace, 'add', '-A')
  git(workspace, 'commit', '-qm', 'start')
  git(workspace, 'checkout', '-qb', 'feature')
  edit(path.join(workspace, ORDERS_READ), change)
  git(workspace, 'commit', '-qam', 'the change under review')
  const head = git(workspace, 'rev-parse', 'HEAD')
  git(workspace, 'checkout', '-q', 'main')
  edit(path.join(workspace, ORDERS_READ), (text) => text.replace('      - public.products\n', '      - public.products\n      - public.payments\n'))
  git(workspace, 'commit', '-qam', 'main moves on')
  const base = git(workspace, 'rev-parse', 'HEAD')
  git(workspace, 'checkout', '-q', '--detach')
  git(workspace, 'merge', '-q', '--no-edit', head)
  return { workspace, event: { pull_request: { number: 7, base: { ref: 'main', sha: base }, head: { ref: 'feature', sha: head } } } }
}

interface Run {
  steps: Array<{ name: string; status: 'success' | 'failure' | 'skipped'; stdout: string; stderr: string }>
  summary: string
  annotations: Array<{ level: string; file?: string; line?: number; title?: string; message: string }>
  artifacts: Array<{ name: string; path: string }>
  outputs: Record<string, Record<string, string>>
  runnerTemp: string
}

function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const end = lines.indexOf(heredoc[2]!, i + 1)
      out[heredoc[1]!] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if (line.includes('=')) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
  }
  return out
}

function parseAnnotations(stdout: string): Run['annotations'] {
  const unescape = (s: string) => s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%')
  return [...stdout.matchAll(/^::(error|warning|notice)(?: ([^:]*))?::(.*)$/gm)].map((m) => {
    const props = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((p) => [p.slice(0, p.indexOf('=')), unescape(p.slice(p.indexOf('=') + 1))]))
    return { level: m[1]!, message: unescape(m[3]!), ...(props.file ? { file: props.file } : {}), ...(props.line ? { line: Number(props.line) } : {}), ...(props.title ? { title: props.title } : {}) }
  })
}

/** Runs the action's steps as the runner would for a pull_request event; stops at the first failing step. */
function runAction(workspace: string, event: object, inputs: Record<string, string>): Run {
  const runnerTemp = mkdtempSync(path.join(work, 'runner-temp-'))
  const files = { event: path.join(runnerTemp, '_event.json'), summary: path.join(runnerTemp, '_summary.md'), path: path.join(runnerTemp, '_path'), output: path.join(runnerTemp, '_output') }
  writeFileSync(files.event, JSON.stringify(event))
  writeFileSync(files.summary, '')
  writeFileSync(files.path, '')
  const contexts: Contexts = {
    inputs: { ...Object.fromEntries(Object.entries(action.inputs).map(([name, input]) => [name, input.default ?? ''])), ...inputs },
    github: { event_name: 'pull_request', action_path: actionPath, workspace, base_ref: 'main', head_ref: 'feature' },
    steps: {},
  }
  const result: Run = { steps: [], summary: '', annotations: [], artifacts: [], outputs: {}, runnerTemp }
  let failed = false
  for (const [index, step] of action.runs.steps.entries()) {
    const name = step.name ?? step.uses ?? `step ${index}`
    if (failed || (step.if !== undefined && !evaluate(step.if, contexts))) {
      result.steps.push({ name, status: 'skipped', stdout: '', stderr: '' })
      continue
    }
    if (step.uses) {
      const uses = step.uses
      const withs = Object.fromEntries(Object.entries(step.with ?? {}).map(([key, value]) => [key, interpolate(String(value), contexts)]))
      if (uses === 'actions/setup-node@v4') assert.ok(Number(withs['node-version']) >= 20, 'a Node.js the package supports')
      else if (uses === 'actions/upload-artifact@v4') {
        assert.ok(withs.path && existsSync(withs.path), `upload-artifact: \`${withs.path}\` exists`)
        result.artifacts.push({ name: withs.name!, path: withs.path })
      } else assert.fail(`the action uses \`${uses}\`, which this test does not know how the runner runs`)
      result.steps.push({ name, status: 'success', stdout: '', stderr: '' })
      continue
    }
    assert.equal(step.shell, 'bash', `${name}: composite run steps name their shell`)
    writeFileSync(files.output, '')
    const script = path.join(runnerTemp, `_step-${index}.sh`)
    writeFileSync(script, step.run!)
    const added = readFileSync(files.path, 'utf8').split('\n').filter(Boolean).reverse()
    const env = {
      ...baseEnv,
      ...Object.fromEntries(Object.entries(step.env ?? {}).map(([key, value]) => [key, interpolate(String(value), contexts)])),
      PATH: [...added, baseEnv.PATH].join(':'),
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION_PATH: actionPath,
      GITHUB_WORKSPACE: workspace,
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: files.event,
      GITHUB_BASE_REF: 'main',
      GITHUB_HEAD_REF: 'feature',
      GITHUB_STEP_SUMMARY: files.summary,
      GITHUB_PATH: files.path,
      GITHUB_OUTPUT: files.output,
      RUNNER_TEMP: runnerTemp,
    }
    // The runner's own command line for `shell: bash`.
    const child = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: workspace, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    result.annotations.push(...parseAnnotations(child.stdout))
    if (step.id) contexts.steps[step.id] = { outputs: parseOutputFile(readFileSync(files.output, 'utf8')) }
    const status = child.status === 0 ? 'success' : 'failure'
    result.steps.push({ name, status, stdout: child.stdout, stderr: child.stderr })
    if (status === 'failure') failed = true
  }
  result.summary = readFileSync(files.summary, 'utf8')
  for (const [id, step] of Object.entries(contexts.steps)) result.outputs[id] = step.outputs
  return result
}

function keygen(): { privateKey: string; publicKey: string } {
  const dir = mkdtempSync(path.join(work, 'key-'))
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'bin', 'gatehouse.js'), 'keygen', '-o', path.join(dir, 'key')], { stdio: 'ignore' })
  return { privateKey: readFileSync(path.join(dir, 'key'), 'utf8'), publicKey: readFileSync(path.join(dir, 'key.pub'), 'utf8') }
}

const NEW_RULE = `  - name: add-order-items
    effect: allow
    actions: [insert]
    tables: [public.order_items]
`

test('a pull request gets annotations on its lines, the diff against the merge base in the summary, and a signed bundle', { timeout: 600_000 }, () => {
  const { workspace, event } = pullRequestWorkspace('valid', (text) => text.replace('masks:\n', `${NEW_RULE}masks:\n`))
  const key = keygen()
  const run = runAction(workspace, event, { path: 'policies', 'signing-key': key.privateKey })
  for (const step of run.steps) assert.notEqual(step.status, 'failure', `${step.name} failed:\n${step.stdout}\n${step.stderr}`)
  assert.deepEqual(
    run.steps.map((s) => s.status),
    run.steps.map(() => 'success'),
  )

  // The new rule has no test case: a warning on its line, in the workspace's terms.
  const ruleLine = readFileSync(path.join(workspace, ORDERS_READ), 'utf8').split('\n').indexOf('  - name: add-order-items') + 1
  const untested = run.annotations.find((a) => a.title === 'lint.untested_rule' && a.message.includes('add-order-items'))
  assert.ok(untested, JSON.stringify(run.annotations))
  assert.deepEqual([untested.level, untested.file, untested.line], ['warning', ORDERS_READ, ruleLine])

  // The change under review, and not main's own later change shown reversed.
  assert.match(run.summary, /## Gatehouse: effective-permission changes/)
  assert.match(run.summary, /add-order-items|insert/)
  assert.doesNotMatch(run.summary, /payments/)
  const mergeBase = git(workspace, 'merge-base', (event as { pull_request: { base: { sha: string } } }).pull_request.base.sha, 'HEAD^2')
  assert.ok(run.summary.includes(mergeBase.slice(0, 12)), 'the summary names the merge base')

  // The bundle: uploaded under the default name, signed with the key, and it opens.
  assert.deepEqual(run.artifacts.map((a) => a.name), ['gatehouse-bundle'])
  const opened = openBundle(readFileSync(run.artifacts[0]!.path, 'utf8'), { publicKey: createPublicKey(key.publicKey) })
  assert.ok(opened.ok, opened.ok ? '' : opened.message)
  assert.ok(Object.values(opened.bundle.rules).some((rule) => JSON.stringify(rule).includes('add-order-items')))
  assert.equal(run.outputs.compile?.bundle, run.artifacts[0]!.path)
  // The key was written for the compile step only.
  assert.deepEqual(readdirSync(run.runnerTemp).filter((f) => f.includes('key')), [])
  for (const step of run.steps) assert.ok(!step.stdout.includes('PRIVATE KEY') && !step.stderr.includes('PRIVATE KEY'))
})

test('an invalid change fails at validation with an error annotation on the line, and nothing is compiled', { timeout: 600_000 }, () => {
  const { workspace, event } = pullRequestWorkspace('invalid', (text) => text.replace('roles: [analyst, support]', 'roles: [analyst, suport]'))
  const run = runAction(workspace, event, { path: 'policies' })
  const validate = run.steps.find((s) => s.name === 'Validate')!
  assert.equal(validate.status, 'failure')
  const error = run.annotations.find((a) => a.level === 'error')
  assert.ok(error, validate.stdout + validate.stderr)
  assert.equal(error.file, ORDERS_READ)
  assert.equal(error.line, readFileSync(path.join(workspace, ORDERS_READ), 'utf8').split('\n').findIndex((line) => line.includes('suport')) + 1)
  assert.match(error.title ?? '', /^ref\./)
  assert.match(error.message, /suport/)
  assert.deepEqual(run.artifacts, [])
  assert.deepEqual(
    run.steps.slice(run.steps.indexOf(validate) + 1).map((s) => s.status),
    run.steps.slice(run.steps.indexOf(validate) + 1).map(() => 'skipped'),
  )
})

test('the example workflow uses the action with inputs it has, after a full-history checkout', () => {
  const workflow = parse(readFileSync(path.join(EXAMPLE, '.github', 'workflows', 'gatehouse.yaml'), 'utf8')) as { jobs: Record<string, { steps: Step[] }> }
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps)
  const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'))
  assert.equal(String(checkout?.with?.['fetch-depth']), '0', 'the diff needs the merge base')
  const gatehouse = steps.find((s) => /\/gatehouse@/.test(s.uses ?? ''))
  assert.ok(gatehouse, 'the workflow uses the action')
  for (const input of Object.keys(gatehouse.with ?? {})) assert.ok(Object.hasOwn(action.inputs, input), `the action has an input \`${input}\``)
  assert.ok(!steps.some((s) => /npm (install|i) (-g|--global)/.test(s.run ?? '')), 'nothing is installed from a registry')
})
