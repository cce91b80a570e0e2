// Stage 5: conditions and patterns, compiled exactly as the engine will
// compile them, with every problem placed at its spot in the YAML.
import { compileCondition } from '../engine/cel.js'
import { compileExecPattern, compileForwardPattern, compileListenPattern, compilePathPattern } from '../engine/ssh/patterns.js'
import { explainConditionError } from './cel-hints.js'
import type { Diagnostic } from './diagnostics.js'
import type { Model } from './resolve.js'

type PatternCompiler = (text: string) => { ok: true } | { ok: false; error: { message: string; position?: number; help?: string } }

export function checkModel(model: Model): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  model.rules.forEach((rule, i) => {
    const { doc, path } = model.origins.rules[i]!
    if (rule.when) {
      const compiled = compileCondition(rule.when)
      if (!compiled.ok) {
        const { code } = compiled.error
        const { message, help, start, end } = explainConditionError(rule.when, compiled.error)
        diagnostics.push({ ...doc.locateInScalar([...path, 'when'], start, end), code, severity: 'error', message, ...(help ? { help } : {}) })
      }
    }
    const checkPatterns = (key: string, list: readonly string[] | undefined, compile: PatternCompiler, subPath: (string | number)[] = []) => {
      list?.forEach((text, j) => {
        const result = compile(text)
        if (result.ok) return
        const at = [...path, key, ...subPath, j]
        const position = result.error.position
        const span = position === undefined ? doc.locate(at) : doc.locateInScalar(at, position, position + 1)
        diagnostics.push({ ...span, code: 'pattern.invalid', severity: 'error', message: result.error.message, ...(result.error.help ? { help: result.error.help } : {}) })
      })
    }
    checkPatterns('exec', rule.exec, compileExecPattern)
    checkPatterns('forward', rule.forward, compileForwardPattern)
    checkPatterns('listen', rule.listen, compileListenPattern)
    const sftp = doc.value.rules as Array<{ sftp?: unknown }> | undefined
    const written = sftp?.[path[1] as number]?.sftp
    if (written && typeof written === 'object') {
      checkPatterns('sftp', rule.sftp?.read, compilePathPattern, ['read'])
      checkPatterns('sftp', rule.sftp?.write, compilePathPattern, ['write'])
    }
  })
  return diagnostics
}
