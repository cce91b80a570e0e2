import { parseArgs } from 'node:util'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import type { StoredEvent } from '../../store/audit-log.js'
import { carriedOutcomes } from '../../store/audit-read.js'
import { openStoreAccess, parseSince } from './store-access.js'

/** One line per event, then what it was about and, for a decision, why: the text form says what JSON says. */
export function formatEvent(e: StoredEvent): string {
  const d = e.data as Record<string, unknown>
  if (e.kind === 'approval.vote') return formatVote(e, d)
  const what = d.statement ?? d.command ?? d.path ?? d.reason ?? ''
  const by = d.rule ? ` by ${String(d.rule)}` : d.decision === 'deny' ? ' (no rule allows it)' : ''
  const decision = d.decision ? ` ${String(d.decision).toUpperCase()}${by}` : ''
  const reasons = Array.isArray(d.reasons) ? d.reasons.map((r) => `\n    why: ${String(r)}`).join('') : ''
  const observed = d.observed && typeof d.observed === 'object' ? ` (observe: ${String((d.observed as { effect: string }).effect).toUpperCase()} by ${String((d.observed as { rule?: string }).rule ?? 'no rule')})` : ''
  const outcome = d.outcome ? ` → ${String(d.outcome)}` : ''
  // Outcomes of the session's earlier statements, written with this event rather than in rows of their own.
  const carried = carriedOutcomes(d).map((o) => `\n    earlier ${o.event} → ${o.outcome}`).join('')
  return `${e.time}  ${e.kind.padEnd(18)} ${e.identity ?? '-'} on ${e.resource ?? '-'} [${e.sessionId ?? '-'}]${decision}${observed}${outcome}${what ? `\n    ${String(what).replace(/\n/g, '\n    ')}` : ''}${reasons}${carried}`
}

/** Who decided a held request, when, through what, and why. */
function formatVote(e: StoredEvent, d: Record<string, unknown>): string {
  const head = `${e.time}  ${e.kind.padEnd(18)} ${String(d.approver)} ${d.vote === 'approve' ? 'APPROVED' : 'DENIED'} ${String(d.request)} through ${String(d.source)} (request now ${String(d.status)})`
  return `${head}${d.reason ? `\n    why: ${String(d.reason)}` : ''}`
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'verify and query the audit trail',
  usage: `usage: gatehouse audit verify [--store LOCATION | --admin URL]
       gatehouse audit query [--identity NAME] [--resource NAME] [--session ID] [--since 7d] [--kind KIND]...
                             [--observed] [--limit N] [--format text|json] [--store LOCATION | --admin URL]

verify walks every hash chain and reports altered, removed, reordered or
truncated events (exit 1 if any). query lists events, oldest first;
--observed keeps only statements an observe-mode rule would have decided
differently: what a planned restriction would have stopped.

options:
  --store LOCATION  a PostgreSQL URL or an embedded store directory (default: $GATEHOUSE_STORE or .gatehouse/store)
  --admin URL       go through a running gateway's admin API instead (token in $GATEHOUSE_ADMIN_TOKEN)`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: {
        store: { type: 'string' }, admin: { type: 'string' }, identity: { type: 'string' }, resource: { type: 'string' }, session: { type: 'string' },
        since: { type: 'string' }, kind: { type: 'string', multiple: true }, observed: { type: 'boolean' }, limit: { type: 'string' }, format: { type: 'string' },
      },
      allowPositionals: true,
    })
    const [verb] = positionals
    if (verb !== 'verify' && verb !== 'query') throw new UsageError('expected verify or query')
    const format = oneOf(values.format, ['text', 'json'] as const, 'format') ?? 'text'
    const access = await openStoreAccess({ ...(values.store ? { store: values.store } : {}), ...(values.admin ? { admin: values.admin } : {}) })
    try {
      if (verb === 'verify') {
        const report = await access.verify()
        if (format === 'json') io.out(JSON.stringify(report, null, 2))
        else {
          for (const p of report.problems) io.out(`chain ${p.chain}${p.seq === null ? '' : ` event ${p.seq}`}: ${p.problem}`)
          io.out(`${report.events} events in ${report.chains} chain(s): ${report.problems.length === 0 ? 'intact' : `${report.problems.length} problem(s)`}`)
        }
        return report.problems.length === 0 ? EXIT.ok : EXIT.findings
      }
      const since = parseSince(values.since)
      let events = await access.events({
        ...(values.identity ? { identity: values.identity } : {}),
        ...(values.resource ? { resource: values.resource } : {}),
        ...(values.session ? { sessionId: values.session } : {}),
        ...(values.kind ? { kinds: values.kind } : {}),
        ...(since ? { since } : {}),
        limit: values.limit ? Number(values.limit) : 1000,
      })
      if (values.observed) events = events.filter((e) => e.data.observed !== undefined)
      io.out(format === 'json' ? JSON.stringify(events, null, 2) : events.length ? events.map(formatEvent).join('\n') : 'no events')
      return EXIT.ok
    } finally {
      await access.close()
    }
  },
}
