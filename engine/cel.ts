// CEL conditions (`when:`): one typed environment for the compiler's checks
// and the engine's evaluation, so what compiles is exactly what runs.
import { Environment } from '@marcbachmann/cel-js'
import type { ASTNode } from '@marcbachmann/cel-js'
import { RE2JS } from 're2js'

/** The variables a condition sees, with their CEL types. Documented in the README. */
const VARIABLES = {
  identity: { name: 'string', owner: 'string', roles: 'list<string>', labels: 'map<string, string>' },
  resource: { name: 'string', type: 'string', labels: 'map<string, string>' },
  request: {
    action: 'string',
    object: 'string',
    tables: 'list<string>',
    command: 'string',
    argv: 'list<string>',
    path: 'string',
    target: 'string',
    time: 'google.protobuf.Timestamp',
    source: 'string',
  },
  session: { id: 'string', application: 'string' },
} as const

export interface ConditionInput {
  identity: { name: string; owner: string; roles: string[]; labels: Record<string, string> }
  resource: { name: string; type: string; labels: Record<string, string> }
  request: {
    action: string
    object: string
    tables: string[]
    command: string
    argv: string[]
    path: string
    target: string
    time: Date
    source: string
  }
  session: { id: string; application: string }
}

// A condition runs on the gateway's hot path: keep it small and shallow.
const LIMITS = { maxAstNodes: 400, maxDepth: 24, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 }
const MAX_NESTED_COMPREHENSIONS = 1
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])
/** Internal name the built-in `matches` is rewritten to (see rewriteMatches). */
const RE2_MATCHES = 'gatehouseMatchesRe2'
const MAX_CACHED_REGEXES = 512

const regexCache = new Map<string, RE2JS>()

function compileRegex(pattern: string): RE2JS {
  let compiled = regexCache.get(pattern)
  if (!compiled) {
    compiled = RE2JS.compile(pattern)
    if (regexCache.size >= MAX_CACHED_REGEXES) regexCache.clear()
    regexCache.set(pattern, compiled)
  }
  return compiled
}

function createEnvironment(): Environment {
  let env = new Environment({ limits: LIMITS, homogeneousAggregateLiterals: true })
  for (const [name, schema] of Object.entries(VARIABLES)) env = env.registerVariable({ name, schema })
  // CEL specifies RE2 for `matches`; the library's built-in uses backtracking
  // JS regular expressions, so conditions are rewritten to this linear-time one.
  return env.registerFunction(`string.${RE2_MATCHES}(string): bool`, (text: string, pattern: string) =>
    compileRegex(pattern).matcher(text).find(),
  )
}

let environment: Environment | undefined
function env(): Environment {
  environment ??= createEnvironment()
  return environment
}

export type ConditionErrorCode =
  | 'cel.syntax'
  | 'cel.too_complex'
  | 'cel.unknown_variable'
  | 'cel.unknown_field'
  | 'cel.no_matching_overload'
  | 'cel.not_bool'
  | 'cel.invalid_regex'
  | 'cel.type_error'

export interface ConditionError {
  code: ConditionErrorCode
  message: string
  /** Offsets into the expression text. */
  start: number
  end: number
}

export type Condition = (input: ConditionInput) => unknown

export type CompiledCondition = { ok: true; evaluate: Condition } | { ok: false; error: ConditionError }

interface CelErrorLike {
  name?: string
  code?: string
  summary?: string
  message?: string
  range?: { start: number; end: number }
}

function toConditionError(err: unknown, expression: string): ConditionError {
  const e = (err ?? {}) as CelErrorLike
  const range = e.range ?? { start: 0, end: expression.length }
  const message = (e.summary ?? e.message ?? String(err)).split('\n')[0] ?? 'invalid expression'
  let code: ConditionErrorCode
  if (e.code === 'limit_exceeded') code = 'cel.too_complex'
  else if (e.name === 'ParseError') code = 'cel.syntax'
  else if (e.code === 'unknown_variable') code = 'cel.unknown_variable'
  else if (e.code === 'no_such_key') code = 'cel.unknown_field'
  else if (e.code === 'no_such_overload' || /overload/i.test(message)) code = 'cel.no_matching_overload'
  else code = 'cel.type_error'
  return { code, message: message.charAt(0).toLowerCase() + message.slice(1), start: range.start, end: range.end }
}

