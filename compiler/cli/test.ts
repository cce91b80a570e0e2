import { parseArgs } from 'node:util'
import { loadSqlParser } from '../../engine/sql/index.js'
import type { Decision } from '../../engine/types.js'
import { compileRepository } from '../compile.js'
import { formatGithub, type Diagnostic } from '../diagnostics.js'
import { loadDirectory } from '../load.js'
import { runTests, type CaseResult, type TestReport } from '../test-runner.js'
import { EXIT, oneOf, UsageError, type Command, type Io } from '../../cli/command.js'
import { FORMATS, reportDiagnostics } from './report.js'

export const testCommand: Command = {
  name: 'test',
  summary: 'run the repository\'s decision tests through the engine',
  usage: `usage: gatehouse test [DIR] [--coverage-min N] [--verbose] [--format text|json|github]

Runs every case of every Test document through the decision engine the
gateway uses. A case asserts the effect, and optionally the deciding rule
and the masks. A failing case prints expected and actual decisions and the
trace. Rules that decided no case are listed as untested.

options:
  --coverage-min N  fail when fewer than N% of rules decided some case
  --verbose         list passing cases too
  --format FORMAT   text (default), json, or github (annotations)

exit status: 0 all passed, 1 failures, compile errors or low coverage, 2 usage or internal error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { 'coverage-min': { type: 'string' }, verbose: { type: 'boolean' }, format: { type: 'string' } },
      allowPositionals: true,
    })
    const format = oneOf(values.format, FORMATS, 'format') ?? 'text'
    const minimum = values['coverage-min'] === undefined ? undefined : Number(values['coverage-min'])
    if (minimum !== undefined && !(minimum >= 0 && minimum <= 100)) throw new UsageError('--coverage-min must be a number from 0 to 100')
    const dir = positionals[0] ?? '.'
    // The SQL parser (WebAssembly) compiles on a background thread while the repository is read.
    const parser = loadSqlParser()
    parser.catch(() => undefined)
    const compiled = await compileRepository(await loadDirectory(dir))
    if (!compiled.bundle || !compiled.model) {
      reportDiagnostics(io, compiled.diagnostics.filter((d) => d.severity === 'error'), format, dir, compiled.sources)
      return EXIT.findings
    }
    await parser
    const report = runTests(compiled.bundle, compiled.model.tests)
    const failed = report.results.filter((r) => !r.passed)
    const lowCoverage = minimum !== undefined && report.coverage < minimum
    if (format === 'json') io.out(JSON.stringify(jsonReport(report, minimum), null, 2))
    else if (format === 'github') io.out(githubReport(report, dir))
    else printText(io, report, values.verbose ?? false, minimum)
    return failed.length > 0 || lowCoverage ? EXIT.findings : EXIT.ok
  },
}

function describe(decision: Decision): string {
  const masks = decision.masks.length > 0 ? `, masks [${decision.masks.map((m) => m.id).join(', ')}]` : ''
  return `${decision.effect} by ${decision.rule ?? 'no rule'}${masks}`
}

function printCase(io: Io, result: CaseResult): void {
  const where = `${result.location.file}:${result.location.line}:${result.location.col}`
  if (result.passed) {
    io.out(`PASS ${result.suite} › ${result.name}`)
    return
  }
  const lines = [`FAIL ${result.suite} › ${result.name} (${where})`]
  for (const f of result.failures) lines.push(`    ${f}`)
  lines.push(`    actual: ${describe(result.actual)}`)
  for (const reason of result.actual.reasons) lines.push(`    reason: ${reason}`)
  if (result.actual.trace?.length) {
    lines.push('    trace:')
    for (const step of result.actual.trace) lines.push(`      ${step.outcome.padEnd(15)} ${step.rule} (${step.effect}${step.mode === 'observe' ? ', observe' : ''}) for ${step.operation}: ${step.detail}`)
  }
  io.out(lines.join('\n'))
}

function printText(io: Io, report: TestReport, verbose: boolean, minimum: number | undefined): void {
  for (const result of report.results) if (verbose || !result.passed) printCase(io, result)
  const passed = report.results.filter((r) => r.passed).length
  const total = report.results.length
  io.out(`${passed} passed, ${total - passed} failed; rule coverage ${report.coverage.toFixed(1)}% (${report.untested.length} untested)`)
  if (report.untested.length > 0) {
    io.out('untested rules:')
    for (const u of report.untested) io.out(`  ${u.rule} (${u.source})`)
  }
  if (minimum !== undefined && report.coverage < minimum) io.out(`coverage ${report.coverage.toFixed(1)}% is below the required ${minimum}%`)
}

function jsonReport(report: TestReport, minimum: number | undefined) {
  return {
    passed: report.results.filter((r) => r.passed).length,
    failed: report.results.filter((r) => !r.passed).length,
    coverage: Number(report.coverage.toFixed(2)),
    coverageMinimum: minimum ?? null,
    untested: report.untested,
    cases: report.results.map((r) => ({
      suite: r.suite,
      name: r.name,
      file: r.location.file,
      line: r.location.line,
      passed: r.passed,
      failures: r.failures,
      expected: r.expected,
      actual: { effect: r.actual.effect, rule: r.actual.rule, masks: r.actual.masks.map((m) => m.id), reasons: r.actual.reasons, trace: r.actual.trace ?? [] },
    })),
  }
}

function githubReport(report: TestReport, dir: string): string {
  const diagnostics: Diagnostic[] = report.results
    .filter((r) => !r.passed)
    .map((r) => ({ ...r.location, code: 'test.failed', severity: 'error', message: `${r.name}: ${r.failures.join('; ')} (actual: ${describe(r.actual)})` }))
  for (const u of report.untested) {
    const [file, line] = u.source.split(':')
    diagnostics.push({ file: file!, line: Number(line), col: 1, endLine: Number(line), endCol: 1, code: 'lint.untested_rule', severity: 'warning', message: `no test case exercises rule \`${u.rule}\`` })
  }
  return formatGithub(diagnostics, dir)
}
