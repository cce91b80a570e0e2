// What each utility statement does: its action and the objects it names.
// Queries (SELECT, INSERT, UPDATE, DELETE, MERGE), EXPLAIN and EXECUTE are in
// walker.ts. Every statement node type of the parser has an entry here or
// there (test/engine/sql/statement-coverage.test.ts checks it); an unknown one
// becomes `other`.
//
// Object names: schema objects are `schema.name`; objects outside schemas are
// `kind:name` (`role:admin`, `extension:dblink`, `database:app`), which no
// `schema.table` pattern matches, only `*`. `schema.*` means every table of a
// schema and `*` every table of the database (GRANT ... ON ALL TABLES, VACUUM
// without a table): only a rule covering all of them matches.
import type { SqlAction } from '../types.js'
import { constantText, isObject, stringList, unwrap, type AstNode } from './ast.js'
import { qualifyParts, quoteIdent } from './names.js'
import type { StatementWalker } from './walker.js'

type Handler = (w: StatementWalker, node: AstNode, type: string) => void

const str = (value: unknown): string => (typeof value === 'string' ? value : '')

/** `OBJECT_FOREIGN_SERVER` → `foreign-server`. */
export function kindWord(objtype: unknown): string {
  return str(objtype).replace(/^OBJECT_/, '').toLowerCase().replaceAll('_', '-') || 'object'
}

const global = (kind: string, name: string): string => `${kind}:${quoteIdent(name)}`

/** Object types that live outside schemas. */
const GLOBAL_KINDS = new Set([
  'OBJECT_SCHEMA', 'OBJECT_DATABASE', 'OBJECT_ROLE', 'OBJECT_TABLESPACE', 'OBJECT_EXTENSION', 'OBJECT_LANGUAGE',
  'OBJECT_FDW', 'OBJECT_FOREIGN_SERVER', 'OBJECT_PUBLICATION', 'OBJECT_SUBSCRIPTION', 'OBJECT_EVENT_TRIGGER',
  'OBJECT_ACCESS_METHOD', 'OBJECT_PARAMETER_ACL', 'OBJECT_LARGEOBJECT',
])
/** Named `[schema.]table.name`: the object is the table. */
const TABLE_CHILD_KINDS = new Set(['OBJECT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_RULE', 'OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT'])
/** Named `[schema.]type.name`: the object is the type. */
const TYPE_CHILD_KINDS = new Set(['OBJECT_ATTRIBUTE', 'OBJECT_DOMCONSTRAINT'])
/** Relations: an unqualified name follows the relation lookup rules (names.ts). */
const RELATION_KINDS = new Set([
  'OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_INDEX', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE',
  ...TABLE_CHILD_KINDS,
])

export function roleName(spec: unknown): string {
  if (!isObject(spec)) return ''
  if (spec.roletype === 'ROLESPEC_CSTRING' || spec.roletype === undefined) return str(spec.rolename)
  return str(spec.roletype).replace(/^ROLESPEC_/, '').toLowerCase()
}

function roleNames(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  return list.map((el) => global('role', roleName(unwrap(el)?.[1])))
}

/** The name(s) of an object given as `objtype` plus a wrapped name node (DROP, COMMENT, ALTER ... OWNER, ...). */
export function objectNames(w: StatementWalker, objtype: unknown, object: unknown): string[] {
  const kindName = str(objtype)
  const kind = kindWord(objtype)
  const node = unwrap(object)
  if (!node) return [kind]
  const [type, body] = node
  switch (type) {
    case 'RangeVar':
      return w.relationNames(body)
    case 'String':
      return [GLOBAL_KINDS.has(kindName) ? global(kind, str(body.sval)) : qualifyParts([str(body.sval)], w.defaultSchema)]
    case 'Integer':
      return [`${kind}:${String(body.ival ?? 0)}`]
    case 'ObjectWithArgs':
      return [qualifyParts(stringList(body.objname), w.defaultSchema)]
    case 'TypeName':
      return [qualifyParts(stringList(body.names), w.defaultSchema)]
    case 'List': {
      let parts = stringList(body.items)
      if (parts.length === 0) return [kind]
      if (GLOBAL_KINDS.has(kindName)) return [global(kind, parts.join('.'))]
      if (TABLE_CHILD_KINDS.has(kindName) || TYPE_CHILD_KINDS.has(kindName)) parts = parts.slice(0, -1)
      else if (kindName === 'OBJECT_OPCLASS' || kindName === 'OBJECT_OPFAMILY') parts = parts.slice(1)
      if (parts.length === 0) return [kind]
      if (RELATION_KINDS.has(kindName) && parts.length === 1) return w.relationNames({ relname: parts[0] })
      return [qualifyParts(parts, w.defaultSchema)]
    }
    default:
      return [kind]
  }
}

