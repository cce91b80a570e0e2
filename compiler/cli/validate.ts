import { parseArgs } from 'node:util'
import { compileRepository } from '../compile.js'
import { hasErrors } from '../diagnostics.js'
import { loadDirectory } from '../load.js'
import { EXIT, oneOf, type Command } from '../../cli/command.js'
import { FORMATS, reportDiagnostics } from './report.js'

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a policy repository: schema, references, conditions, lint',
  usage: `usage: gatehouse validate [DIR] [--strict] [--format text|json|github]

Checks every document against its schema, every reference, every CEL
condition and pattern, and lint rules. Prints each finding with
file:line:col and a stable code.

options:
  --strict          warnings fail too
  --format FORMAT   text (default), json, or github (workflow annotations)

exit status: 0 no errors (warnings are printed), 1 errors (or warnings with
--strict), 2 usage or internal error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { format: { type: 'string' }, strict: { type: 'boolean' } }, allowPositionals: true })
    const format = oneOf(values.format, FORMATS, 'format') ?? 'text'
    const dir = positionals[0] ?? '.'
    const result = await compileRepository(await loadDirectory(dir))
    reportDiagnostics(io, result.diagnostics, format, dir, result.sources)
    if (format === 'text' && result.diagnostics.length === 0) io.err(`${dir}: no findings`)
    const failed = values.strict ? result.diagnostics.length > 0 : hasErrors(result.diagnostics)
    return failed ? EXIT.findings : EXIT.ok
  },
}
