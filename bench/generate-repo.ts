// Generates a large, realistic policy repository for benchmarks:
//   node --import tsx bench/generate-repo.ts OUT [--identities 10000] [--resources 1000] [--policies 2000] [--seed 1] [--variant 0]
// Teams own identities (one file per team), resources and policies; roles
// are per team and function; policies mix role and identity subjects, name
// and label selectors, conditions, approvals, SSH rules and masks. The same
// seed gives the same repository; `--variant N` changes about 1% of the
// policies, as a pull request would, for diff benchmarks.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  options: {
    identities: { type: 'string', default: '10000' },
    resources: { type: 'string', default: '1000' },
    policies: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    variant: { type: 'string', default: '0' },
  },
  allowPositionals: true,
})
const out = positionals[0]
if (!out) {
  console.error('usage: generate-repo.ts OUT [--identities N] [--resources N] [--policies N] [--seed N] [--variant N]')
  process.exit(2)
}
const counts = { identities: Number(values.identities), resources: Number(values.resources), policies: Number(values.policies) }
const variant = Number(values.variant)

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = prng(Number(values.seed))
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
const some = <T>(items: readonly T[], n: number): T[] => [...new Set(Array.from({ length: n }, () => pick(items)))]

const TEAMS = Array.from({ length: 50 }, (_, i) => `team-${String(i).padStart(2, '0')}`)
const FUNCTIONS = ['deployer', 'reader', 'analyst', 'backup', 'migrator', 'support']
const ENVS = ['production', 'staging', 'dev']
const TABLES = ['orders', 'customers', 'payments', 'events', 'invoices', 'users', 'sessions', 'audit_log']
const SCRAM = 'SCRAM-SHA-256$4096:thg3dW6DfiTwIoeTso18+Q==$AIi20pES9zmzpZVpbbXTCQVJuwGYN6KV0ntjxL4GlX0=:g7ekRNGxFmzk7ujmIneMQ90joyPjsXPzyu/buzlypoI='
const SHA = '89362a069eacd9b46d908062d7932329a183411b61169f039006ef7f23c9d3f0'
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICg3ELxQalPcd+6yAtJXBUC7mvx2Zr/H2uhVONlTaue8'

rmSync(out, { recursive: true, force: true })
for (const dir of ['identities', 'resources', 'policies', 'tests']) mkdirSync(path.join(out, dir), { recursive: true })
const write = (file: string, text: string) => writeFileSync(path.join(out, file), text)

write('gatehouse.yaml', 'apiVersion: gatehouse.dev/v1\nkind: Settings\norganisation: acme\napprovers: ["@acme/security"]\nidentities:\n  requireExpiry: true\n')

// Identities: one file per team, each identity with one to three roles of its team.
const identities: Array<{ name: string; team: string; roles: string[] }> = []
const byTeam = new Map<string, string[]>()
for (let i = 0; i < counts.identities; i++) {
  const team = TEAMS[i % TEAMS.length]!
  const roles = some(FUNCTIONS, 1 + Math.floor(random() * 3)).map((f) => `${team}-${f}`)
  const identity = { name: `svc-${String(i).padStart(5, '0')}`, team, roles }
  identities.push(identity)
  const docs = byTeam.get(team) ?? []
  docs.push(
    `apiVersion: gatehouse.dev/v1\nkind: Identity\nname: ${identity.name}\ndescription: Automation ${i} of ${team}\nowner: "@acme/${team}"\nexpires: 2027-${String(1 + (i % 12)).padStart(2, '0')}-28\nroles: [${roles.join(', ')}]\nlabels: {team: ${team}}\ncredentials:\n  token:\n    scram: ${SCRAM}\n    sha256: ${SHA}\n${i % 4 === 0 ? `  sshKeys:\n    - ${KEY} ${identity.name}\n` : ''}`,
  )
  byTeam.set(team, docs)
}
for (const [team, docs] of byTeam) write(`identities/${team}.yaml`, docs.join('---\n'))
const usedRoles = new Set(identities.flatMap((i) => i.roles))

