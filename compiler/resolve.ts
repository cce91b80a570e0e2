// Stage 4: from validated documents to the bundle's model: names made unique,
// references checked, label selectors expanded, defaults filled in, action
// groups expanded, and the decision index built.
import { SQL_ACTION_GROUPS } from '../engine/types.js'
import type {
  Approval,
  BundleIdentity,
  BundleMask,
  BundlePolicy,
  BundleResource,
  BundleRule,
  BundleSettings,
  Detector,
  MaskStrategy,
  Mode,
  OidcBinding,
  SecretRef,
  SqlAction,
  SshKeyCredential,
  TokenVerifier,
} from '../engine/types.js'
import { suggest } from '../cli/suggest.js'
import { didYouMean, type Diagnostic } from './diagnostics.js'
import type { DocPath, ParsedDocument } from './parse.js'

/** The repository as the bundle will carry it, plus where each piece came from. */
export interface Model {
  settings: BundleSettings
  identities: Record<string, BundleIdentity>
  resources: Record<string, BundleResource>
  policies: BundlePolicy[]
  rules: BundleRule[]
  index: { identities: Record<string, number[]>; resources: Record<string, number[]> }
  tests: TestSuite[]
  origins: Origins
}

export interface Origins {
  settings?: ParsedDocument
  identities: Map<string, ParsedDocument>
  resources: Map<string, ParsedDocument>
  policies: ParsedDocument[]
  /** Rule index → its document and path within it. */
  rules: Array<{ doc: ParsedDocument; path: DocPath }>
}

export interface TestCase {
  name: string
  identity: string
  resource: string
  sql?: string
  ssh?: string | { shell?: true; sftp?: { read?: string; write?: string }; forward?: string; listen?: string; agent?: true; x11?: true }
  time?: string
  source?: string
  expect: { effect: 'allow' | 'deny' | 'approve'; rule?: string | null; masks?: string[] }
}

export interface TestSuite {
  name: string
  doc: ParsedDocument
  cases: TestCase[]
}

// Document shapes after schema validation (the schemas guarantee these types).
interface SettingsDoc {
  organisation: string
  approvers: string[]
  approvals?: { required?: number; highRisk?: number; ownerMayApprove?: boolean }
  stale?: { inactiveDays?: number; expiryWarningDays?: number; rotateAfterDays?: number }
  identities?: { requireExpiry?: boolean }
}
interface IdentityDoc {
  name: string
  description?: string
  owner: string
  expires?: string
  roles?: string[]
  labels?: Record<string, string>
  credentials: { token?: TokenVerifier | TokenVerifier[]; sshKeys?: Array<string | SshKeyCredential>; oidc?: OidcBinding[] }
}
interface ResourceDoc {
  name: string
  type: 'postgres' | 'ssh'
  description?: string
  owner: string
  labels?: Record<string, string>
  audit?: { mode?: 'sync' | 'async' }
  postgres?: {
    host: string
    port?: number
    database: string
    user: string
    password?: SecretRef
    tls?: { mode?: 'disable' | 'require' | 'verify-full'; ca?: SecretRef; serverName?: string }
    defaultSchema?: string
  }
  ssh?: { host: string; port?: number; user: string; privateKey: SecretRef; hostKey: string }
}
interface RuleDoc {
  name: string
  description?: string
  effect: 'allow' | 'deny' | 'approve'
  mode?: Mode
  when?: string
  actions?: string[]
  tables?: string[]
  functions?: string[]
  exec?: string[]
  shell?: boolean
  sftp?: boolean | { read?: string[]; write?: string[] }
  forward?: string[]
  listen?: string[]
  agent?: boolean
  x11?: boolean
  approval?: { approvers: string[]; count?: number; timeout?: string }
}
interface PolicyDoc {
  name: string
  description?: string
  mode?: Mode
  subjects: { roles?: string[]; identities?: string[] }
  resources: { names?: string[]; labels?: Record<string, string> }
  rules: RuleDoc[]
  masks?: Array<{ column?: string; detector?: Detector; strategy: MaskStrategy; mode?: Mode }>
}

const SSH_RULE_KEYS = ['exec', 'shell', 'sftp', 'forward', 'listen', 'agent', 'x11'] as const

