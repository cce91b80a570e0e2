// Stage 2: YAML to documents that remember where every node came from, so
// each later finding can point at file:line:col.
//
// js-yaml 5 parses into a flat stream of events that carry source offsets;
// values are constructed from the stream, and positions are found by walking
// the same stream when a finding (or a bundle's `source` line) needs one.
import { constructFromEvents, CORE_SCHEMA, EVENT_ID, getScalarValue, parseEvents, SCALAR_STYLE, YAMLException } from 'js-yaml'
import type { Event, ScalarEvent } from 'js-yaml'
import type { Diagnostic, Span } from './diagnostics.js'
import type { SourceFile } from './load.js'
import { findUnclosed } from './yaml-unclosed.js'

/** A path into a document: mapping keys and sequence indices. */
export type DocPath = readonly (string | number)[]

export interface ParsedDocument {
  file: string
  /** Position of the document within its file (files may hold several, separated by `---`). */
  index: number
  value: Record<string, unknown>
  kind: string | undefined
  name: string | undefined
  /** Where the value (or key) at `path` is; falls back to the nearest ancestor that exists. */
  locate(path: DocPath, part?: 'key' | 'value'): Span
  /** Where characters `start`..`end` of the string scalar at `path` are (for findings inside a CEL expression). */
  locateInScalar(path: DocPath, start: number, end: number): Span
}

export interface ParseResult {
  documents: ParsedDocument[]
  diagnostics: Diagnostic[]
}

const MAX_DEPTH = 64
/** Alias expansion budget per document: values visited, aliases counted as often as they are used. */
const MAX_EXPANDED_NODES = 100_000

/** Offsets of line starts, for offset → line:col. */
function lineIndex(text: string): (offset: number) => { line: number; col: number } {
  const starts = [0]
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1)
  return (offset) => {
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (starts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, col: offset - starts[lo]! + 1 }
  }
}

interface Range {
  start: number
  end: number
}

interface Found {
  node: Range
  key?: Range
  scalar?: ScalarEvent
}

const isCollection = (e: Event) => e.type === EVENT_ID.MAPPING || e.type === EVENT_ID.SEQUENCE

/** The source range of the node starting at `events[i]`, and the index just past it. */
function nodeExtent(events: readonly Event[], i: number): { range: Range; next: number } {
  const first = events[i]!
  if (first.type === EVENT_ID.SCALAR) {
    // A quoted scalar's value starts after its quote; the node includes the quotes.
    const quoted = first.style === SCALAR_STYLE.SINGLE_QUOTED || first.style === SCALAR_STYLE.DOUBLE_QUOTED ? 1 : 0
    return { range: { start: first.valueStart - quoted, end: first.valueEnd + quoted }, next: i + 1 }
  }
  if (first.type === EVENT_ID.ALIAS) return { range: { start: first.anchorStart - 1, end: first.anchorEnd }, next: i + 1 }
  const start = isCollection(first) ? (first as { start: number }).start : 0
  let end = start + 1
  let depth = 0
  let j = i
  do {
    const e = events[j]!
    if (isCollection(e)) depth++
    else if (e.type === EVENT_ID.POP) depth--
    else if (e.type === EVENT_ID.SCALAR) end = Math.max(end, e.valueEnd)
    else if (e.type === EVENT_ID.ALIAS) end = Math.max(end, e.anchorEnd)
    j++
  } while (depth > 0 && j < events.length)
  return { range: { start, end }, next: j }
}

/** Walks the document's events down `path`; stops at the deepest node that exists. */
function find(events: readonly Event[], root: number, text: string, path: DocPath): Found {
  let i = root
  let found: Found = { node: nodeExtent(events, i).range }
  for (const step of path) {
    const container = events[i]!
    if (container.type !== EVENT_ID.MAPPING && container.type !== EVENT_ID.SEQUENCE) break
    let j = i + 1
    let index = 0
    let hit: Found | undefined
    let hitAt = -1
    while (j < events.length && events[j]!.type !== EVENT_ID.POP) {
      if (container.type === EVENT_ID.MAPPING) {
        const keyEvent = events[j]!
        const key = nodeExtent(events, j)
        const value = nodeExtent(events, key.next)
        if (keyEvent.type === EVENT_ID.SCALAR && getScalarValue(text, keyEvent) === step) {
          // An empty value (`name:`) has no source range of its own: point at its key.
          hit = { node: value.range.start < 0 ? key.range : value.range, key: key.range, ...(events[key.next]!.type === EVENT_ID.SCALAR ? { scalar: events[key.next] as ScalarEvent } : {}) }
          hitAt = key.next
          break
        }
        j = value.next
      } else {
        const item = nodeExtent(events, j)
        if (index === step) {
          hit = { node: item.range.start < 0 ? found.node : item.range, ...(events[j]!.type === EVENT_ID.SCALAR ? { scalar: events[j] as ScalarEvent } : {}) }
          hitAt = j
          break
        }
        index++
        j = item.next
      }
    }
    if (!hit) break
    found = hit
    i = hitAt
  }
  return found
}

/** Counts the nodes a value expands to, following shared (aliased) references; false past the budget. */
function withinExpansionBudget(value: unknown): boolean {
  let budget = MAX_EXPANDED_NODES
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const node = stack.pop()
    if (--budget < 0) return false
    if (Array.isArray(node)) stack.push(...node)
    else if (node && typeof node === 'object') stack.push(...Object.values(node))
  }
  return true
}

