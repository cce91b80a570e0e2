// Permission diffs between two revisions of a policy repository: what each
// identity gains or loses, with a risk level, and nothing for a pure rename.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { gatehouse } from '../helpers/cli.js'
import { commitEdit, EXAMPLE, tempRepo } from '../helpers/repo.js'

interface JsonDiff {
  risk: string | null
  changes: Array<{ kind: string; identity?: string; resource?: string; detail: string; risk: string; rule?: string }>
}

type Repo = ReturnType<typeof tempRepo>

function withHistory(edit: (repo: Repo) => void, prepare: (repo: Repo) => void = () => undefined) {
  const repo = tempRepo(EXAMPLE)
  prepare(repo)
  commitEdit(repo, edit)
  return repo
}

const read = (file: string) => readFileSync(path.join(EXAMPLE, file), 'utf8')

test('renaming and reordering rules changes no effective permission', () => {
  const repo = withHistory((r) => {
    r.write('policies/orders-read.yaml', read('policies/orders-read.yaml').replace('name: read-orders', 'name: read-order-tables'))
    r.write('policies/00-guardrails.yaml', read('policies/00-guardrails.yaml').replace('# Limits', '# The limits'))
  })
  try {
    const result = gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir, '--format', 'json'])
    assert.equal(result.status, 0, result.stderr)
    assert.deepEqual((JSON.parse(result.stdout) as JsonDiff).changes, [])
    assert.match(gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir]).stdout, /^no effective-permission changes/)
  } finally {
    repo.cleanup()
  }
})

test('grants, masks and identities: each change with its risk', () => {
  const repo = withHistory((r) => {
    r.write('policies/orders-read.yaml', read('policies/orders-read.yaml').replace('actions: [select]\n    tables:\n      - public.orders', 'actions: [select, update]\n    tables:\n      - public.orders').replace(/  - column: public\.customers\.phone\n    strategy: redact\n/, ''))
    r.write('identities/temp.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Identity\nname: temp-job\ndescription: x\nowner: "@acme/data"\nroles: [analyst]\ncredentials: {sshKeys: []}\n')
    r.write('identities/support-bot.yaml', read('identities/support-bot.yaml').replace('owner: "@acme/support"', 'owner: "@acme/helpdesk"'))
    r.remove('identities/old-job.yaml')
    r.write('policies/backups.yaml', read('policies/backups.yaml').replace('roles: [backup]', 'roles: [backup, analyst]'))
  }, (r) => r.write('identities/old-job.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Identity\nname: old-job\nowner: "@acme/data"\nexpires: 2027-01-01\nroles: [analyst]\ncredentials: {sshKeys: []}\n'))
  try {
    const result = gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir, '--format', 'json'])
    assert.equal(result.status, 0, result.stderr)
    const diff = JSON.parse(result.stdout) as JsonDiff
    const find = (kind: string, identity: string, resource?: string) => diff.changes.filter((c) => c.kind === kind && c.identity === identity && c.resource === resource)
    assert.equal(diff.risk, 'high')
    const changed = find('grant-changed', 'orders-reporting', 'orders-db')
    assert.equal(changed.length, 1, JSON.stringify(diff.changes))
    assert.equal(changed[0]!.risk, 'high')
    assert.match(changed[0]!.detail, /^allow select on public\.orders.* → allow select, update on public\.orders/)
    assert.equal(find('mask-removed', 'support-bot', 'orders-db')[0]?.risk, 'high')
    assert.equal(find('identity-added', 'temp-job')[0]?.risk, 'high', 'a new identity that never expires')
    assert.equal(find('owner-changed', 'support-bot')[0]?.detail, 'owner @acme/support → @acme/helpdesk')
    assert.equal(find('identity-removed', 'old-job')[0]?.risk, 'low')
    assert.ok(find('grant-added', 'orders-reporting', 'backup-1').length > 0, 'analysts now reach the backup host')

    const markdown = gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir, '--format', 'markdown']).stdout
    assert.match(markdown, /^### Gatehouse permission diff$/m)
    assert.match(markdown, /^\| 🔴 high \| orders-reporting on orders-db \| ~ allow select on public\.orders.* → allow select, update on public\.orders/m)
    assert.equal(gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir, '--fail-on', 'high']).status, 1)
    assert.equal(gatehouse(['diff', 'HEAD', 'HEAD', '--repo', repo.dir, '--fail-on', 'low']).status, 0)
  } finally {
    repo.cleanup()
  }
})

test('a side that does not compile is reported, not diffed', () => {
  const repo = withHistory((r) => r.write('policies/orders-read.yaml', 'kind: Policy\n'))
  try {
    const result = gatehouse(['diff', 'HEAD~1', 'HEAD', '--repo', repo.dir])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /^HEAD does not compile:/m)
  } finally {
    repo.cleanup()
  }
})
