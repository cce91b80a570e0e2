// What the bot writes on a policy pull request: the one comment (found again
// by its hidden marker) with the permission diff, the risk of each change,
// and each approval rule with its state, who can satisfy it and a link to
// the file and line it comes from; and the check's title, summary and
// file:line annotations. When the base branch does not require the check,
// both say so first.
import type { Diagnostic } from '../../compiler/diagnostics.js'
import { formatDiffMarkdown } from '../../compiler/diff-format.js'
import type { RuleSource } from './approval-rules.js'
import type { Evaluation } from './evaluate.js'
import type { PullRequestStatus } from './status.js'

/** What the comment and check need beyond the evaluation: where links point, and the warning when the check is not required. */
export interface RenderContext {
  /** The repository's web address, e.g. `https://github.com/acme/policies`. */
  repoUrl: string
  warning?: string
}

export const COMMENT_MARKER = '<!-- gatehouse:policy-comment -->'
/** GitHub refuses comment bodies over 65,536 characters; the diff gets what the rest leaves. */
const MAX_DIFF_CHARS = 40_000
const MAX_LISTED = 30
export const MAX_ANNOTATIONS = 50

const short = (sha: string) => sha.slice(0, 7)
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

function findingLine(d: Diagnostic): string {
  const line = `- \`${d.file}:${d.line}\` ${d.severity}[${d.code}]: ${cell(d.message)}`
  return d.help ? `${line}\n  help: ${cell(d.help)}` : line
}

/** The web address of the file and line a rule comes from, at the commit it was read from. */
export function sourceUrl(repoUrl: string, evaluation: Pick<Evaluation, 'baseSha' | 'headSha'>, source: RuleSource): string {
  const commit = source.side === 'head' ? evaluation.headSha : evaluation.baseSha
  const path = source.path.split('/').map(encodeURIComponent).join('/')
  return `${repoUrl}/blob/${commit}/${path}${source.line ? `#L${source.line}` : ''}`
}

function ruleCell(reasons: readonly string[], sources: readonly RuleSource[] | undefined, repoUrl: string, evaluation: Evaluation): string {
  // Stored evaluations from before rules had sources have none: the reason is shown unlinked.
  return reasons.map((reason, i) => (sources?.[i] ? `[${cell(reason)}](${sourceUrl(repoUrl, evaluation, sources[i]!)})` : cell(reason))).join('; ')
}

function approvalsTable(evaluation: Evaluation, status: PullRequestStatus, context: RenderContext): string[] {
  const lines = ['#### Approvals', '', '| Rule | Needs | Who can approve | Approved by | State |', '| --- | --- | --- | --- | --- |']
  for (const r of status.rules) {
    const state = r.satisfied ? '✅ satisfied' : `⏳ ${r.approvedBy.length} of ${r.rule.required}`
    lines.push(`| ${ruleCell(r.rule.reasons, r.rule.sources, context.repoUrl, evaluation)} | ${r.rule.required} | ${r.rule.approvers.map((a) => `\`${a}\``).join(', ')} | ${r.approvedBy.map((l) => `@${l}`).join(', ') || '—'} | ${state} |`)
  }
  if (status.rules.length === 0) lines.push('| (none: the base branch does not compile) | — | — | — | ❌ |')
  if (status.deniedBy.length > 0) lines.push('', `❌ Denied by ${status.deniedBy.map((l) => `@${l}`).join(', ')}.`)
  if (status.heldBy.length > 0) lines.push('', `✋ On hold by ${status.heldBy.map((l) => `@${l}`).join(', ')} (\`/unhold\` to release).`)
  return lines
}

const warningBlock = (warning: string | undefined) => (warning ? [`> [!WARNING]`, `> ${warning}`, ''] : [])

export function renderComment(evaluation: Evaluation, status: PullRequestStatus, baseRef: string, excluded: readonly string[], context: RenderContext): string {
  const lines = [
    COMMENT_MARKER,
    `## Gatehouse policy check: ${status.passed ? '✅' : '❌'} ${status.headline}`,
    '',
    ...warningBlock(context.warning),
    `Head \`${short(evaluation.headSha)}\`, base \`${baseRef}\` (\`${short(evaluation.baseSha)}\`, merge base \`${short(evaluation.mergeBaseSha)}\`), permission diff \`${evaluation.digest.slice(0, 19)}\`.`,
    '',
  ]
  for (const p of evaluation.problems) lines.push(`> **${p}**`, '')
  if (evaluation.diff) {
    let diff = formatDiffMarkdown(evaluation.diff)
    if (diff.length > MAX_DIFF_CHARS) diff = `${diff.slice(0, diff.lastIndexOf('\n', MAX_DIFF_CHARS))}\n\n_The diff is cut short here; run \`gatehouse diff\` for all of it._`
    lines.push(diff, '')
  }
  lines.push(...approvalsTable(evaluation, status, context), '')
  // Named without @, so listing them does not notify them on every update.
  if (excluded.length > 0) lines.push(`Cannot approve (author or pusher): ${excluded.map((l) => `\`${l}\``).join(', ')}.`, '')
  const errors = evaluation.findings.filter((f) => f.severity === 'error')
  const warnings = evaluation.findings.length - errors.length
  lines.push(`#### Validation: ${errors.length} error${errors.length === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}; tests: ${evaluation.testsRun} run, ${evaluation.testFailures.length} failed`)
  const listed = [...evaluation.findings.slice(0, MAX_LISTED).map(findingLine), ...evaluation.testFailures.slice(0, MAX_LISTED).map((t) => `- \`${t.file}:${t.line}\` test failed: ${cell(t.name)}: ${cell(t.message)}`)]
  if (listed.length > 0) lines.push('', ...listed)
  lines.push(
    '',
    `<sub>Approvers comment \`/approve\` (or approve in a review), \`/approve cancel\`, \`/deny\`, \`/hold\` or \`/unhold\` on a line of its own. ` +
      `Approvals count for this head commit and this permission diff only; a push that changes either clears them. ` +
      `Approvers are read from \`${baseRef}\`, never from the pull request.</sub>`,
  )
  return lines.join('\n')
}

export interface CheckOutput {
  title: string
  summary: string
  annotations: Array<{ path: string; start_line: number; end_line: number; annotation_level: 'failure' | 'warning' | 'notice'; title: string; message: string }>
}

export function renderCheck(evaluation: Evaluation, status: PullRequestStatus, context: RenderContext): CheckOutput {
  const annotations: CheckOutput['annotations'] = []
  for (const d of evaluation.findings) {
    if (d.file === '.') continue
    annotations.push({ path: d.file, start_line: d.line, end_line: Math.max(d.line, d.endLine), annotation_level: d.severity === 'error' ? 'failure' : 'warning', title: d.code, message: d.help ? `${d.message}\nhelp: ${d.help}` : d.message })
  }
  for (const t of evaluation.testFailures) annotations.push({ path: t.file, start_line: t.line, end_line: t.line, annotation_level: 'failure', title: 'test.failed', message: `${t.name}: ${t.message}` })
  const summary = [...warningBlock(context.warning), `**${status.headline}**`, '', ...approvalsTable(evaluation, status, context)]
  if (annotations.length > MAX_ANNOTATIONS) summary.push('', `${annotations.length - MAX_ANNOTATIONS} more findings are listed in the pull-request comment.`)
  return { title: status.headline, summary: summary.join('\n'), annotations: annotations.slice(0, MAX_ANNOTATIONS) }
}
