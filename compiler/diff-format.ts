// Renderings of a permission diff: a terminal table, a pull-request comment
// (markdown) and JSON.
import type { PermissionChange, PermissionDiff, Risk } from './diff.js'
import { overallRisk } from './diff.js'

const RISK_LABEL: Record<Risk, string> = { high: 'HIGH', medium: 'medium', low: 'low' }
const RISK_ORDER: Record<Risk, number> = { high: 0, medium: 1, low: 2 }
const SIGN: Record<PermissionChange['kind'], string> = {
  'identity-added': '+', 'identity-removed': '-', 'owner-changed': '~', 'expiry-changed': '~', 'credentials-changed': '~',
  'grant-added': '+', 'grant-removed': '-', 'grant-changed': '~', 'approval-removed': '-', 'approvers-changed': '~', 'mask-added': '+', 'mask-removed': '-',
  'resource-added': '+', 'resource-removed': '-', 'resource-changed': '~', 'settings-changed': '~',
  'binding-added': '+', 'binding-removed': '-', 'binding-widened': '~', 'binding-narrowed': '~',
}

function sorted(changes: readonly PermissionChange[]): PermissionChange[] {
  return [...changes].sort((a, b) =>
    RISK_ORDER[a.risk] - RISK_ORDER[b.risk] ||
    (a.identity ?? '').localeCompare(b.identity ?? '') ||
    (a.resource ?? '').localeCompare(b.resource ?? '') ||
    a.kind.localeCompare(b.kind) ||
    a.detail.localeCompare(b.detail),
  )
}

function subject(c: PermissionChange): string {
  if (c.identity && c.resource) return `${c.identity} on ${c.resource}`
  return c.identity ?? c.resource ?? 'repository'
}

export function formatDiffText(diff: PermissionDiff): string {
  if (diff.changes.length === 0) return `no effective-permission changes (${diff.base} → ${diff.head})`
  const lines = [`${diff.changes.length} change(s), overall risk ${RISK_LABEL[overallRisk(diff)!]} (${diff.base} → ${diff.head})`, '']
  for (const c of sorted(diff.changes)) {
    lines.push(`${SIGN[c.kind]} [${RISK_LABEL[c.risk]}] ${subject(c)}: ${c.detail}`)
    lines.push(`    ${c.why}${c.rule ? ` (rule ${c.rule})` : ''}`)
  }
  return lines.join('\n')
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function formatDiffMarkdown(diff: PermissionDiff): string {
  if (diff.changes.length === 0) return '### Gatehouse permission diff\n\nNo effective-permission changes.'
  const risk = overallRisk(diff)!
  const icon: Record<Risk, string> = { high: '🔴', medium: '🟠', low: '🟢' }
  const lines = [
    '### Gatehouse permission diff',
    '',
    `**${diff.changes.length}** change(s): ${diff.counts.high} high, ${diff.counts.medium} medium, ${diff.counts.low} low risk. Overall: ${icon[risk]} **${risk}**.`,
    '',
    '| Risk | Who / where | Change | Why |',
    '| --- | --- | --- | --- |',
  ]
  for (const c of sorted(diff.changes)) {
    lines.push(`| ${icon[c.risk]} ${c.risk} | ${escapeCell(subject(c))} | ${SIGN[c.kind]} ${escapeCell(c.detail)} | ${escapeCell(c.why)}${c.rule ? ` (\`${c.rule}\`)` : ''} |`)
  }
  lines.push('', `<sub>${diff.base} → ${diff.head}</sub>`)
  return lines.join('\n')
}

export function formatDiffJson(diff: PermissionDiff): string {
  return JSON.stringify({ ...diff, risk: overallRisk(diff) ?? null, changes: sorted(diff.changes) }, null, 2)
}