function addAll(w: StatementWalker, action: SqlAction, objects: readonly string[], note?: string): void {
  if (objects.length === 0) w.addOp(action, undefined, note)
  for (const object of objects) w.addOp(action, object, note)
}

/** A statement that does `action` on the objects `objects` names, then is walked for anything nested (skipping name fields). */
function ddl(action: SqlAction, objects: (w: StatementWalker, n: AstNode) => string[], ...skip: string[]): Handler {
  return (w, n, type) => {
    addAll(w, action, objects(w, n))
    w.visitChildren(type, n, skip[0], skip[1], skip[2])
  }
}

const sessionControl: Handler = (w, n, type) => {
  w.sessionControl = true
  w.visitChildren(type, n)
}

const rel = (field: string) => (w: StatementWalker, n: AstNode) => w.relationNames(n[field])
const created = (field: string) => (w: StatementWalker, n: AstNode) => w.relationNames(n[field], true)
const names = (field: string) => (w: StatementWalker, n: AstNode) => {
  const value = n[field]
  const parts = isObject(value) ? stringList(value.names) : stringList(value)
  return [qualifyParts(parts, w.defaultSchema)]
}
const named = (kind: string, field: string) => (_w: StatementWalker, n: AstNode) => [global(kind, str(n[field]))]
const relList = (field: string) => (w: StatementWalker, n: AstNode) => {
  const list = Array.isArray(n[field]) ? (n[field] as unknown[]) : []
  return list.flatMap((el) => w.relationNames(unwrap(el)?.[1]))
}
/** RenameStmt, AlterOwnerStmt, ...: a relation or a named object of some type. */
const relationOrObject = (kindField: string) => (w: StatementWalker, n: AstNode) =>
  isObject(n.relation) ? w.relationNames(n.relation) : objectNames(w, n[kindField], n.object)

const TRANSACTION_OTHER: Record<string, string> = {
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION hands the transaction to the two-phase commit machinery',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED commits a transaction prepared by any session',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED ends a transaction prepared by any session',
}

