// The cache key of a statement: its text with the digits of numeric literals
// replaced by 0. A classification never depends on a number's value (which
// table, which action, which function do not change with `id = 42`), so
// `SELECT ... WHERE aid = 17` and `... aid = 99` share one cache entry: a
// client sending literal values, as pgbench and many ORMs do, is classified
// from the cache after the first statement of each shape.
//
// invariant: the shape has the same length as the text and differs only in
// digit characters inside numeric tokens, so statement boundaries found in one
// text hold for every text of the same shape. Anything the lexer below is not
// sure about (a backslash anywhere, an unterminated quote or comment) makes
// the text its own shape.

const isDigit = (c: number) => c >= 48 && c <= 57
const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128
const isIdentPart = (c: number) => isIdentStart(c) || isDigit(c) || c === 36

export function literalShape(sql: string): string {
  if (sql.includes('\\')) return sql
  // The shape so far, up to `copied`; undefined while it is the text itself.
  let out: string | undefined
  let copied = 0
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 39 /* ' */ || c === 34 /* " */) {
      // Quoted string or identifier; a doubled quote is an escaped quote.
      let j = i + 1
      for (;;) {
        j = sql.indexOf(sql[i]!, j)
        if (j < 0) return sql
        if (sql.charCodeAt(j + 1) === c) j += 2
        else break
      }
      i = j + 1
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i)
      i = end < 0 ? n : end + 1
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      // Block comments nest in PostgreSQL.
      let depth = 1
      let j = i + 2
      while (depth > 0) {
        if (j >= n) return sql
        if (sql.charCodeAt(j) === 47 && sql.charCodeAt(j + 1) === 42) (depth++, (j += 2))
        else if (sql.charCodeAt(j) === 42 && sql.charCodeAt(j + 1) === 47) (depth--, (j += 2))
        else j++
      }
      i = j
    } else if (c === 36 /* $ */) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        // $1: a parameter, not a literal.
        i += 1
        while (i < n && isDigit(sql.charCodeAt(i))) i++
        continue
      }
      const tagEnd = sql.indexOf('$', i + 1)
      const tag = tagEnd < 0 ? undefined : sql.slice(i, tagEnd + 1)
      if (!tag || !/^\$([A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$$/.test(tag)) {
        i++
        continue
      }
      const close = sql.indexOf(tag, tagEnd + 1)
      if (close < 0) return sql
      i = close + tag.length
    } else if (isIdentStart(c)) {
      i++
      while (i < n && isIdentPart(sql.charCodeAt(i))) i++
    } else if (isDigit(c) || (c === 46 /* . */ && isDigit(sql.charCodeAt(i + 1)))) {
      // A numeric token, including 0x1F, 1_000, 1.5e10: everything up to the next non-word character.
      let j = i
      while (j < n) {
        const d = sql.charCodeAt(j)
        if (isDigit(d) || isIdentPart(d) || d === 46) j++
        else if ((d === 43 || d === 45) && (sql.charCodeAt(j - 1) | 32) === 101 /* e */) j++
        else break
      }
      for (let k = i; k < j; k++) {
        const d = sql.charCodeAt(k)
        if (isDigit(d) && d !== 48) {
          out = (out ?? '') + sql.slice(copied, k) + '0'
          copied = k + 1
        }
      }
      i = j
    } else i++
  }
  return out === undefined ? sql : out + sql.slice(copied)
}
