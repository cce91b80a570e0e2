import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { now } from '../../cli/clock.js'
import { loadSqlParser } from '../../engine/sql/index.js'
import { createEngine, type Engine } from '../../engine/engine.js'
import { identityProblem } from '../../engine/decide.js'
import { permissionsOf, type ResourcePermissions } from '../../engine/permissions.js'
import { decideSql, decideSsh } from '../../engine/requests.js'
import { describeBinding } from '../../engine/workload.js'
import type { Bundle, Decision } from '../../engine/types.js'
import { compileRepository } from '../compile.js'
import { loadDirectory } from '../load.js'
import { openBundle } from '../../engine/bundle-open.js'
import { EXIT, oneOf, UsageError, type Command, type Io } from '../../cli/command.js'
import { reportDiagnostics } from './report.js'

export const explainCommand: Command = {
  name: 'explain',
  summary: 'what an identity may do, or how one request is decided, and why',
  usage: `usage: gatehouse explain [DIR] --identity NAME [--resource NAME] [--sql SQL | --ssh COMMAND]
                         [--time ISO-8601] [--source ADDRESS] [--bundle FILE] [--format text|json]

Without a request: every rule and mask that applies to the identity, per
resource (the answer to "what am I allowed to do?"). With --sql or --ssh:
the decision for that request, the rule that made it, the masks, and a
trace of every rule considered.

options:
  --identity NAME   the identity (required)
  --resource NAME   limit to one resource (required with --sql or --ssh)
  --sql SQL         a SQL string, as a client would send it
  --ssh COMMAND     an SSH exec command line
  --time T          decide as of this time (default now)
  --source ADDRESS  the client address conditions see
  --bundle FILE     explain against a compiled bundle instead of DIR
  --format FORMAT   text (default) or json`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        identity: { type: 'string' },
        resource: { type: 'string' },
        sql: { type: 'string' },
        ssh: { type: 'string' },
        time: { type: 'string' },
        source: { type: 'string' },
        bundle: { type: 'string' },
        format: { type: 'string' },
      },
      allowPositionals: true,
    })
    const format = oneOf(values.format, ['text', 'json'] as const, 'format') ?? 'text'
    if (!values.identity) throw new UsageError('missing --identity')
    if (values.sql !== undefined && values.ssh !== undefined) throw new UsageError('give either --sql or --ssh, not both')
    if ((values.sql !== undefined || values.ssh !== undefined) && !values.resource) throw new UsageError('--sql and --ssh need --resource')
    const time = values.time ? new Date(values.time) : now()
    if (Number.isNaN(time.getTime())) throw new UsageError('--time must be an ISO-8601 date and time')

    // The SQL parser (WebAssembly) is only needed to decide --sql; it compiles
    // on a background thread while the repository is read.
    const parser = values.sql !== undefined ? loadSqlParser() : undefined
    parser?.catch(() => undefined)
    const bundle = values.bundle ? await readBundle(values.bundle, io) : await compileDir(positionals[0] ?? '.', io)
    if (!bundle) return EXIT.findings
    await parser
    const built = createEngine(bundle)
    if (!built.ok) {
      io.err(`bundle does not load: ${built.errors.join('; ')}`)
      return EXIT.findings
    }
    const engine = built.engine
    const identity = values.identity
    if (!Object.hasOwn(bundle.identities, identity)) {
      io.err(`unknown identity \`${identity}\``)
      return EXIT.findings
    }
    const context = { time, ...(values.source ? { source: values.source } : {}) }
    if (values.sql !== undefined || values.ssh !== undefined) {
      const resource = values.resource!
      const sql = values.sql !== undefined ? decideSql(engine, { identity, resource, sql: values.sql, context }, { explain: true }) : undefined
      const decision = sql ? sql.decision : decideSsh(engine, { identity, resource, request: { type: 'exec', command: values.ssh! }, context }, { explain: true })
      if (format === 'json') io.out(JSON.stringify({ identity, resource, decision, statements: sql?.statements ?? [] }, null, 2))
      else printDecision(io, decision, sql?.statements.length ?? 0)
      return EXIT.ok
    }
    printPermissions(io, engine, identity, values.resource, time, format)
    return EXIT.ok
  },
}

