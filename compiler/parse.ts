// Stage 2: YAML to documents that remember where every node came from, so
// each later finding can point at file:line:col.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar } from 'yaml'
import type { Document, Node as YamlNode } from 'yaml'
import type { Diagnostic, Span } from './diagnostics.js'
import type { SourceFile } from './load.js'

/** A path into a document: mapping keys and sequence indices. */
export type DocPath = readonly (string | number)[]

export interface ParsedDocument {
  file: string
  /** Position of the document within its file (files may hold several, separated by `---`). */
  index: number
  value: Record<string, unknown>
  kind: string | undefined
  name: string | undefined
  /** Where the value at `path` is; falls back to the nearest ancestor that exists. */
  locate(path: DocPath, part?: 'key' | 'value'): Span
  /** Where character `offset` of the string scalar at `path` is (for findings inside a CEL expression). */
  locateInScalar(path: DocPath, start: number, end: number): Span
}

export interface ParseResult {
  documents: ParsedDocument[]
  diagnostics: Diagnostic[]
}

const MAX_ALIASES = 100

interface Located {
  node: YamlNode | null
  key: YamlNode | null
}

function walk(doc: Document, path: DocPath): Located {
  let current: unknown = doc.contents
  let key: YamlNode | null = null
  let found: Located = { node: doc.contents as YamlNode | null, key: null }
  for (const step of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) === step)
      if (!pair) break
      key = isScalar(pair.key) ? pair.key : null
      current = pair.value
    } else if (isSeq(current) && typeof step === 'number') {
      current = current.items[step]
      key = null
      if (current === undefined) break
    } else break
    found = { node: (current as YamlNode | null) ?? key, key }
  }
  return found
}

export function parseFiles(files: readonly SourceFile[]): ParseResult {
  const documents: ParsedDocument[] = []
  const diagnostics: Diagnostic[] = []
  for (const file of files) parseFile(file, documents, diagnostics)
  return { documents, diagnostics }
}

function parseFile(file: SourceFile, documents: ParsedDocument[], diagnostics: Diagnostic[]): void {
  const lineCounter = new LineCounter()
  const docs = parseAllDocuments(file.text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true })
  const docList = Array.isArray(docs) ? docs : []
  const spanOf = (start: number, end: number): Span => {
    const from = lineCounter.linePos(start)
    const to = lineCounter.linePos(Math.max(start, end))
    return { file: file.path, line: from.line, col: from.col, endLine: to.line, endCol: to.col }
  }
  docList.forEach((doc, index) => {
    let failed = false
    for (const error of doc.errors) {
      failed = true
      const [start, end] = error.pos
      diagnostics.push({
        ...spanOf(start, end),
        code: error.code === 'DUPLICATE_KEY' ? 'yaml.duplicate_key' : 'yaml.syntax',
        severity: 'error',
        message: yamlMessage(error.message),
      })
    }
    if (failed || doc.contents === null) return
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES })
    } catch (err) {
      const bomb = /alias/i.test((err as Error).message)
      diagnostics.push({
        ...spanOf(doc.contents.range?.[0] ?? 0, doc.contents.range?.[1] ?? 0),
        code: bomb ? 'yaml.alias_limit' : 'yaml.syntax',
        severity: 'error',
        message: bomb ? `document expands more than ${MAX_ALIASES} aliases` : yamlMessage((err as Error).message),
      })
      return
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const range = doc.contents.range
      diagnostics.push({ ...spanOf(range?.[0] ?? 0, range?.[1] ?? 0), code: 'yaml.not_mapping', severity: 'error', message: 'a document must be a mapping with `apiVersion` and `kind`' })
      return
    }
    const record = value as Record<string, unknown>
    const locate = (path: DocPath, part: 'key' | 'value' = 'value'): Span => {
      const { node, key } = walk(doc, path)
      const target = part === 'key' && key ? key : node
      const range = target?.range ?? [0, 0, 0]
      return spanOf(range[0], range[1])
    }
    documents.push({
      file: file.path,
      index,
      value: record,
      kind: typeof record.kind === 'string' ? record.kind : undefined,
      name: typeof record.name === 'string' ? record.name : undefined,
      locate,
      locateInScalar: (path, start, end) => {
        const { node } = walk(doc, path)
        if (!(node instanceof Scalar) || !node.range) return locate(path)
        const offsets = scalarOffsets(file.text, node)
        if (!offsets) return locate(path)
        return spanOf(offsets(start), offsets(Math.max(start, end)))
      },
    })
  })
}

/** First line of a YAML error message, without the library's trailing position. */
function yamlMessage(message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '')
  return first.charAt(0).toLowerCase() + first.slice(1)
}

/**
 * Maps an offset in a scalar's value to an offset in the file, for the
 * scalar styles where that is exact: plain and quoted single lines, and
 * literal blocks (`|`). Folded and escaped forms fall back to the node.
 */
function scalarOffsets(text: string, node: Scalar): ((offset: number) => number) | undefined {
  const [start, valueEnd] = node.range!
  const raw = text.slice(start, valueEnd)
  const value = String(node.value)
  if (node.type === 'PLAIN' && !raw.includes('\n')) return (o) => start + Math.min(o, raw.length)
  if ((node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE') && raw.length === value.length + 2) {
    return (o) => start + 1 + Math.min(o, value.length)
  }
  if (node.type === 'BLOCK_LITERAL') {
    // The value's lines follow the header line, each behind the same indent.
    const bodyStart = text.indexOf('\n', start) + 1
    const firstLine = text.slice(bodyStart, text.indexOf('\n', bodyStart) === -1 ? undefined : text.indexOf('\n', bodyStart))
    const indent = firstLine.length - firstLine.trimStart().length
    return (o) => {
      const before = value.slice(0, o)
      const lineIndex = before.split('\n').length - 1
      const column = o - (before.lastIndexOf('\n') + 1)
      let position = bodyStart
      for (let i = 0; i < lineIndex; i++) position = text.indexOf('\n', position) + 1
      return position + indent + column
    }
  }
  return undefined
}