export function parseFile(file: SourceFile): ParseResult {
  const documents: ParsedDocument[] = []
  const diagnostics: Diagnostic[] = []
  const position = lineIndex(file.text)
  const spanOf = (start: number, end: number): Span => {
    start = Math.max(0, start)
    const from = position(start)
    const to = position(Math.max(start, end))
    return { file: file.path, line: from.line, col: from.col, endLine: to.line, endCol: to.col }
  }
  let events: Event[]
  let values: unknown[]
  try {
    events = parseEvents(file.text, { filename: file.path, maxDepth: MAX_DEPTH })
    values = constructFromEvents(events, { source: file.text, filename: file.path, schema: CORE_SCHEMA })
  } catch (err) {
    const mark = err instanceof YAMLException ? err.mark : undefined
    const reason = err instanceof YAMLException ? err.reason : String((err as Error).message ?? err)
    const at = mark?.position ?? 0
    // js-yaml has no error codes; its reason for a repeated key is fixed text.
    const duplicate = /duplicate(d)? mapping key/.test(reason)
    if (duplicate) diagnostics.push({ ...spanOf(at, at), code: 'yaml.duplicate_key', severity: 'error', message: 'a mapping repeats a key' })
    else diagnostics.push(syntaxError(file.text, at, reason, spanOf))
    return { documents, diagnostics }
  }
  // Each document starts at its DOCUMENT event; its root node follows.
  const roots: number[] = []
  events.forEach((e, i) => e.type === EVENT_ID.DOCUMENT && roots.push(i + 1))
  values.forEach((value, index) => {
    const root = roots[index]!
    const rootRange = root < events.length && events[root]!.type !== EVENT_ID.POP ? nodeExtent(events, root).range : { start: 0, end: 0 }
    if (value === null || value === undefined) return
    if (!withinExpansionBudget(value)) {
      diagnostics.push({ ...spanOf(rootRange.start, rootRange.start), code: 'yaml.alias_limit', severity: 'error', message: `document expands to more than ${MAX_EXPANDED_NODES} values through aliases` })
      return
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      diagnostics.push({ ...spanOf(rootRange.start, rootRange.end), code: 'yaml.not_mapping', severity: 'error', message: 'a document must be a mapping with `apiVersion` and `kind`' })
      return
    }
    const record = value as Record<string, unknown>
    const locate = (path: DocPath, part: 'key' | 'value' = 'value'): Span => {
      const found = find(events, root, file.text, path)
      const range = part === 'key' && found.key ? found.key : found.node
      return spanOf(range.start, range.end)
    }
    documents.push({
      file: file.path,
      index,
      value: record,
      kind: typeof record.kind === 'string' ? record.kind : undefined,
      name: typeof record.name === 'string' ? record.name : undefined,
      locate,
      locateInScalar: (path, start, end) => {
        const { scalar } = find(events, root, file.text, path)
        const offsets = scalar && scalarOffsets(file.text, scalar)
        if (!offsets) return locate(path)
        return spanOf(offsets(start), offsets(Math.max(start, end)))
      },
    })
  })
  return { documents, diagnostics }
}

const CLOSER: Record<string, string> = { '[': ']', '{': '}', '"': '"', "'": "'" }

/** A syntax error at the bracket or quote left open before it, if that is on an earlier line. */
function syntaxError(text: string, at: number, reason: string, spanOf: (start: number, end: number) => Span): Diagnostic {
  const open = findUnclosed(text, at)
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length
  if (open && lineOf(open.offset) < lineOf(at)) {
    const what = open.char === '"' || open.char === "'" ? 'quoted string' : `\`${open.char}\``
    return {
      ...spanOf(open.offset, open.offset + 1), code: 'yaml.syntax', severity: 'error',
      message: `this ${what} is not closed (the parser gave up at line ${lineOf(at)}: ${reason})`,
      help: `close it with \`${CLOSER[open.char]}\` where the value ends`,
    }
  }
  return { ...spanOf(at, at), code: 'yaml.syntax', severity: 'error', message: reason }
}

/**
 * Maps an offset in a scalar's value to an offset in the file, for the
 * scalar styles where that is exact: plain and quoted single lines without
 * escapes, and literal blocks (`|`). Folded and escaped forms fall back to
 * the whole node.
 */
function scalarOffsets(text: string, scalar: ScalarEvent): ((offset: number) => number) | undefined {
  const raw = text.slice(scalar.valueStart, scalar.valueEnd)
  const value = getScalarValue(text, scalar)
  const inline = scalar.style === SCALAR_STYLE.PLAIN || scalar.style === SCALAR_STYLE.SINGLE_QUOTED || scalar.style === SCALAR_STYLE.DOUBLE_QUOTED
  if (inline && raw === value && !raw.includes('\n')) return (o) => scalar.valueStart + Math.min(o, raw.length)
  if (scalar.style === SCALAR_STYLE.LITERAL_BLOCK && scalar.indent >= 0) {
    // Each line of the value sits behind the same indentation.
    return (o) => {
      const before = value.slice(0, o)
      const lineNumber = before.split('\n').length - 1
      const column = o - (before.lastIndexOf('\n') + 1)
      let at = scalar.valueStart
      for (let i = 0; i < lineNumber; i++) at = text.indexOf('\n', at) + 1
      return at + scalar.indent + column
    }
  }
  return undefined
}
