// The shapes shared by the compiler, the engine and the gateway. The bundle
// types mirror schemas/bundle.schema.json, which is the published contract.

export const SQL_ACTIONS = [
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'truncate',
  'copy-in',
  'copy-out',
  'create',
  'alter',
  'drop',
  'grant',
  'call',
  'do',
  'set',
  'set-role',
  'set-search-path',
  'function',
  'explain',
  'lock',
  'listen',
  'notify',
  'maintenance',
  'other',
] as const
export type SqlAction = (typeof SQL_ACTIONS)[number]

/** Shorthands a policy may use in `actions`; expanded by the compiler. */
export const SQL_ACTION_GROUPS: Readonly<Record<string, readonly SqlAction[]>> = {
  read: ['select', 'copy-out', 'explain'],
  write: ['insert', 'update', 'delete', 'merge', 'copy-in', 'truncate'],
  ddl: ['create', 'alter', 'drop'],
}

export const SSH_ACTIONS = ['exec', 'shell', 'sftp-read', 'sftp-write', 'forward', 'listen', 'agent', 'x11'] as const
export type SshAction = (typeof SSH_ACTIONS)[number]

export type Effect = 'allow' | 'deny' | 'approve'
export type Mode = 'enforce' | 'observe'
export type ResourceType = 'postgres' | 'ssh'

/** One thing a SQL statement does: an action, usually on a named object. */
export interface SqlOperation {
  action: SqlAction
  /** Schema-qualified table, function or procedure (`public.orders`); absent when the action has no object. */
  object?: string
  /** Why the classifier chose this action, when it is not obvious (`EXPLAIN ANALYZE executes its statement`). */
  note?: string
}

export interface SqlStatement {
  /** The statement's own text, trimmed, as the client sent it. */
  text: string
  /** The parser's node name (`SelectStmt`, `InsertStmt`, ...). */
  kind: string
  /** Empty for session control (BEGIN, COMMIT, SHOW, DISCARD, FETCH, ...), which needs no grant of its own. */
  operations: SqlOperation[]
  /** Schema-qualified tables whose rows the statement can read (for column masks). */
  reads: string[]
  /** True when the statement cannot change anything (audit ordering relies on it). */
  readOnly: boolean
}

export type SqlClassification =
  | {
      ok: true
      statements: SqlStatement[]
      /** Set by a caching classifier when the statements follow from this key alone (not from the session): equal shapes classify, and decide, alike. */
      shape?: string
    }
  | { ok: false; error: { code: string; message: string; position?: number } }

/** Prepared statements a session has defined, so EXECUTE decides what PREPARE declared. */
export interface SqlSessionState {
  prepared: Map<string, SqlStatement>
}

export interface SshOperation {
  action: SshAction
  /** exec: the raw command line as the client sent it. */
  command?: string
  /** exec: the argument vector, split the way a POSIX shell would. */
  argv?: string[]
  /** exec: true when the command uses shell syntax (`;`, `|`, `$( )`, redirections, ...), so only `shell` rules can match it. */
  shellSyntax?: boolean
  /** sftp-read / sftp-write: the path on the upstream host. */
  path?: string
  /** forward: `host:port` of the forwarding target; listen: the `host:port` to listen on (port 0: any free port). */
  target?: string
}

export type Operation = ({ kind: 'postgres' } & SqlOperation) | ({ kind: 'ssh' } & SshOperation)

// ---------------------------------------------------------------------------
// The bundle

export type SecretRef = { env: string } | { file: string }

export interface BundleSettings {
  organisation: string
  approvers: string[]
  approvals: { required: number; highRisk: number; ownerMayApprove: boolean }
  stale: { inactiveDays: number; expiryWarningDays: number; rotateAfterDays?: number }
  requireExpiry: boolean
}

export interface BundleIdentity {
  name: string
  description: string
  owner: string
  expires?: string
  roles: string[]
  labels: Record<string, string>
  credentials: {
    /** One verifier, or two while a token is rotated (they share salt and iterations, so one SCRAM exchange checks both). */
    tokens?: TokenVerifier[]
    sshKeys: SshKeyCredential[]
    /** Workload identity tokens this identity accepts. */
    oidc?: OidcBinding[]
  }
  source: string
}

/** `created` and `notAfter` are RFC 3339 date-times; past `notAfter` the gateway refuses the credential. */
export interface CredentialDates {
  created?: string
  notAfter?: string
}

export interface TokenVerifier extends CredentialDates {
  scram: string
  sha256: string
}

export interface SshKeyCredential extends CredentialDates {
  /** An OpenSSH public key line. */
  key: string
}

