// Every `help:` line is a fix that works: each case makes one usual mistake
// in a copy of the example, takes the finding's help, applies exactly what
// it says, and expects `validate` to pass or to move on to a different
// finding. One broken file gives one finding, the root cause, first.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { parseDocument } from 'yaml'
import type { Diagnostic } from '../../compiler/diagnostics.js'
import { gatehouse } from '../helpers/cli.js'
import { EXAMPLE, tempRepo, type TempRepo } from '../helpers/repo.js'

type Finding = Diagnostic

function errorsOf(repo: TempRepo): Finding[] {
  const result = gatehouse(['validate', repo.dir, '--format', 'json'])
  return (JSON.parse(result.stdout) as { diagnostics: Finding[] }).diagnostics.filter((d) => d.severity === 'error')
}

const fileOf = (repo: TempRepo, file: string) => path.join(repo.dir, file)
const readRepo = (repo: TempRepo, file: string) => readFileSync(fileOf(repo, file), 'utf8')

function edit(repo: TempRepo, file: string, from: string | RegExp, to: string): void {
  const text = readRepo(repo, file)
  const changed = text.replace(from, to)
  assert.notEqual(changed, text, `${file} contains ${String(from)}`)
  writeFileSync(fileOf(repo, file), changed)
}

/** Replaces the text a finding points at. */
function replaceSpan(repo: TempRepo, d: Finding, replacement: string): void {
  assert.equal(d.line, d.endLine, 'a one-line span')
  const lines = readRepo(repo, d.file).split('\n')
  const line = lines[d.line - 1]!
  lines[d.line - 1] = line.slice(0, d.col - 1) + replacement + line.slice(d.endCol - 1)
  writeFileSync(fileOf(repo, d.file), lines.join('\n'))
}

