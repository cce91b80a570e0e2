import { parseArgs } from 'node:util'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import type { ApprovalRequest, ApprovalStatus } from '../../store/approvals.js'
import { openStoreAccess } from './store-access.js'

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'used', 'cancelled'] as const

function describe(a: ApprovalRequest): string {
  return [
    `${a.id}  ${a.status.toUpperCase()}  ${a.identity} on ${a.resource}  (rule ${a.rule})`,
    `    ${a.protocol === 'postgres' ? 'SQL' : 'command'}: ${a.requestText.length > 300 ? `${a.requestText.slice(0, 300)}…` : a.requestText}`,
    `    needs ${a.required} of ${a.approvers.join(', ')}; expires ${a.expiresAt}`,
    ...a.votes.map((v) => `    ${v.vote === 'approve' ? 'approved' : 'denied'} by ${v.approver} at ${v.time} through ${v.source}${v.reason ? `: ${v.reason}` : ''}`),
  ].join('\n')
}

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: 'list and decide statements and commands held for approval',
  usage: `usage: gatehouse approvals list [--status STATUS] [--format text|json] [--store LOCATION | --admin URL]
       gatehouse approvals approve ID --as APPROVER [--reason TEXT] [--store LOCATION | --admin URL]
       gatehouse approvals deny ID --as APPROVER [--reason TEXT] [--store LOCATION | --admin URL]

Decides the approval requests the gateway stores when a rule holds a
statement or command. An approval is used once, for exactly the request it
was given for. A decision here is an operator's: it is recorded with the
name given in --as and the source "cli". The GitHub bot decides the same
records from issue comments, checking team membership.

options:
  --store LOCATION  a PostgreSQL URL or an embedded store directory (default: $GATEHOUSE_STORE or .gatehouse/store)
  --admin URL       go through a running gateway's admin API instead (token in $GATEHOUSE_ADMIN_TOKEN)
  --status STATUS   ${STATUSES.join(', ')} (default: all)
  --as APPROVER     who decides (a GitHub user or team, as the approvers are written)
  --reason TEXT     recorded with the decision
  --format FORMAT   text (default) or json`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { store: { type: 'string' }, admin: { type: 'string' }, status: { type: 'string' }, as: { type: 'string' }, reason: { type: 'string' }, format: { type: 'string' } },
      allowPositionals: true,
    })
    const [verb, id] = positionals
    const format = oneOf(values.format, ['text', 'json'] as const, 'format') ?? 'text'
    if (verb !== 'list' && verb !== 'approve' && verb !== 'deny') throw new UsageError('expected list, approve or deny')
    const access = await openStoreAccess({ ...(values.store ? { store: values.store } : {}), ...(values.admin ? { admin: values.admin } : {}) })
    try {
      if (verb === 'list') {
        const status = oneOf(values.status, STATUSES, 'status') as ApprovalStatus | undefined
        const approvals = await access.listApprovals(status)
        io.out(format === 'json' ? JSON.stringify(approvals, null, 2) : approvals.length ? approvals.map(describe).join('\n\n') : 'no approval requests')
        return EXIT.ok
      }
      if (!id) throw new UsageError(`expected \`approvals ${verb} ID\``)
      if (!values.as) throw new UsageError('--as is required: who is deciding')
      const result = await access.vote(id, values.as, verb, values.reason)
      if (format === 'json') io.out(JSON.stringify(result, null, 2))
      else if (result.ok) io.out(`${id}: ${verb === 'approve' ? 'approval' : 'denial'} recorded; the request is now ${result.request.status}`)
      else io.err(`${id}: not recorded: ${{ 'not-found': 'no such request', 'not-pending': `the request is already ${result.request?.status ?? 'decided'}`, expired: 'the request has expired', 'own-request': 'the identity\'s owner may not decide it', 'already-voted': `${values.as} has already decided it` }[result.reason]}`)
      return result.ok ? EXIT.ok : EXIT.findings
    } finally {
      await access.close()
    }
  },
}
