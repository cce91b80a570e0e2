import { parseArgs } from 'node:util'
import { compileRepository, type ParseCache } from '../compile.js'
import { diffBundles, overallRisk, type Risk } from '../diff.js'
import { formatDiffJson, formatDiffMarkdown, formatDiffText } from '../diff-format.js'
import { loadRepository } from '../load.js'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import { reportDiagnostics } from './report.js'

const RISKS = ['low', 'medium', 'high'] as const

export const diffCommand: Command = {
  name: 'diff',
  summary: 'effective-permission changes between two repository states',
  usage: `usage: gatehouse diff BASE HEAD [--repo DIR] [--format text|markdown|json] [--fail-on RISK]

Compares what every identity may do in BASE and in HEAD: grants gained and
lost per resource, masks added and removed, approval requirements, new,
removed and re-owned identities, each with a risk level.

BASE and HEAD are directories, or Git revisions of the repository at
--repo (default: the current directory; it may be a subdirectory of the
work tree). \`REV:DIR\` names a revision of the repository at DIR.

options:
  --repo DIR        where to resolve Git revisions (default .)
  --format FORMAT   text (default), markdown (for a pull-request comment), json
  --fail-on RISK    exit 1 when any change has this risk or higher (low, medium, high)

exit status: 0 diff printed, 1 a side does not compile or --fail-on matched, 2 usage or internal error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { repo: { type: 'string' }, format: { type: 'string' }, 'fail-on': { type: 'string' } },
      allowPositionals: true,
    })
    const format = oneOf(values.format, ['text', 'markdown', 'json'] as const, 'format') ?? 'text'
    const failOn = oneOf(values['fail-on'], RISKS, 'fail-on')
    if (positionals.length !== 2) throw new UsageError('expected BASE and HEAD')
    const repo = values.repo ?? '.'
    const [base, head] = await Promise.all(positionals.map((spec) => loadRepository(spec, repo)))
    const cache: ParseCache = new Map()
    const compiled = [await compileRepository(base!, { lint: false, cache }), await compileRepository(head!, { lint: false, cache })]
    // A side that is not there is a mistyped argument, not a policy that fails to compile.
    const missing = compiled.flatMap((result) => result.diagnostics.filter((d) => d.code === 'load.not_found'))
    if (missing.length > 0) {
      for (const d of missing) io.err(`gatehouse diff: ${d.message}${d.help ? `\nhelp: ${d.help}` : ''}`)
      return EXIT.usage
    }
    let failed = false
    compiled.forEach((result, i) => {
      if (result.bundle) return
      failed = true
      io.err(`${positionals[i]} does not compile:`)
      reportDiagnostics(io, result.diagnostics.filter((d) => d.severity === 'error'), 'text', positionals[i]!, result.sources)
    })
    if (failed) return EXIT.findings
    const result = diffBundles(compiled[0]!.bundle!, compiled[1]!.bundle!)
    if (!result.ok) {
      io.err(result.errors.join('\n'))
      return EXIT.findings
    }
    const { diff } = result
    io.out(format === 'json' ? formatDiffJson(diff) : format === 'markdown' ? formatDiffMarkdown(diff) : formatDiffText(diff))
    const risk: Risk | undefined = overallRisk(diff)
    if (failOn && risk && RISKS.indexOf(risk) >= RISKS.indexOf(failOn)) return EXIT.findings
    return EXIT.ok
  },
}
