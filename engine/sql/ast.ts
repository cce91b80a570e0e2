// Small readers for libpg-query's JSON parse tree.

export type AstNode = Record<string, unknown>

export function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The type and body of a wrapped node, or undefined. */
export function unwrap(value: unknown): [string, AstNode] | undefined {
  if (!isObject(value)) return undefined
  let key: string | undefined
  let count = 0
  for (const k in value) {
    key = k
    if (++count > 1) return undefined
  }
  if (key === undefined) return undefined
  const code = key.charCodeAt(0)
  if (code < 65 || code > 90) return undefined
  const body = value[key]
  return isObject(body) ? [key, body] : undefined
}

/** The string values of a list of wrapped `String` nodes (`funcname`, `names`, `objname`, ...). */
export function stringList(value: unknown): string[] {
  const out: string[] = []
  if (!Array.isArray(value)) return out
  for (const el of value) {
    const node = unwrap(el)
    if (node && node[0] === 'String') out.push(typeof node[1].sval === 'string' ? node[1].sval : '')
  }
  return out
}

/** The value of a string constant (`'x'`, `'x'::text`), or undefined when the expression is not one. */
export function constantString(value: unknown): string | undefined {
  const node = unwrap(value)
  if (!node) return undefined
  const [type, body] = node
  if (type === 'A_Const') {
    const sval = body.sval
    if (!isObject(sval)) return undefined
    // The parser omits empty fields: `''` is `{sval: {}}`.
    return typeof sval.sval === 'string' ? sval.sval : ''
  }
  if (type === 'TypeCast') return constantString(body.arg)
  return undefined
}

/** The text of a constant (`'on'`, `1`, `1.5`, `true`) as SET receives it, or undefined. */
export function constantText(value: unknown): string | undefined {
  const text = constantString(value)
  if (text !== undefined) return text
  const node = unwrap(value)
  if (!node || node[0] !== 'A_Const') return undefined
  const body = node[1]
  if (isObject(body.ival)) return String(body.ival.ival ?? 0)
  if (isObject(body.fval)) return typeof body.fval.fval === 'string' ? body.fval.fval : undefined
  if (isObject(body.boolval)) return String(body.boolval.boolval === true)
  return undefined
}