// Resources: 80% PostgreSQL databases, 20% SSH hosts, grouped by team.
const resources: Array<{ name: string; team: string; type: 'postgres' | 'ssh'; env: string }> = []
const resourceDocs = new Map<string, string[]>()
for (let i = 0; i < counts.resources; i++) {
  const team = TEAMS[i % TEAMS.length]!
  const type = Math.floor(i / TEAMS.length) % 5 === 4 ? 'ssh' : 'postgres'
  const env = pick(ENVS)
  const name = `${type === 'ssh' ? 'host' : 'db'}-${String(i).padStart(4, '0')}`
  resources.push({ name, team, type, env })
  const connection =
    type === 'postgres'
      ? `postgres:\n  host: ${name}.internal\n  database: app\n  user: gatehouse\n  password: {env: DB_${i}_PASSWORD}\n`
      : `ssh:\n  host: ${name}.internal\n  user: deploy\n  privateKey: {file: /etc/gatehouse/keys/${name}}\n  hostKey: ${KEY}\n`
  const docs = resourceDocs.get(team) ?? []
  docs.push(`apiVersion: gatehouse.dev/v1\nkind: Resource\nname: ${name}\ntype: ${type}\nowner: "@acme/${team}"\nlabels: {team: ${team}, env: ${env}}\n${connection}`)
  resourceDocs.set(team, docs)
}
for (const [team, docs] of resourceDocs) write(`resources/${team}.yaml`, docs.join('---\n'))

// Policies: one file each; a variant rewrites every hundredth policy.
const testCases: string[] = []
for (let i = 0; i < counts.policies; i++) {
  const team = TEAMS[i % TEAMS.length]!
  const ownResources = resources.filter((r) => r.team === team)
  const kind = pick(['postgres', 'postgres', 'postgres', 'ssh'] as const)
  const candidates = ownResources.filter((r) => r.type === kind)
  if (candidates.length === 0) continue
  const roles = some(FUNCTIONS, 1 + Math.floor(random() * 2)).map((f) => `${team}-${f}`).filter((r) => usedRoles.has(r))
  if (roles.length === 0) continue
  const env = pick(ENVS)
  const inEnv = candidates.filter((r) => r.env === env)
  const bySelector = random() < 0.3 && inEnv.length > 0
  const selected = bySelector ? inEnv : some(candidates, 1 + Math.floor(random() * 4))
  const resourcesYaml = bySelector ? `resources:\n  labels: {team: ${team}, env: ${env}}\n` : `resources:\n  names: [${selected.map((r) => r.name).join(', ')}]\n`
  const changed = variant > 0 && i % 100 === variant % 100
  const rules: string[] = []
  if (kind === 'postgres') {
    const tables = some(TABLES, 1 + Math.floor(random() * 3)).map((t) => `public.${t}`)
    rules.push(`  - name: read\n    effect: allow\n    actions: [select${changed ? ', update' : ''}]\n    tables: [${tables.join(', ')}]\n`)
    if (random() < 0.5) rules.push(`  - name: write\n    effect: allow\n    actions: [insert, update]\n    tables: [${tables[0]}]\n    when: request.time.getHours() >= 6 && request.time.getHours() < 22\n`)
    if (random() < 0.3) rules.push(`  - name: deletes-need-approval\n    effect: approve\n    actions: [delete]\n    tables: ["public.*"]\n    approval: {approvers: ["@acme/${team}"], timeout: 30m}\n`)
    rules.push(`  - name: no-ddl\n    effect: deny\n    actions: [ddl, grant, set-role]\n`)
  } else {
    rules.push(`  - name: inspect\n    effect: allow\n    exec: ["systemctl status app-${i}", "journalctl -u app-${i} -n *"]\n`)
    if (random() < 0.4) rules.push(`  - name: restart\n    effect: approve\n    exec: ["systemctl restart app-${i}"]\n    approval: {approvers: ["@acme/${team}"], timeout: 10m}\n`)
    if (random() < 0.3) rules.push(`  - name: releases\n    effect: allow\n    sftp: {write: ["/srv/app-${i}/releases/**"]}\n`)
  }
  const masks = kind === 'postgres' && random() < 0.4 ? `masks:\n  - column: public.customers.email\n    strategy: partial\n  - detector: credit-card\n    strategy: redact\n` : ''
  write(
    `policies/p-${String(i).padStart(4, '0')}.yaml`,
    `apiVersion: gatehouse.dev/v1\nkind: Policy\nname: p-${String(i).padStart(4, '0')}\ndescription: Access of ${team} automation\nsubjects:\n  roles: [${roles.join(', ')}]\n${resourcesYaml}rules:\n${rules.join('')}${masks}`,
  )
  const holder = identities.find((id) => id.roles.includes(roles[0]!))
  if (holder && kind === 'postgres' && testCases.length < 500) {
    testCases.push(`  - name: policy ${i} reads\n    identity: ${holder.name}\n    resource: ${selected[0]!.name}\n    sql: SELECT id FROM public.${TABLES[i % TABLES.length]} WHERE id = 1\n    expect: {effect: deny}\n`)
  }
}
write('tests/generated.yaml', `apiVersion: gatehouse.dev/v1\nkind: Test\nname: generated\ncases:\n${testCases.join('')}`)
console.error(`wrote ${out}: ${counts.identities} identities, ${counts.resources} resources, up to ${counts.policies} policies`)
