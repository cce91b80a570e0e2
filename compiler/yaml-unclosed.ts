// Where a YAML syntax error really starts. An unclosed `[`, `{` or quote is
// reported by the parser where it gives up, usually "deficient indentation"
// on a later line; the fix is at the opening character. This scans the text
// before the error the way YAML reads it (comments, quotes, flow brackets,
// block scalars) and returns what is still open.

export interface Unclosed {
  offset: number
  char: string
}

/** Characters after which `[`, `{` or a quote starts a value rather than sitting inside a plain scalar. */
const VALUE_START = new Set([':', '-', '?', '[', '{', ','])

export function findUnclosed(text: string, end: number): Unclosed | undefined {
  const flow: Unclosed[] = []
  let quote: Unclosed | undefined
  let previous = '' // last non-blank character on this line, outside quotes
  let blockIndent = -1 // inside a block scalar (`|`, `>`): lines indented deeper than this
  let i = 0
  while (i < end) {
    const lineStart = i === 0 || text[i - 1] === '\n'
    if (lineStart && !quote && flow.length === 0) {
      const indent = /^ */.exec(text.slice(i))![0].length
      if (blockIndent >= 0 && (indent > blockIndent || text[i + indent] === '\n')) {
        const next = text.indexOf('\n', i)
        i = next < 0 ? end : next + 1
        continue
      }
      blockIndent = -1
      previous = ''
    }
    const c = text[i]!
    if (quote) {
      if (quote.char === '"' && c === '\\') i++
      else if (c === quote.char) {
        if (quote.char === "'" && text[i + 1] === "'") i++
        else quote = undefined
        previous = 'x'
      }
      i++
      continue
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const next = text.indexOf('\n', i)
      i = next < 0 ? end : next
      continue
    }
    const startsValue = previous === '' || VALUE_START.has(previous)
    if ((c === '"' || c === "'") && (startsValue || flow.length > 0)) quote = { offset: i, char: c }
    else if ((c === '[' || c === '{') && (startsValue || flow.length > 0)) flow.push({ offset: i, char: c })
    else if ((c === ']' || c === '}') && flow.length > 0) flow.pop()
    else if ((c === '|' || c === '>') && previous === ':' && flow.length === 0) {
      const lineBegin = text.lastIndexOf('\n', i - 1) + 1
      blockIndent = /^ */.exec(text.slice(lineBegin))![0].length
    }
    if (c === '\n') previous = flow.length > 0 ? previous : ''
    else if (!/\s/.test(c)) previous = c
    i++
  }
  return quote ?? flow[flow.length - 1]
}