const handlers: Record<string, Handler> = {
  // --- Session control ------------------------------------------------------
  TransactionStmt: (w, n, type) => {
    const note = TRANSACTION_OTHER[str(n.kind)]
    if (note) w.addOp('other', undefined, note)
    else w.sessionControl = true
    w.visitChildren(type, n)
  },
  VariableShowStmt: sessionControl,
  ConstraintsSetStmt: sessionControl,
  FetchStmt: sessionControl,
  ClosePortalStmt: sessionControl,
  UnlistenStmt: sessionControl,
  DeallocateStmt: (w, n, type) => {
    w.sessionControl = true
    w.effect = { kind: 'deallocate', name: n.isall === true ? undefined : str(n.name) }
    w.visitChildren(type, n)
  },
  DiscardStmt: (w, n, type) => {
    if (n.target === 'DISCARD_ALL') {
      // DISCARD ALL includes SET SESSION AUTHORIZATION DEFAULT and RESET ALL (and DEALLOCATE ALL).
      w.addOp('set-role', undefined, 'DISCARD ALL resets the session authorization and role')
      w.effect = { kind: 'deallocate', name: undefined }
    } else w.sessionControl = true
    w.visitChildren(type, n)
  },
  VariableSetStmt: (w, n) => {
    switch (n.kind) {
      case 'VAR_SET_MULTI':
        // SET TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ..., SET TRANSACTION SNAPSHOT.
        if (n.name === 'TRANSACTION' || n.name === 'SESSION CHARACTERISTICS' || n.name === 'TRANSACTION SNAPSHOT') {
          w.sessionControl = true
        } else w.addOp('set', str(n.name).toLowerCase())
        return
      case 'VAR_RESET_ALL':
        w.addOp('set-role', undefined, 'RESET ALL resets the role')
        return
      default: {
        const args = Array.isArray(n.args) ? n.args : []
        const value = n.kind === 'VAR_SET_VALUE' && args.length === 1 ? constantText(args[0]) : undefined
        w.setting(str(n.name), value)
      }
    }
  },
  PrepareStmt: (w, n) => {
    w.visitMainQuery(n.query)
    w.effect = { kind: 'prepare', name: str(n.name), innerKind: unwrap(n.query)?.[0] ?? 'PrepareStmt' }
  },
  DeclareCursorStmt: (w, n) => w.visitMainQuery(n.query),

  // --- Data movement --------------------------------------------------------
  CopyStmt: (w, n, type) => {
    const from = n.is_from === true
    const action: SqlAction = from ? 'copy-in' : 'copy-out'
    if (isObject(n.relation)) {
      for (const t of w.relationNames(n.relation)) {
        w.addOp(action, t)
        if (!from) w.addRead(t)
      }
    }
    if (n.query !== undefined) {
      // COPY (query) TO: the rows the query reads leave as copy-out; whatever else it does (a DELETE ... RETURNING) stays.
      const start = w.ops.length
      w.visit(n.query)
      let sawCopy = false
      for (let i = start; i < w.ops.length; i++) {
        const op = w.ops[i]!
        if (op.action === 'select') {
          w.ops[i] = op.object === undefined ? { action: 'copy-out' } : { action: 'copy-out', object: op.object }
          sawCopy = true
        }
      }
      if (!sawCopy) w.addOp('copy-out')
    }
    if (typeof n.filename === 'string') {
      w.addOp(
        'other',
        undefined,
        n.is_program === true
          ? `COPY ${from ? 'FROM' : 'TO'} PROGRAM runs a command on the database server`
          : `COPY ${from ? 'FROM' : 'TO'} a file on the database server`,
      )
    }
    w.visitChildren(type, n, 'relation', 'query')
  },
  TruncateStmt: ddl('truncate', relList('relations'), 'relations'),
  LockStmt: ddl('lock', relList('relations'), 'relations'),
  ListenStmt: (w) => w.addOp('listen'),
  NotifyStmt: (w) => w.addOp('notify'),

  // --- Code -----------------------------------------------------------------
  DoStmt: (w, n) => {
    const language = Array.isArray(n.args)
      ? n.args.map((el) => unwrap(el)?.[1]).find((d) => d?.defname === 'language')
      : undefined
    const lang = language ? str(unwrap(language.arg)?.[1].sval) : 'plpgsql'
    w.addOp('do', undefined, `DO runs a ${lang} block the classifier cannot see into`)
  },
  CallStmt: (w, n, type) => {
    const call = isObject(n.funccall) ? n.funccall : {}
    w.addOp('call', qualifyParts(stringList(call.funcname), w.defaultSchema))
    w.visitChildren('FuncCall', call, 'funcname')
    w.visitChildren(type, n, 'funccall')
  },
  LoadStmt: (w) => w.addOp('other', undefined, 'LOAD loads a shared library into the server'),

  // --- Maintenance ----------------------------------------------------------
  VacuumStmt: (w, n, type) => {
    const rels = Array.isArray(n.rels) ? n.rels : []
    const objects = rels.flatMap((el) => w.relationNames(unwrap(el)?.[1]?.relation))
    addAll(w, 'maintenance', objects.length > 0 ? objects : ['*'])
    w.visitChildren(type, n, 'rels')
  },
  ClusterStmt: ddl('maintenance', (w, n) => (isObject(n.relation) ? w.relationNames(n.relation) : ['*']), 'relation'),
  ReindexStmt: ddl(
    'maintenance',
    (w, n) => {
      if (isObject(n.relation)) return w.relationNames(n.relation)
      if (n.kind === 'REINDEX_OBJECT_SCHEMA') return [`${quoteIdent(str(n.name))}.*`]
      return ['*']
    },
    'relation',
  ),
  RefreshMatViewStmt: ddl('maintenance', rel('relation'), 'relation'),
  CheckPointStmt: (w) => w.addOp('maintenance', undefined, 'CHECKPOINT'),

  // --- Privileges -----------------------------------------------------------
  GrantStmt: (w, n, type) => {
    const objects = Array.isArray(n.objects) ? n.objects : []
    if (n.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
      addAll(w, 'grant', objects.map((el) => `${quoteIdent(str(unwrap(el)?.[1].sval))}.*`))
    } else if (n.targtype === 'ACL_TARGET_DEFAULTS') {
      w.addOp('grant', '*')
    } else {
      addAll(w, 'grant', objects.flatMap((el) => objectNames(w, n.objtype, el)))
    }
    w.visitChildren(type, n, 'objects')
  },
  GrantRoleStmt: ddl('grant', (_w, n) => {
    const roles = Array.isArray(n.granted_roles) ? n.granted_roles : []
    return roles.map((el) => global('role', str(unwrap(el)?.[1].priv_name)))
  }),
  AlterDefaultPrivilegesStmt: (w, n, type) => {
    const options = Array.isArray(n.options) ? n.options : []
    const schemas = options
      .map((el) => unwrap(el)?.[1])
      .filter((d) => d?.defname === 'schemas')
      .flatMap((d) => stringList(unwrap(d?.arg)?.[1].items))
    addAll(w, 'grant', schemas.length > 0 ? schemas.map((s) => `${quoteIdent(s)}.*`) : ['*'], 'default privileges for future objects')
    w.visitChildren(type, n, 'action')
  },

  // --- CREATE ---------------------------------------------------------------
  CreateStmt: ddl('create', created('relation'), 'relation'),
  CreateForeignTableStmt: (w, n, type) => {
    const base = isObject(n.base) ? n.base : {}
    addAll(w, 'create', w.relationNames(base.relation, true))
    w.visitChildren('CreateStmt', base, 'relation')
    w.visitChildren(type, n, 'base')
  },
  CreateTableAsStmt: (w, n, type) => {
    const into = isObject(n.into) ? n.into : {}
    addAll(w, 'create', w.relationNames(into.rel, true))
    w.visitChildren('IntoClause', into, 'rel')
    w.visitChildren(type, n, 'into')
  },
  ViewStmt: ddl('create', created('view'), 'view'),
  IndexStmt: ddl('create', rel('relation'), 'relation'),
  CreateSeqStmt: ddl('create', created('sequence'), 'sequence'),
  CompositeTypeStmt: ddl('create', created('typevar'), 'typevar'),
  CreateEnumStmt: ddl('create', names('typeName')),
  CreateRangeStmt: ddl('create', names('typeName')),
  CreateDomainStmt: ddl('create', names('domainname')),
  DefineStmt: ddl('create', names('defnames')),
  CreateFunctionStmt: ddl('create', names('funcname')),
  CreateTrigStmt: ddl('create', rel('relation'), 'relation', 'constrrel'),
  CreateEventTrigStmt: ddl('create', named('event-trigger', 'trigname')),
  CreatePolicyStmt: ddl('create', rel('table'), 'table'),
  RuleStmt: ddl('create', rel('relation'), 'relation'),
  CreateStatsStmt: ddl('create', relList('relations'), 'relations'),
  CreateSchemaStmt: (w, n) => {
    const schema = typeof n.schemaname === 'string' ? n.schemaname : roleName(n.authrole)
    w.addOp('create', global('schema', schema))
    // Objects created inside CREATE SCHEMA land in the new schema.
    w.withDefaultSchema(schema, () => w.visit(n.schemaElts))
  },
  CreateExtensionStmt: ddl('create', named('extension', 'extname')),
  CreatePLangStmt: ddl('create', named('language', 'plname')),
  CreateRoleStmt: ddl('create', named('role', 'role')),
  CreatedbStmt: ddl('create', named('database', 'dbname')),
  CreateTableSpaceStmt: ddl('create', named('tablespace', 'tablespacename')),
  CreateFdwStmt: ddl('create', named('fdw', 'fdwname')),
  CreateForeignServerStmt: ddl('create', named('foreign-server', 'servername')),
  CreateUserMappingStmt: ddl('create', named('foreign-server', 'servername')),
  CreatePublicationStmt: ddl('create', named('publication', 'pubname')),
  CreateSubscriptionStmt: ddl('create', named('subscription', 'subname')),
  CreateAmStmt: ddl('create', named('access-method', 'amname')),
  CreateCastStmt: ddl('create', () => ['cast']),
  CreateTransformStmt: ddl('create', () => ['transform']),
  CreateConversionStmt: ddl('create', names('conversion_name')),
  CreateOpClassStmt: ddl('create', names('opclassname')),
  CreateOpFamilyStmt: ddl('create', names('opfamilyname')),
  ImportForeignSchemaStmt: ddl('create', (_w, n) => [`${quoteIdent(str(n.local_schema))}.*`]),

  // --- ALTER ----------------------------------------------------------------
  AlterTableStmt: ddl('alter', rel('relation'), 'relation'),
  AlterTableMoveAllStmt: ddl('alter', named('tablespace', 'orig_tablespacename')),
  AlterSeqStmt: ddl('alter', rel('sequence'), 'sequence'),
  AlterDomainStmt: ddl('alter', names('typeName')),
  AlterEnumStmt: ddl('alter', names('typeName')),
  AlterTypeStmt: ddl('alter', names('typeName')),
  AlterFunctionStmt: ddl('alter', (w, n) => objectNames(w, n.objtype, { ObjectWithArgs: n.func })),
  AlterOperatorStmt: ddl('alter', (w, n) => objectNames(w, 'OBJECT_OPERATOR', { ObjectWithArgs: n.opername })),
  AlterOpFamilyStmt: ddl('alter', names('opfamilyname')),
  AlterCollationStmt: ddl('alter', names('collname')),
  AlterStatsStmt: ddl('alter', names('defnames')),
  AlterTSDictionaryStmt: ddl('alter', names('dictname')),
  AlterTSConfigurationStmt: ddl('alter', names('cfgname')),
  AlterPolicyStmt: ddl('alter', rel('table'), 'table'),
  AlterExtensionStmt: ddl('alter', named('extension', 'extname')),
  AlterExtensionContentsStmt: ddl('alter', named('extension', 'extname')),
  AlterFdwStmt: ddl('alter', named('fdw', 'fdwname')),
  AlterForeignServerStmt: ddl('alter', named('foreign-server', 'servername')),
  AlterUserMappingStmt: ddl('alter', named('foreign-server', 'servername')),
  AlterPublicationStmt: ddl('alter', named('publication', 'pubname')),
  AlterSubscriptionStmt: ddl('alter', named('subscription', 'subname')),
  AlterEventTrigStmt: ddl('alter', named('event-trigger', 'trigname')),
  AlterRoleStmt: ddl('alter', (_w, n) => [global('role', roleName(n.role))]),
  // ALTER ROLE r SET x: the nested SET is walked too (ALTER ROLE ... SET search_path is a search_path game for the next session).
  AlterRoleSetStmt: ddl('alter', (_w, n) => [isObject(n.role) ? global('role', roleName(n.role)) : 'role:*']),
  AlterDatabaseStmt: ddl('alter', named('database', 'dbname')),
  AlterDatabaseSetStmt: ddl('alter', named('database', 'dbname')),
  AlterDatabaseRefreshCollStmt: ddl('alter', named('database', 'dbname')),
  AlterSystemStmt: ddl('alter', (_w, n) => [global('system', isObject(n.setstmt) ? str(n.setstmt.name) : '')]),
  AlterTableSpaceOptionsStmt: ddl('alter', named('tablespace', 'tablespacename')),
  RenameStmt: ddl('alter', relationOrObject('renameType'), 'relation'),
  AlterObjectSchemaStmt: ddl('alter', relationOrObject('objectType'), 'relation'),
  AlterOwnerStmt: ddl('alter', relationOrObject('objectType'), 'relation'),
  AlterObjectDependsStmt: ddl('alter', relationOrObject('objectType'), 'relation'),
  CommentStmt: ddl('alter', (w, n) => objectNames(w, n.objtype, n.object), 'object'),
  SecLabelStmt: ddl('alter', (w, n) => objectNames(w, n.objtype, n.object), 'object'),
  ReassignOwnedStmt: ddl('alter', (_w, n) => roleNames(n.roles)),

  // --- DROP -----------------------------------------------------------------
  DropStmt: (w, n, type) => {
    const objects = Array.isArray(n.objects) ? n.objects : []
    addAll(w, 'drop', objects.flatMap((el) => objectNames(w, n.removeType, el)))
    w.visitChildren(type, n, 'objects')
  },
  DropRoleStmt: ddl('drop', (_w, n) => roleNames(n.roles)),
  DropOwnedStmt: ddl('drop', (_w, n) => roleNames(n.roles)),
  DropdbStmt: ddl('drop', named('database', 'dbname')),
  DropTableSpaceStmt: ddl('drop', named('tablespace', 'tablespacename')),
  DropSubscriptionStmt: ddl('drop', named('subscription', 'subname')),
  DropUserMappingStmt: ddl('drop', named('foreign-server', 'servername')),

  // --- Only inside other statements -----------------------------------------
  // RETURN appears in a CREATE FUNCTION body; the others only in trees this
  // classifier never sees (PL/pgSQL, analysed queries). Walked, no action of their own.
  ReturnStmt: (w, n, type) => w.visitChildren(type, n),
  PLAssignStmt: (w, n, type) => {
    w.addOp('other', undefined, 'PL/pgSQL assignment')
    w.visitChildren(type, n)
  },
  SetOperationStmt: (w, n, type) => w.visitChildren(type, n),
  RawStmt: (w, n, type) => w.visitChildren(type, n),
  ReplicaIdentityStmt: (w, n, type) => w.visitChildren(type, n),
}

export const STATEMENT_HANDLERS: ReadonlyMap<string, Handler> = new Map(Object.entries(handlers))

/** Statement types handled in walker.ts rather than here. */
export const WALKER_STATEMENTS: readonly string[] = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'ExplainStmt', 'ExecuteStmt']