/** The last `code` span of a help line: what it says to write. */
function lastCode(help: string): string {
  const spans = [...help.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
  assert.ok(spans.length > 0, `the help names what to write: ${help}`)
  return spans[spans.length - 1]!
}

type Apply = (repo: TempRepo, finding: Finding) => void

const writeAtSpan: Apply = (repo, d) => replaceSpan(repo, d, lastCode(d.help!))

interface Case {
  name: string
  code: string
  /** The mistake: in `file`, `from` becomes `to`. */
  file: string
  from: string | RegExp
  to: string
  /** How to apply the help; by default, write its last `code` span where the finding points. */
  apply?: Apply
  /** What the first finding's message must say (the root cause). */
  says?: RegExp
  /** Places the one mistake shows (a role every policy naming it misses), each with the same help. */
  places?: number
}

const CASES: Case[] = [
  { name: 'a misspelled identity in a policy', code: 'ref.unknown_identity', file: 'policies/billing-migrations.yaml', from: 'identities: [billing-migrator]', to: 'identities: [billing-migratr]' },
  { name: 'a misspelled role in a policy', code: 'ref.unknown_role', file: 'policies/orders-deploy.yaml', from: 'roles: [deployer]', to: 'roles: [deployr]' },
  {
    name: 'a misspelled role on the identity: the fix is on the identity, not in the policies',
    code: 'ref.unknown_role',
    file: 'identities/backup-bot.yaml', from: 'roles: [backup]', to: 'roles: [bakup]',
    apply: (repo, d) => {
      const [, typo, write, file, line] = /has the role `([^`]+)`.*write `([^`]+)` at ([^:\s]+):(\d+)/.exec(d.help!)!
      assert.equal(file, 'identities/backup-bot.yaml')
      const lines = readRepo(repo, file!).split('\n')
      lines[Number(line) - 1] = lines[Number(line) - 1]!.replace(typo!, write!)
      writeFileSync(fileOf(repo, file!), lines.join('\n'))
    },
  },
  { name: 'a misspelled key', code: 'schema.unknown_key', file: 'policies/orders-deploy.yaml', from: '  - name: run-migrations\n    effect: allow', to: '  - name: run-migrations\n    effct: allow', says: /unknown key `effct`/ },
  { name: 'a misspelled effect', code: 'schema.enum', file: 'policies/orders-deploy.yaml', from: '  - name: run-migrations\n    effect: allow', to: '  - name: run-migrations\n    effect: alow' },
  { name: 'CEL `or`', code: 'cel.syntax', file: 'policies/billing-migrations.yaml', from: '== 0 || request', to: '== 0 or request', says: /`or` is not a CEL operator/ },
  { name: 'CEL getHour()', code: 'cel.no_matching_overload', file: 'policies/support-hours.yaml', from: 'request.time.getHours() < 7', to: 'request.time.getHour() < 7' },
  { name: 'a number in quotes', code: 'cel.no_matching_overload', file: 'policies/support-hours.yaml', from: 'request.time.getHours() < 7', to: 'request.time.getHours() < "7"', says: /`<` cannot combine `request\.time\.getHours\(\)` \(int\) with `"7"` \(string\)/ },
  { name: 'a string compared with a number', code: 'cel.no_matching_overload', file: 'policies/support-hours.yaml', from: 'request.time.getHours() < 7', to: 'resource.labels["env"] == 7' },
  {
    name: 'an unclosed `[`',
    code: 'yaml.syntax',
    file: 'identities/ci-deploy.yaml', from: 'roles: [deployer]', to: 'roles: [deployer',
    apply: (repo, d) => {
      assert.match(d.help!, /close it with `\]`/)
      const lines = readRepo(repo, d.file).split('\n')
      lines[d.line - 1] += ']'
      writeFileSync(fileOf(repo, d.file), lines.join('\n'))
    },
    says: /this `\[` is not closed/,
  },
  {
    name: 'a password written into a resource',
    code: 'secret.inline',
    file: 'resources/orders-db.yaml', from: 'password: {env: ORDERS_DB_PASSWORD}', to: 'password: hunter2-orders',
    apply: (repo, d) => {
      assert.match(d.help!, /`\{env: NAME\}`/)
      replaceSpan(repo, d, '{env: ORDERS_DB_PASSWORD}')
    },
  },
  {
    name: 'a token written into an identity',
    code: 'secret.inline',
    file: 'identities/support-bot.yaml', from: /  token:\n    scram: .*\n    sha256: .*\n/, to: `  token: gth_${'a'.repeat(43)}\n`,
    apply: (repo, d) => {
      const command = /run `gatehouse ([^`]+)`/.exec(d.help!)![1]!.split(' ')
      const created = gatehouse(command)
      assert.equal(created.status, 0, created.stderr)
      const fresh = parseDocument(created.stdout)
      const doc = parseDocument(readRepo(repo, d.file))
      doc.set('credentials', fresh.get('credentials'))
      writeFileSync(fileOf(repo, d.file), doc.toString())
    },
  },
]

for (const c of CASES) {
  test(`help that works: ${c.name}`, () => {
    const repo = tempRepo(EXAMPLE)
    try {
      assert.deepEqual(errorsOf(repo), [])
      edit(repo, c.file, c.from, c.to)
      const before = errorsOf(repo)
      const first = before[0]
      assert.ok(first, 'the mistake is found')
      // One mistake, one finding: the root cause, and nothing that only follows from it.
      assert.equal(first.code, c.code, JSON.stringify(before))
      assert.equal(before.length, c.places ?? 1, JSON.stringify(before, null, 1))
      assert.ok(before.every((d) => d.help === first.help))
      if (c.says) assert.match(first.message, c.says)
      assert.ok(first.help, `${first.code} has a help line`)
      ;(c.apply ?? writeAtSpan)(repo, first)
      const after = errorsOf(repo)
      assert.ok(after.length === 0 || after[0]!.code !== first.code || after[0]!.line !== first.line, `the fix moves on: ${JSON.stringify(after)}`)
    } finally {
      repo.cleanup()
    }
  })
}

test('a YAML error in one identity file is the only finding, not a cascade elsewhere', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    edit(repo, 'identities/data-jobs.yaml', 'name: billing-migrator\n', 'name: billing-migrator\n  bad: [indent\n')
    const errors = errorsOf(repo)
    assert.deepEqual(errors.map((d) => [d.file, d.code]), [['identities/data-jobs.yaml', 'yaml.syntax']])
  } finally {
    repo.cleanup()
  }
})

test('a repository that does not exist gets one finding without a made-up location', () => {
  const result = gatehouse(['validate', '/nonexistent/policies'])
  assert.equal(result.status, 1)
  assert.match(result.stderr, /^error\[load\.not_found\]: `\/nonexistent\/policies` is not a readable directory$/m)
  assert.doesNotMatch(result.stderr, /missing_settings|\.:1:1/)
})

test('diff with a mistyped revision says the revision is unknown and suggests one', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    repo.git('init', '-q', '-b', 'main')
    repo.git('add', '-A')
    repo.git('commit', '-qm', 'base')
    const result = gatehouse(['diff', 'mian', 'HEAD', '--repo', repo.dir])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /unknown revision `mian`/)
    assert.match(result.stderr, /help: did you mean `main`\?/)
    assert.doesNotMatch(result.stderr, /does not compile/)
  } finally {
    repo.cleanup()
  }
})
