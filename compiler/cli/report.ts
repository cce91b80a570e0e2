import { formatGithub, formatJson, formatText, summarize, type Diagnostic } from '../diagnostics.js'
import type { Io } from '../../cli/command.js'

export const FORMATS = ['text', 'json', 'github'] as const
export type Format = (typeof FORMATS)[number]

/** Prints findings in the chosen format; text goes to stderr so stdout stays clean for data. */
export function reportDiagnostics(io: Io, diagnostics: readonly Diagnostic[], format: Format, root: string, sources: ReadonlyMap<string, string>): void {
  if (format === 'json') io.out(formatJson(diagnostics))
  else if (format === 'github') {
    if (diagnostics.length > 0) io.out(formatGithub(diagnostics, root))
  } else if (diagnostics.length > 0) io.err(`${formatText(diagnostics, sources)}\n\n${summarize(diagnostics)}`)
}
