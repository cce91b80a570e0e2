// The risk model of a permission diff, one class at a time: risk is access
// gained by subjects that still exist, and changes to who owns or approves.
// Access that ends together with its subject is no risk.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { parseDocument } from 'yaml'
import { gatehouse } from '../helpers/cli.js'
import { commitEdit, EXAMPLE, tempRepo, type TempRepo } from '../helpers/repo.js'

interface Change {
  kind: string
  identity?: string
  resource?: string
  detail: string
  risk: string
  why: string
}

const read = (file: string) => readFileSync(path.join(EXAMPLE, file), 'utf8')

/** The diff of the example against the example after `edit`, as JSON. */
function diffAfter(edit: (repo: TempRepo) => void): { risk: string | null; changes: Change[]; validate: ReturnType<typeof gatehouse> } {
  const repo = tempRepo(EXAMPLE)
  try {
    commitEdit(repo, edit)
    const result = gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir, '--format', 'json'])
    assert.equal(result.status, 0, result.stderr)
    return { ...(JSON.parse(result.stdout) as { risk: string | null; changes: Change[] }), validate: gatehouse(['validate', repo.dir]) }
  } finally {
    repo.cleanup()
  }
}

test('low: removing an identity is one row, and the guardrails naming its role survive', () => {
  const { risk, changes, validate } = diffAfter((r) => {
    r.remove('identities/support-bot.yaml')
    r.write('policies/orders-read.yaml', read('policies/orders-read.yaml').replace('roles: [analyst, support]', 'roles: [analyst]'))
    const tests = parseDocument(read('tests/orders-db.yaml'))
    const cases = tests.get('cases') as { items: Array<{ get(key: string): unknown }> }
    cases.items = cases.items.filter((c) => c.get('identity') !== 'support-bot')
    r.write('tests/orders-db.yaml', tests.toString())
  })
  assert.equal(validate.status, 0, validate.stderr)
  // The guardrail and the observe-mode trial only deny: a role nobody holds there is a warning.
  assert.match(validate.stderr, /policies\/00-guardrails\.yaml:\d+:\d+: warning\[ref\.unknown_role\]: no identity has the role `support`/)
  assert.match(validate.stderr, /policies\/support-hours\.yaml:\d+:\d+: warning\[ref\.unknown_role\]/)
  assert.deepEqual(changes.map((c) => [c.kind, c.identity, c.risk]), [['identity-removed', 'support-bot', 'low']])
  assert.match(changes[0]!.detail, /^identity removed: 2 grants on 1 resource end/)
  assert.equal(risk, 'low')
})

test('a role nobody holds is still an error where it would grant access', () => {
  const repo = tempRepo(EXAMPLE)
  try {
    repo.remove('identities/support-bot.yaml')
    const result = gatehouse(['validate', repo.dir, '--format', 'json'])
    assert.equal(result.status, 1)
    const findings = (JSON.parse(result.stdout) as { diagnostics: Array<{ code: string; severity: string; file: string }> }).diagnostics.filter((d) => d.code === 'ref.unknown_role')
    assert.deepEqual(findings.map((d) => [d.file, d.severity]), [
      ['policies/00-guardrails.yaml', 'warning'],
      ['policies/orders-read.yaml', 'error'],
      ['policies/support-hours.yaml', 'warning'],
    ])
  } finally {
    repo.cleanup()
  }
})

test('high: a remaining identity loses a deny on a production resource', () => {
  const { risk, changes } = diffAfter((r) => {
    r.write('policies/orders-deploy.yaml', read('policies/orders-deploy.yaml').replace(/  - name: no-destructive-changes\n[\s\S]*$/, ''))
  })
  assert.equal(risk, 'high')
  const lost = changes.filter((c) => c.identity === 'ci-deploy')
  assert.deepEqual(lost.map((c) => [c.kind, c.risk]), [['grant-removed', 'high']])
  assert.match(lost[0]!.why, /^no longer denied: delete, truncate, drop on a production or sensitive resource/)
})

test('high: removing an approval requirement is named so', () => {
  const { risk, changes } = diffAfter((r) => {
    r.write('policies/orders-deploy.yaml', read('policies/orders-deploy.yaml').replace(/  - name: schema-changes-need-approval\n[\s\S]*?timeout: 30m\n/, ''))
  })
  assert.equal(risk, 'high')
  assert.deepEqual(changes.map((c) => [c.kind, c.identity, c.risk]), [
    ['approval-removed', 'ci-deploy', 'high'],
    ['approval-removed', 'orders-migrate', 'high'],
  ])
  assert.match(changes[0]!.detail, /^approval no longer required: approve create, alter/)

  // Turning the approval into a plain allow is the same loss, said the same way.
  const allowed = diffAfter((r) => {
    r.write('policies/orders-deploy.yaml', read('policies/orders-deploy.yaml').replace(/effect: approve\n    actions: \[create, alter\]\n    approval:\n[\s\S]*?timeout: 30m\n/, 'effect: allow\n    actions: [create, alter]\n'))
  })
  assert.deepEqual(allowed.changes.map((c) => [c.kind, c.risk]), [
    ['approval-removed', 'high'],
    ['approval-removed', 'high'],
  ])
  assert.match(allowed.changes[0]!.why, /^no longer held for approval/)
})

test('medium: owners and approvers changed', () => {
  const { risk, changes } = diffAfter((r) => {
    r.write('identities/ci-deploy.yaml', read('identities/ci-deploy.yaml').replace('owner: "@acme/platform"', 'owner: "@acme/orders"'))
    r.write('resources/orders-db.yaml', read('resources/orders-db.yaml').replace('owner: "@acme/payments"', 'owner: "@acme/shop"'))
    r.write('policies/orders-deploy.yaml', read('policies/orders-deploy.yaml').replace('approvers: ["@acme/payments"]', 'approvers: ["@acme/shop"]'))
  })
  assert.equal(risk, 'medium')
  const rows = changes.map((c) => [c.kind, c.identity ?? c.resource, c.risk]).sort()
  assert.deepEqual(rows, [
    ['approvers-changed', 'ci-deploy', 'medium'],
    ['approvers-changed', 'orders-migrate', 'medium'],
    ['owner-changed', 'ci-deploy', 'medium'],
    ['owner-changed', 'orders-db', 'medium'],
  ])
})

test('high: an approval that needs fewer people loosens', () => {
  const { changes } = diffAfter((r) => {
    r.write('policies/billing-migrations.yaml', read('policies/billing-migrations.yaml').replace('count: 2', 'count: 1'))
  })
  assert.deepEqual(changes.map((c) => [c.kind, c.risk]), [['approvers-changed', 'high']])
  assert.match(changes[0]!.why, /^fewer approvals needed/)
})

test('low: new restrictions and masks', () => {
  const { risk, changes } = diffAfter((r) => {
    r.write('policies/orders-read.yaml', read('policies/orders-read.yaml').replace('masks:\n', 'masks:\n  - column: public.customers.name\n    strategy: redact\n'))
  })
  assert.equal(risk, 'low')
  assert.ok(changes.length > 0 && changes.every((c) => c.kind === 'mask-added' && c.risk === 'low'))
})
