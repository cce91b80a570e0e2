// Functions whose call is an operation of its own (`function` on
// `pg_catalog.<name>`), wherever the call appears in a statement: they reach
// outside the rows a policy reasons about (files, other servers, other
// sessions, the server's configuration) or run SQL the classifier cannot see.
//
// Built-in functions match by name when the call is unqualified (pg_catalog is
// searched first) or qualified with pg_catalog; a call qualified with another
// schema is a user function of the same name and does not match. Extension
// functions (`anySchema`) live in whatever schema the extension was created
// in, so they match in any schema.

/** What else a call means, beyond `function` on its name. */
export type FunctionSpecial =
  /** set_config(name, ...): with a constant name, the same as `SET name` (and no `function` operation). */
  | 'set-config'
  /** pg_notify(channel, payload): the same as NOTIFY (and no `function` operation). */
  | 'notify'
  /** Reads the rows of the table named by its first argument (a regclass). */
  | 'reads-table'
  /** Reads every table of the schema named by its first argument. */
  | 'reads-schema'
  /** Reads every table of the database. */
  | 'reads-database'
  /** Executes the SQL text given as argument `sqlArgument`. */
  | 'runs-sql'

export interface DangerousFunction {
  group: string
  special?: FunctionSpecial
  /** For `runs-sql`: the index of the argument holding the SQL text. */
  sqlArgument?: number
  /** For `runs-sql`: only with exactly this many arguments (ts_rewrite has a form without SQL). */
  arity?: number
  /** Extension functions: match whatever schema the call names. */
  anySchema?: boolean
}

const table = new Map<string, DangerousFunction>()
const prefixes: { prefix: string; fn: DangerousFunction }[] = []

function add(group: string, names: string, extra: Omit<DangerousFunction, 'group'> = {}): void {
  for (const name of names.split(/\s+/).filter(Boolean)) {
    const fn = { group, ...extra }
    if (name.endsWith('*')) prefixes.push({ prefix: name.slice(0, -1), fn })
    else table.set(name, fn)
  }
}

// Server file access: read, list and stat files on the database server (adminpack adds writes).
add('server-files', `pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_ls_logdir pg_ls_waldir
  pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalsnapdir pg_ls_logicalmapdir pg_ls_replslotdir
  pg_ls_summariesdir`)
add('server-files', 'pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_file_read pg_file_length pg_logdir_ls', {
  anySchema: true,
})

// Large objects: lo_import/lo_export touch server files; the rest read or write
// data that no table policy covers.
add('large-objects', 'lo_* loread lowrite')

// Other servers: dblink and postgres_fdw open connections and run arbitrary SQL there (or here, through loopback).
add('remote-sql', 'dblink* postgres_fdw_*', { anySchema: true })

// Backend and server control: end other sessions, reload configuration, switch WAL, promote, back up.
add('server-control', `pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_promote
  pg_switch_wal pg_create_restore_point pg_log_backend_memory_contexts pg_backup_start pg_backup_stop
  pg_wal_replay_pause pg_wal_replay_resume pg_stat_reset* pg_import_system_collations binary_upgrade_*`)

// Replication slots and origins: logical decoding reads every change made to the database.
add('replication', `pg_create_physical_replication_slot pg_create_logical_replication_slot pg_drop_replication_slot
  pg_copy_physical_replication_slot pg_copy_logical_replication_slot pg_replication_slot_advance
  pg_logical_slot_* pg_logical_emit_message pg_replication_origin_*`)

// Configuration: set_config is SET in function form (SET search_path, SET ROLE included).
add('configuration', 'set_config', { special: 'set-config' })

// Sequences: setval rewinds or jumps a sequence, a write that no table policy covers.
add('sequences', 'setval')

// Delays: a sleeping statement holds locks and a connection; also a timing side channel.
add('delays', 'pg_sleep pg_sleep_for pg_sleep_until')

// SQL in a string: these run the query text they are given (query_to_xml('delete ...') deletes)
// or read whole tables, schemas or databases by name.
add('runs-sql', 'query_to_xml query_to_xmlschema query_to_xml_and_xmlschema ts_stat', {
  special: 'runs-sql',
  sqlArgument: 0,
})
add('runs-sql', 'ts_rewrite', { special: 'runs-sql', sqlArgument: 1, arity: 2 })
add('runs-sql', 'cursor_to_xml cursor_to_xmlschema')
add('runs-sql', 'table_to_xml table_to_xml_and_xmlschema', { special: 'reads-table' })
add('runs-sql', 'table_to_xmlschema')
add('runs-sql', 'schema_to_xml schema_to_xml_and_xmlschema', { special: 'reads-schema' })
add('runs-sql', 'schema_to_xmlschema')
add('runs-sql', 'database_to_xml database_to_xml_and_xmlschema', { special: 'reads-database' })
add('runs-sql', 'database_to_xmlschema')

// Advisory locks: they outlive statements and can block other sessions.
add('advisory-locks', 'pg_advisory_* pg_try_advisory_*')

// Transaction ids and notifications: assigning an xid writes; pg_notify is NOTIFY.
add('transactions', 'txid_current pg_current_xact_id')
add('notifications', 'pg_notify', { special: 'notify' })

// current_setting, version(), pg_backend_pid() and the like are deliberately absent: they only read.

/** Every entry, exact names and `prefix*` families (for tests and documentation). */
export function listDangerousFunctions(): { name: string; fn: DangerousFunction }[] {
  return [...[...table].map(([name, fn]) => ({ name, fn })), ...prefixes.map(({ prefix, fn }) => ({ name: `${prefix}*`, fn }))]
}

/** The entry for a called function, or undefined when the call is not dangerous by name. */
export function dangerousFunction(schema: string | undefined, name: string): DangerousFunction | undefined {
  const builtinName = schema === undefined || schema === 'pg_catalog'
  const exact = table.get(name)
  if (exact) return builtinName || exact.anySchema ? exact : undefined
  for (const { prefix, fn } of prefixes) {
    if (name.startsWith(prefix) && (builtinName || fn.anySchema)) return fn
  }
  return undefined
}
