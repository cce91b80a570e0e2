import { parseArgs } from 'node:util'
import { compileRepository } from '../compile.js'
import { loadDirectory } from '../load.js'
import { EXIT, oneOf, type Command } from '../../cli/command.js'
import { FORMATS, reportDiagnostics } from './report.js'

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a policy repository: schema, references, conditions, lint',
  usage: `usage: gatehouse validate [DIR] [--format text|json|github]

Checks every document against its schema, every reference, every CEL
condition and pattern, and lint rules. Prints each finding with
file:line:col and a stable code.

options:
  --format FORMAT   text (default), json, or github (workflow annotations)

exit status: 0 clean, 1 findings (errors or warnings), 2 usage or internal error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { format: { type: 'string' } }, allowPositionals: true })
    const format = oneOf(values.format, FORMATS, 'format') ?? 'text'
    const dir = positionals[0] ?? '.'
    const result = await compileRepository(await loadDirectory(dir))
    reportDiagnostics(io, result.diagnostics, format, dir, result.sources)
    if (format === 'text' && result.diagnostics.length === 0) io.err(`${dir}: no findings`)
    return result.diagnostics.length === 0 ? EXIT.ok : EXIT.findings
  },
}