function children(node: ASTNode): ASTNode[] {
  const args = node.args as unknown
  if (!Array.isArray(args)) return isNode(args) ? [args] : []
  const out: ASTNode[] = []
  for (const a of args) {
    if (isNode(a)) out.push(a)
    else if (Array.isArray(a)) for (const b of a) {
      if (isNode(b)) out.push(b)
      else if (Array.isArray(b)) for (const c of b) if (isNode(c)) out.push(c)
    }
  }
  return out
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value
}

interface Rewrite {
  /** Offset of the `matches` identifier. */
  at: number
}

/**
 * Finds every `matches` call, checks literal patterns with RE2, and refuses
 * comprehensions nested deeper than MAX_NESTED_COMPREHENSIONS (each level
 * multiplies the work by the length of a client-controlled list).
 */
function inspect(root: ASTNode, expression: string): { rewrites: Rewrite[]; error?: ConditionError } {
  const rewrites: Rewrite[] = []
  const visit = (node: ASTNode, depth: number): ConditionError | undefined => {
    let nextDepth = depth
    if (node.op === 'rcall' || node.op === 'call') {
      const name = node.args[0]
      if (COMPREHENSIONS.has(name) && node.op === 'rcall') {
        nextDepth = depth + 1
        if (nextDepth > MAX_NESTED_COMPREHENSIONS)
          return {
            code: 'cel.too_complex',
            message: 'comprehensions may not be nested: the work would grow with the square of a list the client controls',
            start: node.range.start,
            end: node.range.end,
          }
      }
      if (name === 'matches' && node.op === 'rcall') {
        const patternNode = node.args[2][0]
        if (patternNode && patternNode.op === 'value' && typeof patternNode.args === 'string') {
          try {
            RE2JS.compile(patternNode.args)
          } catch (err) {
            return {
              code: 'cel.invalid_regex',
              message: `invalid regular expression (RE2 syntax): ${(err as Error).message}`,
              start: patternNode.range.start,
              end: patternNode.range.end,
            }
          }
        }
        const at = expression.indexOf('matches', node.args[1].range.end)
        if (at < 0 || at > node.range.end) {
          return { code: 'cel.type_error', message: 'cannot locate `matches` call', start: node.range.start, end: node.range.end }
        }
        rewrites.push({ at })
      }
    }
    for (const child of children(node)) {
      const error = visit(child, nextDepth)
      if (error) return error
    }
    return undefined
  }
  const error = visit(root, 0)
  return error ? { rewrites, error } : { rewrites }
}

function rewriteMatches(expression: string, rewrites: Rewrite[]): string {
  let out = expression
  for (const { at } of [...rewrites].sort((a, b) => b.at - a.at)) {
    out = out.slice(0, at) + RE2_MATCHES + out.slice(at + 'matches'.length)
  }
  return out
}

/** Parses, type-checks and prepares a condition. Never throws. */
export function compileCondition(expression: string): CompiledCondition {
  try {
    const parsed = env().parse(expression)
    const { rewrites, error } = inspect(parsed.ast, expression)
    if (error) return { ok: false, error }
    const checked = parsed.check()
    if (!checked.valid) return { ok: false, error: toConditionError(checked.error, expression) }
    if (checked.type !== 'bool') {
      return {
        ok: false,
        error: { code: 'cel.not_bool', message: `condition must be a bool, not \`${checked.type}\``, start: 0, end: expression.length },
      }
    }
    if (rewrites.length === 0) return { ok: true, evaluate: parsed as unknown as Condition }
    const rewritten = env().parse(rewriteMatches(expression, rewrites))
    return { ok: true, evaluate: rewritten as unknown as Condition }
  } catch (err) {
    return { ok: false, error: toConditionError(err, expression) }
  }
}

export type ConditionResult = { ok: true; value: boolean } | { ok: false; error: string }

/** Evaluates a compiled condition; any error or non-boolean result is an error value (the caller denies). */
export function evaluateCondition(condition: Condition, input: ConditionInput): ConditionResult {
  try {
    const value = condition(input)
    if (typeof value !== 'boolean') return { ok: false, error: 'condition did not produce a bool' }
    return { ok: true, value }
  } catch (err) {
    const e = err as CelErrorLike
    return { ok: false, error: (e.summary ?? e.message ?? String(err)).split('\n')[0] ?? 'evaluation failed' }
  }
}
