// One issue in the policy repository that says what the last sweep did and
// found: a refusal and its reason, each proposal and its state, and what is
// only reported (an identity about to expire, a rule never used, an owner
// whose status is unknown, a proposal that could not be made green, an
// invalid exemption), so none of it ends in a log line nobody reads. Found
// again by its marker and edited in place; never written on a dry run.
import type { BotContext } from '../context.js'
import type { SweepReport } from './sweep.js'

export const SUMMARY_LABEL = 'gatehouse-sweep-summary'
const MARKER = '<!-- gatehouse:sweep-summary -->'

/** The state of a proposal, the same on every run where nothing changed (the summary is then not edited). */
function state(r: SweepReport['results'][number]): string {
  const pr = r.number === undefined ? '' : `#${r.number}`
  if (['created', 'updated', 'unchanged', 'reopened'].includes(r.outcome)) return pr
  return `${r.outcome}${pr ? ` ${pr}` : ''}`
}

export function summaryBody(report: SweepReport): string {
  const lines = [MARKER, `The last sweep, of commit \`${report.base.slice(0, 12)}\` of the default branch.`, '']
  if (report.refused) lines.push(`**The sweep refused to judge:** ${report.refused}. No pull request was opened, updated or closed.`, '')
  const proposals = report.results.filter((r) => r.outcome !== 'reported')
  if (proposals.length > 0) {
    lines.push('| identity | proposal | state | |', '| --- | --- | --- | --- |')
    for (const r of proposals) lines.push(`| \`${r.identity}\` | ${r.action ?? '—'} | ${state(r)} | ${r.note ?? ''} |`)
    lines.push('')
  }
  const reports = report.results.flatMap((r) => r.reports.map((f) => `- \`${r.identity}\`: ${f.reason}`))
  if (reports.length > 0) lines.push('**Reported, nothing proposed:**', '', ...reports, '')
  if (report.warnings.length > 0) lines.push('**Warnings:**', '', ...report.warnings.map((w) => `- ${w}`), '')
  if (proposals.length === 0 && reports.length === 0 && report.warnings.length === 0 && !report.refused) lines.push('Nothing found.')
  return lines.join('\n').trimEnd()
}

export async function publishSummary(ctx: BotContext, report: SweepReport): Promise<number> {
  const repo = { owner: ctx.config.policyRepo.owner, repo: ctx.config.policyRepo.name }
  const body = summaryBody(report)
  const open = await ctx.github.paginate('GET /repos/{owner}/{repo}/issues', { ...repo, state: 'open', labels: SUMMARY_LABEL, per_page: 100 })
  const existing = open.find((i) => i.user?.login?.toLowerCase() === ctx.self.toLowerCase() && i.body?.startsWith(MARKER))
  if (existing) {
    if (existing.body !== body) await ctx.github.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { ...repo, issue_number: existing.number, body })
    return existing.number
  }
  const { data } = await ctx.github.request('POST /repos/{owner}/{repo}/issues', { ...repo, title: 'Gatehouse: stale-identity sweep', body, labels: [SUMMARY_LABEL] })
  return data.number
}