/** An OIDC token satisfies a binding when its `iss` is `issuer`, its `aud` includes `audience`, and every claim matches (exact, or `*` globs). */
export interface OidcBinding {
  issuer: string
  audience: string
  claims: Record<string, string>
}

export interface PostgresConnection {
  host: string
  port: number
  database: string
  user: string
  password?: SecretRef
  tls: { mode: 'disable' | 'require' | 'verify-full'; ca?: SecretRef; serverName?: string }
  defaultSchema: string
}

export interface SshConnection {
  host: string
  port: number
  user: string
  privateKey: SecretRef
  hostKey: string
}

export interface BundleResource {
  name: string
  type: ResourceType
  description: string
  owner: string
  labels: Record<string, string>
  audit: { mode: 'sync' | 'async' }
  postgres?: PostgresConnection
  ssh?: SshConnection
  source: string
}

export interface Approval {
  approvers: string[]
  count: number
  /** Seconds. */
  timeout: number
}

export interface BundleRule {
  /** `policy/rule`, unique in the bundle. */
  id: string
  policy: string
  name: string
  description?: string
  effect: Effect
  mode: Mode
  kind: ResourceType
  when?: string
  // postgres targets
  actions?: SqlAction[]
  tables?: string[]
  functions?: string[]
  // ssh targets
  exec?: string[]
  shell?: boolean
  sftp?: { read: string[]; write: string[] }
  forward?: string[]
  listen?: string[]
  agent?: boolean
  x11?: boolean
  approval?: Approval
  source: string
}

export type MaskStrategy = 'redact' | 'partial' | 'hash' | 'null'
export const DETECTORS = [
  'credit-card',
  'email',
  'aws-access-key',
  'github-token',
  'gatehouse-token',
  'private-key',
  'jwt',
  'iban',
  'us-ssn',
] as const
export type Detector = (typeof DETECTORS)[number]

export type BundleMask =
  | { column: string; strategy: MaskStrategy; mode: Mode }
  | { detector: Detector; strategy: MaskStrategy; mode: Mode }

export interface BundlePolicy {
  name: string
  description: string
  mode: Mode
  subjects: { roles: string[]; identities: string[] }
  /** Resolved at compile time: label selectors are expanded to names. */
  resources: string[]
  /** Indices into `rules`, in declaration order. */
  rules: number[]
  masks: BundleMask[]
  source: string
}

export interface BundleManifest {
  format: 'gatehouse.bundle/v1'
  /** The Git commit the bundle was compiled from, or `content:<digest prefix>` outside a repository. */
  revision: string
  /** Monotonic ordering of revisions (the commit time in seconds); a gateway refuses a lower one. */
  sequence: number
  compiler: string
  /** `sha256:<hex>` of the canonical JSON of the bundle without `manifest.digest` and `signature`. */
  digest: string
}

export interface Bundle {
  manifest: BundleManifest
  settings: BundleSettings
  identities: Record<string, BundleIdentity>
  resources: Record<string, BundleResource>
  /** In precedence order: files by path, documents and rules in file order. */
  policies: BundlePolicy[]
  rules: BundleRule[]
  /** Which policies apply to an identity (by name or role) and to a resource: the decision index. */
  index: { identities: Record<string, number[]>; resources: Record<string, number[]> }
  signature?: { algorithm: 'ed25519'; keyId: string; value: string }
}

// ---------------------------------------------------------------------------
// Decisions

export interface RequestContext {
  time: Date
  source?: string
  session?: { id: string; application?: string }
}

export interface DecisionRequest {
  identity: string
  resource: string
  operations: Operation[]
  /** Tables read, for column masks (postgres). */
  reads?: string[]
  context: RequestContext
}

export interface MaskRef {
  /** `public.customers.email` or `detector:credit-card`. */
  id: string
  strategy: MaskStrategy
  policy: string
}

export interface TraceStep {
  rule: string
  effect: Effect
  mode: Mode
  /** What happened when the rule met the operation. */
  outcome: 'matched' | 'skipped' | 'condition-false' | 'condition-error'
  operation: string
  detail: string
}

export interface Decision {
  effect: Effect
  /** The rule that decided; null for the default deny and for session control. */
  rule: string | null
  reasons: string[]
  /** Condition errors and similar faults; any entry forces a deny. */
  errors: string[]
  masks: MaskRef[]
  approval?: Approval
  /** What enforcing every observe-mode rule and mask would have decided, when that differs. */
  observed?: { effect: Effect; rule: string | null; masks: MaskRef[] }
  trace?: TraceStep[]
}
