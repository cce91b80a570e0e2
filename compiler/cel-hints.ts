// Words for the CEL mistakes people actually make: the library reports `or`
// as "unexpected character", a type clash without the expressions that
// clash, and `getHour()` without a hint towards `getHours()`. Each hint is a
// fix that makes the condition check (test/compiler/help-fixes.test.ts).
import type { ConditionError } from '../engine/cel.js'
import { suggest } from '../cli/suggest.js'

const WORD_OPERATORS: Record<string, string> = { or: '||', and: '&&', not: '!' }

/** Methods and functions a condition may call, for "did you mean". */
const KNOWN_FUNCTIONS = [
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds', 'getDayOfWeek', 'getDayOfMonth', 'getDayOfYear', 'getDate', 'getMonth', 'getFullYear',
  'contains', 'startsWith', 'endsWith', 'matches', 'size', 'lowerAscii', 'upperAscii', 'trim', 'split', 'join', 'replace', 'indexOf', 'lastIndexOf', 'substring',
  'exists', 'exists_one', 'all', 'map', 'filter', 'has', 'int', 'uint', 'double', 'string', 'timestamp', 'duration',
]
const CONVERTIBLE = new Set(['int', 'uint', 'double', 'string'])

export interface ConditionHint {
  message: string
  /** What to write in place of the text at `start`..`end` (offsets into the expression). */
  help?: string
  start: number
  end: number
}

/** Each help ends with the text to write in place of the span the finding points at. */
export function explainConditionError(expression: string, error: ConditionError): ConditionHint {
  const plain: ConditionHint = { message: error.message, start: error.start, end: error.end }
  if (error.code === 'cel.syntax') {
    const word = wordAt(expression, error.start)
    const operator = word && WORD_OPERATORS[word.text]
    if (word && operator) return { message: `\`${word.text}\` is not a CEL operator`, help: `CEL writes \`${word.text}\` as \`${operator}\``, start: word.start, end: word.end }
    return plain
  }
  if (error.code !== 'cel.no_matching_overload') return plain
  const call = /overload for '(?:[\w.]+\.)?(\w+)\(/.exec(error.message)
  if (call) {
    const name = call[1]!
    const near = suggest(name, KNOWN_FUNCTIONS)
    const at = expression.lastIndexOf(`${name}(`, error.end)
    if (!near || near === name || at < error.start) return plain
    return { message: `no function \`${name}\` takes these arguments`, help: `did you mean \`${near}\`?`, start: at, end: at + name.length }
  }
  const binary = /no such overload: (\S+) (\S+) (\S+)$/.exec(error.message)
  if (!binary) return plain
  const [, leftType, operator, rightType] = binary as unknown as [string, string, string, string]
  const sides = splitAtOperator(expression.slice(error.start, error.end), operator)
  if (!sides) return plain
  const [left, right] = sides
  const message = `\`${operator}\` cannot combine \`${left}\` (${leftType}) with \`${right}\` (${rightType})`
  // A number written in quotes is the usual cause; otherwise convert the right side to the left's type.
  const quotedNumber = /^["'](-?\d+(?:\.\d+)?)["']$/.exec(right)
  if (quotedNumber && (leftType === 'int' || leftType === 'double' || leftType === 'uint')) {
    return { ...plain, message, help: `write the number without quotes: \`${left} ${operator} ${quotedNumber[1]}\`` }
  }
  if (CONVERTIBLE.has(leftType)) return { ...plain, message, help: `convert one side: \`${left} ${operator} ${leftType}(${right})\`` }
  return { ...plain, message }
}

function wordAt(text: string, at: number): { text: string; start: number; end: number } | undefined {
  let start = Math.min(at, text.length)
  while (start > 0 && /[A-Za-z_]/.test(text[start - 1]!)) start--
  let end = start
  while (end < text.length && /[A-Za-z_]/.test(text[end]!)) end++
  return end > start ? { text: text.slice(start, end), start, end } : undefined
}

/** The two operands of the outermost `operator` in `text` (outside brackets and strings). */
function splitAtOperator(text: string, operator: string): [string, string] | undefined {
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote) {
      if (c === '\\') i++
      else if (c === quote) quote = undefined
      continue
    }
    if (c === '"' || c === "'") quote = c
    else if ('([{'.includes(c)) depth++
    else if (')]}'.includes(c)) depth--
    else if (depth === 0 && text.startsWith(operator, i)) {
      const before = text[i - 1] ?? ''
      const after = text[i + operator.length] ?? ''
      // `<` is not the start of `<=`, `=` not the end of `!=`.
      if ('=<>!'.includes(before) || (operator.length === 1 && after === '=')) continue
      const left = text.slice(0, i).trim()
      const right = text.slice(i + operator.length).trim()
      return left && right ? [left, right] : undefined
    }
  }
  return undefined
}