async function compileDir(dir: string, io: Io): Promise<Bundle | undefined> {
  const compiled = await compileRepository(await loadDirectory(dir))
  if (!compiled.bundle) reportDiagnostics(io, compiled.diagnostics.filter((d) => d.severity === 'error'), 'text', dir, compiled.sources)
  return compiled.bundle
}

async function readBundle(path: string, io: Io): Promise<Bundle | undefined> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    io.err(`${path} cannot be read: ${err.message}`)
    return undefined
  })
  if (text === undefined) return undefined
  const opened = openBundle(text)
  if (opened.ok) return opened.bundle
  io.err(`${path} is not a valid bundle: ${opened.message}`)
  return undefined
}

function printDecision(io: Io, decision: Decision, statements: number): void {
  const lines = [`decision: ${decision.effect.toUpperCase()}${decision.rule ? ` by rule ${decision.rule}` : ''}`]
  for (const reason of decision.reasons) lines.push(`  ${reason}`)
  for (const error of decision.errors) lines.push(`  error: ${error}`)
  if (statements > 1) lines.push(`  (${statements} statements; the most restrictive decision wins)`)
  if (decision.approval) lines.push(`approval: ${decision.approval.count} of ${decision.approval.approvers.join(', ')} within ${decision.approval.timeout}s`)
  if (decision.masks.length > 0) lines.push(`masks: ${decision.masks.map((m) => `${m.id} (${m.strategy}, ${m.policy})`).join(', ')}`)
  if (decision.observed) lines.push(`observe mode would decide: ${decision.observed.effect.toUpperCase()}${decision.observed.rule ? ` by rule ${decision.observed.rule}` : ''}`)
  if (decision.trace?.length) {
    lines.push('trace:')
    for (const step of decision.trace) lines.push(`  ${step.outcome.padEnd(15)} ${step.rule} (${step.effect}${step.mode === 'observe' ? ', observe' : ''}) for ${step.operation}: ${step.detail}`)
  }
  io.out(lines.join('\n'))
}

function printPermissions(io: Io, engine: Engine, identity: string, only: string | undefined, time: Date, format: 'text' | 'json'): void {
  const permissions = permissionsOf(engine, identity)!
  const resources: ResourcePermissions[] = permissions.resources.filter((r) => !only || r.resource === only)
  const problem = identityProblem(engine, identity, time)
  if (format === 'json') {
    io.out(JSON.stringify({ identity: permissions.identity, valid: !problem, problem: problem ?? null, resources }, null, 2))
    return
  }
  const id = permissions.identity
  const lines = [`${id.name}: owned by ${id.owner}, ${id.expires ? `expires ${id.expires}` : 'never expires'}, roles [${id.roles.join(', ')}]`]
  for (const binding of id.credentials.oidc ?? []) lines.push(`  signs in as ${describeBinding(binding)}, with no stored secret`)
  for (const c of [...(id.credentials.tokens ?? []), ...id.credentials.sshKeys]) if (c.notAfter) lines.push(`  a ${'key' in c ? 'SSH key' : 'token'} is retired after ${c.notAfter}`)
  if (problem) lines.push(`  note: ${problem}: every request is denied`)
  if (resources.length === 0) lines.push(only ? `  no rules on \`${only}\`: everything is denied` : '  no rules on any resource: everything is denied')
  for (const r of resources) {
    lines.push('', `${r.resource} (${r.type}${Object.keys(r.labels).length ? `; ${Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''})`)
    for (const g of r.grants) {
      const extra = [g.when ? `when ${g.when}` : '', g.approval ? `approval: ${g.approval.count} of ${g.approval.approvers.join(', ')}` : '', g.mode === 'observe' ? 'observe only' : '']
        .filter(Boolean)
        .join('; ')
      lines.push(`  ${g.effect.padEnd(7)} ${g.target}${extra ? ` (${extra})` : ''}  [${g.rule}]`)
    }
    for (const m of r.masks) lines.push(`  mask    ${m.id}: ${m.strategy}${m.mode === 'observe' ? ' (observe only)' : ''}  [${m.policy}]`)
  }
  lines.push('', 'Everything not allowed above is denied.')
  io.out(lines.join('\n'))
}
