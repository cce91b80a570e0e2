// Findings of every compiler stage: collected, sorted by position, capped,
// and rendered as text (with the source line and a caret), JSON or GitHub
// workflow annotations.
import { suggest } from '../cli/suggest.js'
import type { DiagnosticCode } from './errors.js'

export type Severity = 'error' | 'warning'

export interface Diagnostic {
  code: DiagnosticCode
  severity: Severity
  /** Repository-relative path; `.` for findings about the repository as a whole. */
  file: string
  line: number
  col: number
  endLine: number
  endCol: number
  message: string
  help?: string
}

export interface Span {
  file: string
  line: number
  col: number
  endLine: number
  endCol: number
}

export const MAX_DIAGNOSTICS = 500

export function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)
}

/** Sorted, with exact duplicates removed and the count capped (the cap is reported as one more finding). */
export function finalize(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>()
  const unique = diagnostics.filter((d) => {
    const key = `${d.file}:${d.line}:${d.col}:${d.code}:${d.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  unique.sort(byPosition)
  if (unique.length <= MAX_DIAGNOSTICS) return unique
  const kept = unique.slice(0, MAX_DIAGNOSTICS)
  kept.push({
    code: 'load.too_many_findings',
    severity: 'error',
    file: '.',
    line: 1,
    col: 1,
    endLine: 1,
    endCol: 1,
    message: `${unique.length - MAX_DIAGNOSTICS} more findings not shown`,
  })
  return kept
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error')
}

export function summarize(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length
  const warnings = diagnostics.length - errors
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  return `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`
}

/** `file:line:col: error[code]: message`, the source line with a caret, then `help: …`. */
export function formatText(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): string {
  const blocks = diagnostics.map((d) => {
    // A finding about the repository as a whole has no place to point at.
    const where = d.file === '.' ? '' : `${d.file}:${d.line}:${d.col}: `
    const lines = [`${where}${d.severity}[${d.code}]: ${d.message}`]
    const text = sources.get(d.file)?.split('\n')[d.line - 1]
    if (text !== undefined && text.length <= 400) {
      const gutter = String(d.line).length
      const width = d.endLine === d.line ? Math.max(1, d.endCol - d.col) : Math.max(1, text.length - d.col + 1)
      lines.push(`${' '.repeat(gutter)} |`)
      lines.push(`${d.line} | ${text.replace(/\t/g, ' ')}`)
      lines.push(`${' '.repeat(gutter)} | ${' '.repeat(d.col - 1)}${'^'.repeat(width)}`)
    }
    if (d.help) lines.push(`help: ${d.help}`)
    return lines.join('\n')
  })
  return blocks.join('\n\n')
}

export function formatJson(diagnostics: readonly Diagnostic[]): string {
  return JSON.stringify({ diagnostics, summary: summarize(diagnostics) }, null, 2)
}

/** GitHub workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions */
export function formatGithub(diagnostics: readonly Diagnostic[], root: string): string {
  const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
  const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')
  return diagnostics
    .map((d) => {
      const file = root === '.' || root === '' ? d.file : `${root.replace(/\/$/, '')}/${d.file}`
      const props = [
        `file=${escapeProperty(file)}`,
        `line=${d.line}`,
        `col=${d.col}`,
        `endLine=${d.endLine}`,
        `endColumn=${d.endCol}`,
        `title=${escapeProperty(`${d.code}`)}`,
      ].join(',')
      const message = d.help ? `${d.message}\nhelp: ${d.help}` : d.message
      return `::${d.severity} ${props}::${escapeData(message)}`
    })
    .join('\n')
}

export function didYouMean(input: string, candidates: Iterable<string>): { help: string } | Record<string, never> {
  const match = suggest(input, candidates)
  return match ? { help: `did you mean \`${match}\`?` } : {}
}