export function durationSeconds(text: string): number {
  const unit = text.slice(-1)
  const value = Number(text.slice(0, -1))
  return value * (unit === 'd' ? 86400 : unit === 'h' ? 3600 : unit === 'm' ? 60 : 1)
}

const sourceOf = (doc: ParsedDocument, path: DocPath = []) => `${doc.file}:${doc.locate(path).line}`

/** A set of names, or anything an unparsable file might define. */
class MaybeDefined {
  constructor(
    private readonly names: ReadonlySet<string>,
    private readonly unparsed: readonly string[],
  ) {}
  has(name: string): boolean {
    if (this.names.has(name)) return true
    if (this.unparsed.length === 0) return false
    const word = new RegExp(`(?<![\\w.-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`)
    return this.unparsed.some((text) => word.test(text))
  }
}

/**
 * `invalid` are documents that failed validation: their names still count as
 * defined, so one broken file gives one finding, not a cascade of unknown
 * references elsewhere. `unparsed` are the texts of files that are not valid
 * YAML: any name written in them may be defined there, so it is not
 * reported as unknown either.
 */
export function resolve(documents: readonly ParsedDocument[], invalid: readonly ParsedDocument[] = [], unparsed: readonly string[] = []): { model?: Model; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = []
  const brokenNames = (kind: string) => new MaybeDefined(new Set(invalid.filter((d) => d.kind === kind && d.name).map((d) => d.name!)), unparsed)
  const brokenIdentities = brokenNames('Identity')
  const brokenResources = brokenNames('Resource')
  const brokenRoles = new MaybeDefined(new Set(invalid.filter((d) => d.kind === 'Identity').flatMap((d) => (Array.isArray(d.value.roles) ? d.value.roles.filter((r): r is string => typeof r === 'string') : []))), unparsed)
  const error = (doc: ParsedDocument, path: DocPath, code: Diagnostic['code'], message: string, extra: { help?: string } = {}) =>
    diagnostics.push({ ...doc.locate(path), code, severity: 'error', message, ...extra })
  const warn = (doc: ParsedDocument, path: DocPath, code: Diagnostic['code'], message: string, extra: { help?: string } = {}) =>
    diagnostics.push({ ...doc.locate(path), code, severity: 'warning', message, ...extra })

  const byKind = (kind: string) => documents.filter((d) => d.kind === kind)
  const origins: Origins = { identities: new Map(), resources: new Map(), policies: [], rules: [] }

  // Settings: exactly one.
  const settingsDocs = byKind('Settings')
  for (const extra of settingsDocs.slice(1)) {
    error(extra, ['kind'], 'ref.duplicate_settings', `a second Settings document; the first is at ${sourceOf(settingsDocs[0]!)}`)
  }
  const settingsDoc = settingsDocs[0]
  const settingsMayBeUnparsed = unparsed.some((text) => /^kind:\s*["']?Settings\b/m.test(text)) || invalid.some((d) => d.kind === 'Settings')
  if (!settingsDoc && !settingsMayBeUnparsed) {
    diagnostics.push({
      file: 'gatehouse.yaml', line: 1, col: 1, endLine: 1, endCol: 1, code: 'ref.missing_settings', severity: 'error',
      message: 'the repository has no Settings document',
      help: 'create `gatehouse.yaml` with `kind: Settings`, the GitHub `organisation` and the default `approvers`',
    })
  }
  if (settingsDoc) origins.settings = settingsDoc
  const s = (settingsDoc?.value ?? { organisation: '', approvers: [] }) as unknown as SettingsDoc
  const settings: BundleSettings = {
    organisation: s.organisation,
    approvers: s.approvers,
    approvals: {
      required: s.approvals?.required ?? 1,
      highRisk: s.approvals?.highRisk ?? 2,
      ownerMayApprove: s.approvals?.ownerMayApprove ?? true,
    },
    stale: { inactiveDays: s.stale?.inactiveDays ?? 30, expiryWarningDays: s.stale?.expiryWarningDays ?? 14, ...(s.stale?.rotateAfterDays ? { rotateAfterDays: s.stale.rotateAfterDays } : {}) },
    requireExpiry: s.identities?.requireExpiry ?? false,
  }

  // Names are unique per kind.
  const unique = (kind: string, into: Map<string, ParsedDocument>) => {
    for (const doc of byKind(kind)) {
      const name = doc.name!
      const first = into.get(name)
      if (first) error(doc, ['name'], 'ref.duplicate_name', `${kind.toLowerCase()} \`${name}\` is already defined at ${sourceOf(first, ['name'])}`)
      else into.set(name, doc)
    }
  }
  unique('Identity', origins.identities)
  unique('Resource', origins.resources)
  const policyNames = new Map<string, ParsedDocument>()
  unique('Policy', policyNames)
  const testNames = new Map<string, ParsedDocument>()
  unique('Test', testNames)

  const identities: Record<string, BundleIdentity> = {}
  const roleHolders = new Map<string, string[]>()
  for (const [name, doc] of [...origins.identities].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const v = doc.value as unknown as IdentityDoc
    const identity: BundleIdentity = {
      name,
      description: v.description ?? '',
      owner: v.owner,
      roles: v.roles ?? [],
      labels: v.labels ?? {},
      credentials: bundleCredentials(v.credentials),
      source: sourceOf(doc),
      ...(v.expires ? { expires: v.expires } : {}),
    }
    identities[name] = identity
    for (const role of identity.roles) {
      const holders = roleHolders.get(role)
      if (holders) holders.push(name)
      else roleHolders.set(role, [name])
    }
  }

  const resources: Record<string, BundleResource> = {}
  for (const [name, doc] of [...origins.resources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const v = doc.value as unknown as ResourceDoc
    const resource: BundleResource = {
      name,
      type: v.type,
      description: v.description ?? '',
      owner: v.owner,
      labels: v.labels ?? {},
      audit: { mode: v.audit?.mode ?? 'sync' },
      source: sourceOf(doc),
    }
    if (v.postgres) {
      const p = v.postgres
      resource.postgres = {
        host: p.host,
        port: p.port ?? 5432,
        database: p.database,
        user: p.user,
        ...(p.password ? { password: p.password } : {}),
        tls: { mode: p.tls?.mode ?? 'verify-full', ...(p.tls?.ca ? { ca: p.tls.ca } : {}), ...(p.tls?.serverName ? { serverName: p.tls.serverName } : {}) },
        defaultSchema: p.defaultSchema ?? 'public',
      }
    }
    if (v.ssh) resource.ssh = { host: v.ssh.host, port: v.ssh.port ?? 22, user: v.ssh.user, privateKey: v.ssh.privateKey, hostKey: v.ssh.hostKey }
    resources[name] = resource
  }
  const resourceNames = Object.keys(resources)

  // Policies, in precedence order: by file path, then position in the file.
  const policies: BundlePolicy[] = []
  const rules: BundleRule[] = []
  const index = { identities: {} as Record<string, number[]>, resources: {} as Record<string, number[]> }
  const addIndex = (map: Record<string, number[]>, key: string, policy: number) => {
    const list = (map[key] ??= [])
    if (list[list.length - 1] !== policy) list.push(policy)
  }
  const policyDocs = byKind('Policy').filter((d) => policyNames.get(d.name!) === d)
  const policyRoles = new Set(policyDocs.flatMap((d) => (d.value as unknown as PolicyDoc).subjects.roles ?? []))
  for (const doc of policyDocs) {
    const v = doc.value as unknown as PolicyDoc
    const policyIndex = policies.length
    const policyMode: Mode = v.mode ?? 'enforce'

    const subjectRoles = v.subjects.roles ?? []
    const subjectIdentities = v.subjects.identities ?? []
    // A policy of denies and masks only takes access away: naming a subject
    // nobody is does no harm, and a guardrail must survive the removal of
    // any identity. Elsewhere it is most likely a typo.
    const narrowsOnly = v.rules.every((r) => r.effect === 'deny')
    const unknownSubject = narrowsOnly ? warn : error
    subjectRoles.forEach((role, i) => {
      if (roleHolders.has(role) || brokenRoles.has(role)) return
      unknownSubject(doc, ['subjects', 'roles', i], 'ref.unknown_role', `no identity has the role \`${role}\``, roleHelp(role, roleHolders, policyRoles, origins.identities))
    })
    subjectIdentities.forEach((name, i) => {
      if (!identities[name] && !brokenIdentities.has(name)) unknownSubject(doc, ['subjects', 'identities', i], 'ref.unknown_identity', `unknown identity \`${name}\``, didYouMean(name, Object.keys(identities)))
    })

    const covered = new Set<string>()
    // A resource that failed validation still has the type it declares: the rules' kinds are judged against it.
    const brokenTypes = new Set<string>()
    ;(v.resources.names ?? []).forEach((name, i) => {
      if (resources[name]) covered.add(name)
      else if (brokenResources.has(name)) brokenTypes.add(declaredType(invalid, name) ?? 'unknown')
      else error(doc, ['resources', 'names', i], 'ref.unknown_resource', `unknown resource \`${name}\``, didYouMean(name, resourceNames))
    })
    if (v.resources.labels) {
      const selector = Object.entries(v.resources.labels)
      const matched = resourceNames.filter((name) => selector.every(([k, value]) => resources[name]!.labels[k] === value))
      if (matched.length === 0) warn(doc, ['resources', 'labels'], 'ref.selector_matches_nothing', 'the label selector matches no resource')
      for (const name of matched) covered.add(name)
    }
    const coveredNames = [...covered].sort()
    const coveredTypes = new Set(coveredNames.map((n) => resources[n]!.type))

    const ruleIndices: number[] = []
    const ruleNames = new Map<string, number>()
    v.rules.forEach((r, i) => {
      const path = ['rules', i] as const
      const previous = ruleNames.get(r.name)
      if (previous !== undefined) {
        error(doc, [...path, 'name'], 'ref.duplicate_rule', `rule \`${r.name}\` is already defined at ${sourceOf(doc, ['rules', previous, 'name'])}`)
        return
      }
      ruleNames.set(r.name, i)
      const kind = r.actions ? 'postgres' : 'ssh'
      if (coveredNames.length > 0 && !coveredTypes.has(kind) && !brokenTypes.has(kind) && !brokenTypes.has('unknown')) {
        error(doc, [...path, kind === 'postgres' ? 'actions' : (SSH_RULE_KEYS.find((k) => k in r) ?? 'name')], 'ref.rule_kind_mismatch',
          `rule \`${r.name}\` targets ${kind === 'postgres' ? 'PostgreSQL' : 'SSH'} but the policy covers only ${[...coveredTypes].join(', ')} resources`)
      }
      const rule = buildRule(v.name, r, policyMode, kind, sourceOf(doc, path))
      ruleIndices.push(rules.length)
      origins.rules.push({ doc, path })
      rules.push(rule)
    })

    const masks: BundleMask[] = (v.masks ?? []).map((m) => {
      const mode: Mode = policyMode === 'observe' ? 'observe' : (m.mode ?? 'enforce')
      return m.column ? { column: m.column, strategy: m.strategy, mode } : { detector: m.detector!, strategy: m.strategy, mode }
    })
    ;(v.masks ?? []).forEach((m, i) => {
      if (m.column && coveredNames.length > 0 && !coveredTypes.has('postgres')) {
        warn(doc, ['masks', i, 'column'], 'ref.mask_on_ssh_only', 'a column mask has no effect: the policy covers no PostgreSQL resource')
      }
    })

    policies.push({
      name: v.name,
      description: v.description ?? '',
      mode: policyMode,
      subjects: { roles: subjectRoles, identities: subjectIdentities },
      resources: coveredNames,
      rules: ruleIndices,
      masks,
      source: sourceOf(doc),
    })
    origins.policies.push(doc)
    for (const name of subjectIdentities) if (identities[name]) addIndex(index.identities, name, policyIndex)
    for (const role of subjectRoles) for (const name of roleHolders.get(role) ?? []) addIndex(index.identities, name, policyIndex)
    for (const name of coveredNames) addIndex(index.resources, name, policyIndex)
  }
  // Role subjects can add a policy out of order; keep each list ascending.
  for (const list of Object.values(index.identities)) list.sort((a, b) => a - b)
  const sortedIndex = {
    identities: Object.fromEntries(Object.entries(index.identities).sort(([a], [b]) => (a < b ? -1 : 1))),
    resources: Object.fromEntries(Object.entries(index.resources).sort(([a], [b]) => (a < b ? -1 : 1))),
  }

  const tests: TestSuite[] = byKind('Test')
    .filter((d) => testNames.get(d.name!) === d)
    .map((doc) => {
      const cases = (doc.value.cases as TestCase[]).map((c) => ({ ...c }))
      cases.forEach((c, i) => {
        if (!identities[c.identity] && !brokenIdentities.has(c.identity)) error(doc, ['cases', i, 'identity'], 'ref.unknown_identity', `unknown identity \`${c.identity}\``, didYouMean(c.identity, Object.keys(identities)))
        if (!resources[c.resource] && !brokenResources.has(c.resource)) error(doc, ['cases', i, 'resource'], 'ref.unknown_resource', `unknown resource \`${c.resource}\``, didYouMean(c.resource, resourceNames))
      })
      return { name: doc.name!, doc, cases }
    })

  const model: Model = { settings, identities, resources, policies, rules, index: sortedIndex, tests, origins }
  return { model, diagnostics }
}

/** The credentials as the bundle carries them: every form in the repository brought to one shape. */
export function bundleCredentials(c: IdentityDoc['credentials']): BundleIdentity['credentials'] {
  const tokens = c.token === undefined ? [] : Array.isArray(c.token) ? c.token : [c.token]
  return {
    ...(tokens.length > 0 ? { tokens } : {}),
    sshKeys: (c.sshKeys ?? []).map((k) => (typeof k === 'string' ? { key: k } : k)),
    ...(c.oidc ? { oidc: c.oidc } : {}),
  }
}

function declaredType(invalid: readonly ParsedDocument[], name: string): string | undefined {
  const doc = invalid.find((d) => d.kind === 'Resource' && d.name === name)
  return typeof doc?.value.type === 'string' ? doc.value.type : undefined
}

/**
 * The help for a role no identity holds. When the near miss is itself a role
 * no policy names, the typo is on the identity's side: point there rather
 * than suggest copying it into the policy.
 */
function roleHelp(role: string, holders: ReadonlyMap<string, string[]>, policyRoles: ReadonlySet<string>, identityDocs: ReadonlyMap<string, ParsedDocument>): { help?: string } {
  const near = suggest(role, holders.keys())
  if (!near) return {}
  if (policyRoles.has(near)) return { help: `did you mean \`${near}\`?` }
  const holder = holders.get(near)![0]!
  const doc = identityDocs.get(holder)!
  const roles = (doc.value as unknown as IdentityDoc).roles ?? []
  return { help: `identity \`${holder}\` has the role \`${near}\`, which no policy names: if that is the typo, write \`${role}\` at ${sourceOf(doc, ['roles', roles.indexOf(near)])}` }
}

function expandActions(actions: readonly string[]): SqlAction[] {
  const out: SqlAction[] = []
  for (const action of actions) {
    for (const expanded of SQL_ACTION_GROUPS[action] ?? [action as SqlAction]) if (!out.includes(expanded)) out.push(expanded)
  }
  return out
}

function buildRule(policy: string, r: RuleDoc, policyMode: Mode, kind: 'postgres' | 'ssh', source: string): BundleRule {
  const rule: BundleRule = {
    id: `${policy}/${r.name}`,
    policy,
    name: r.name,
    effect: r.effect,
    mode: policyMode === 'observe' ? 'observe' : (r.mode ?? 'enforce'),
    kind,
    source,
  }
  if (r.description) rule.description = r.description
  if (r.when) rule.when = r.when
  if (kind === 'postgres') {
    rule.actions = expandActions(r.actions ?? [])
    if (r.tables) rule.tables = r.tables
    if (r.functions) rule.functions = r.functions
  } else {
    if (r.exec) rule.exec = r.exec
    if (r.shell) rule.shell = true
    if (r.sftp === true) rule.sftp = { read: ['**'], write: ['**'] }
    else if (r.sftp && typeof r.sftp === 'object') rule.sftp = { read: r.sftp.read ?? [], write: r.sftp.write ?? [] }
    if (r.forward) rule.forward = r.forward
    if (r.listen) rule.listen = r.listen
    if (r.agent) rule.agent = true
    if (r.x11) rule.x11 = true
  }
  if (r.approval) {
    const approval: Approval = { approvers: r.approval.approvers, count: r.approval.count ?? 1, timeout: durationSeconds(r.approval.timeout ?? '15m') }
    rule.approval = approval
  }
  return rule
}
