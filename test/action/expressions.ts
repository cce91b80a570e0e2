// The part of GitHub Actions' expression language that action.yml may use:
// context properties (`inputs.path`, `github.event_name`,
// `steps.compile.outputs.bundle`), string literals, `==`, `!=`, `&&`, `||`,
// `!` and parentheses. Anything else throws, so the action cannot start using
// syntax that the test of it would silently misread.
export interface Contexts {
  inputs: Record<string, string>
  github: Record<string, string>
  steps: Record<string, { outputs: Record<string, string> }>
}

type Value = string | boolean | null

const TOKEN = /\s*(?:(\|\||&&|==|!=|!|\(|\))|'((?:[^']|'')*)'|([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*))/y

function tokenize(text: string): Array<{ op?: string; literal?: string; ref?: string }> {
  const tokens: Array<{ op?: string; literal?: string; ref?: string }> = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break
    const at = TOKEN.lastIndex
    const match = TOKEN.exec(text)
    if (!match) throw new Error(`unsupported expression syntax at ${at}: \`${text}\``)
    if (match[1]) tokens.push({ op: match[1] })
    else if (match[2] !== undefined) tokens.push({ literal: match[2].replace(/''/g, "'") })
    else tokens.push({ ref: match[3]! })
  }
  return tokens
}

function lookup(ref: string, contexts: Contexts): Value {
  let value: unknown = contexts
  for (const part of ref.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) {
      if (['inputs', 'github', 'steps'].includes(ref.split('.')[0]!)) return null
      throw new Error(`unknown context \`${ref}\``)
    }
    value = (value as Record<string, unknown>)[part]
  }
  if (typeof value === 'string') return value
  throw new Error(`\`${ref}\` is not a string`)
}

const truthy = (value: Value) => value !== null && value !== false && value !== ''
const text = (value: Value) => (value === null ? '' : String(value))

export function evaluate(expression: string, contexts: Contexts): boolean {
  return truthy(evaluateValue(expression.replace(/^\s*\$\{\{([\s\S]*)\}\}\s*$/, '$1'), contexts))
}

function evaluateValue(expression: string, contexts: Contexts): Value {
  const tokens = tokenize(expression)
  let at = 0
  const peek = () => tokens[at]
  /** `||` and `&&`: both sides are always parsed; the value is GitHub's (the deciding operand, not a boolean). */
  const logical = (op: '||' | '&&', operand: () => Value) => (): Value => {
    let left = operand()
    while (peek()?.op === op) {
      at++
      const right = operand()
      left = (op === '||') === truthy(left) ? left : right
    }
    return left
  }
  const and = (): Value => logical('&&', equality)()
  const or = logical('||', and)
  const equality = (): Value => {
    let left = unary()
    while (peek()?.op === '==' || peek()?.op === '!=') {
      const op = tokens[at++]!.op
      const right = unary()
      // GitHub compares strings case-insensitively.
      const same = text(left).toLowerCase() === text(right).toLowerCase()
      left = op === '==' ? same : !same
    }
    return left
  }
  const unary = (): Value => {
    if (peek()?.op === '!') return (at++, !truthy(unary()))
    return primary()
  }
  const primary = (): Value => {
    const token = tokens[at++]
    if (!token) throw new Error(`incomplete expression \`${expression}\``)
    if (token.op === '(') {
      const value = or()
      if (tokens[at++]?.op !== ')') throw new Error(`missing \`)\` in \`${expression}\``)
      return value
    }
    if (token.literal !== undefined) return token.literal
    if (token.ref !== undefined) return lookup(token.ref, contexts)
    throw new Error(`unexpected \`${token.op}\` in \`${expression}\``)
  }
  const value = or()
  if (at !== tokens.length) throw new Error(`unsupported expression \`${expression}\``)
  return value
}

/** Replaces every `${{ … }}` in a string. */
export function interpolate(value: string, contexts: Contexts): string {
  return value.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expression: string) => text(evaluateValue(expression, contexts)))
}
