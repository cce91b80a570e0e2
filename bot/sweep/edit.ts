// Edits to the policy repository's YAML at the level of the exact lines
// concerned, so that no unrelated byte changes: the file is parsed only to
// find where things are (node ranges), and the change is a splice of the
// original text. A block list item or mapping entry goes with its whole
// lines (its own trailing comment included, the comment lines around it
// kept); a flow list item goes with one separator; a document goes from its
// `---` to the next (a first document keeps the file's header comment above
// it). Line endings, indentation, quoting, folded and literal scalars and
// aligned comments are never touched because they are never rewritten.
//
// Every splice is checked: the edited text is parsed again and must hold
// exactly the data the change means (the original data with the item, entry
// or document removed). A splice that would mean anything else throws
// EditError, and the sweep reports instead of proposing.
import { isDeepStrictEqual } from 'node:util'
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml'

export class EditError extends Error {}

type Docs = Array<Document.Parsed>
type Path = Array<string | number>

function parse(text: string): Docs {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return []
  if (docs.some((d) => d.errors.length > 0)) throw new EditError('the file is not valid YAML')
  return docs
}

const lineStart = (text: string, at: number) => text.lastIndexOf('\n', at - 1) + 1
const lineEnd = (text: string, at: number) => {
  const nl = text.indexOf('\n', at)
  return nl < 0 ? text.length : nl + 1
}
const splice = (text: string, from: number, to: number, insert = '') => text.slice(0, from) + insert + text.slice(to)

/** The text without document `index`; null when no document is left. */
function dropDocument(text: string, docs: Docs, index: number): string | null {
  if (docs.length === 1) return null
  const from = docs[index]!.range[0]
  const to = index + 1 < docs.length ? docs[index + 1]!.range[0] : text.length
  let out = splice(text, from, to)
  // The first document removed: the next one's `---` now follows only the header comment; drop it.
  if (index === 0 && /^---[ \t]*\r?\n/.test(out.slice(from))) out = splice(out, from, lineEnd(out, from))
  return out
}

/** The text without item `index` of `seq` (block: its lines; flow: the item and one separator). */
function dropItem(text: string, seq: YAMLSeq, index: number): string {
  const item = seq.items[index] as Node
  const [start, valueEnd] = item.range!
  if (!seq.flow) return splice(text, lineStart(text, start), lineEnd(text, valueEnd - 1))
  const next = seq.items[index + 1] as Node | undefined
  if (next) return splice(text, start, next.range![0])
  const previous = seq.items[index - 1] as Node | undefined
  return previous ? splice(text, previous.range![1], valueEnd) : splice(text, start, valueEnd)
}

/** The text without the entry `key` of `map` (block: its lines; flow: the entry and one separator). */
function dropEntry(text: string, map: YAMLMap, key: string): string {
  const pairs = map.items as Array<Pair<Node, Node>>
  const index = pairs.findIndex((p) => isScalar(p.key) && p.key.value === key)
  const pair = pairs[index]!
  const start = pair.key.range![0]
  const end = (pair.value ?? pair.key).range![1]
  if (!map.flow) return splice(text, lineStart(text, start), lineEnd(text, end - 1))
  const next = pairs[index + 1]
  if (next) return splice(text, start, next.key.range![0])
  const previous = pairs[index - 1]
  return previous ? splice(text, (previous.value ?? previous.key).range![1], end) : splice(text, start, end)
}

/** Applies `edit` to `text` and checks the result means `expected` (the documents' data). */
function checked(_text: string, edited: string | null, expected: unknown[]): string | null {
  const after = edited === null ? [] : data(parse(edited))
  if (!isDeepStrictEqual(after, expected)) throw new EditError('a line-level edit would change more than the identity: the file needs editing by hand')
  return edited
}

function data(docs: Docs): Array<Record<string, unknown>> {
  try {
    return docs.map((d) => d.toJS({ maxAliasCount: 100 }) as Record<string, unknown>)
  } catch (err) {
    throw new EditError(`the file cannot be read as data: ${(err as Error).message}`)
  }
}

function removeAt<T>(list: T[], index: number): T[] {
  return [...list.slice(0, index), ...list.slice(index + 1)]
}

/** Deletes `path` from a plain copy of the data (a copy without shared parts, so an alias of the list keeps its items and the check sees the difference). */
function without(value: Record<string, unknown>, path: Path): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>
  let parent: any = copy
  for (const key of path.slice(0, -1)) parent = parent[key]
  const last = path.at(-1)!
  if (Array.isArray(parent)) parent.splice(last as number, 1)
  else delete parent[last]
  return copy
}

/**
 * Removes the value `name` from the list at `listPath` of every document
 * `select` accepts. An emptied list goes with its key; a document `empty`
 * then judges empty goes whole. One splice at a time, each checked.
 */
function removeFromLists(text: string, select: (doc: Record<string, unknown>) => boolean, listPath: [string, string], name: string, empty: (doc: Record<string, unknown>) => boolean): string | null {
  let current: string | null = text
  for (;;) {
    if (current === null) return null
    const docs = parse(current)
    const values = data(docs)
    const at = docs.findIndex((d, i) => select(values[i]!) && (d.getIn(listPath) as YAMLSeq | undefined)?.items?.some((item) => isScalar(item) && item.value === name))
    if (at < 0) return current
    const doc = docs[at]!
    const seq = doc.getIn(listPath, true) as YAMLSeq
    if (!isSeq(seq)) throw new EditError(`\`${listPath.join('.')}\` is not a list`)
    const index = seq.items.findIndex((item) => isScalar(item) && item.value === name)
    let after = without(values[at]!, [...listPath, index])
    let edited: string | null
    if (seq.items.length > 1) edited = dropItem(current, seq, index)
    else {
      after = without(values[at]!, listPath)
      const parent = doc.getIn(listPath.slice(0, 1), true)
      if (!isMap(parent)) throw new EditError(`\`${listPath[0]}\` is not a mapping`)
      edited = dropEntry(current, parent, listPath[1])
    }
    if (empty(after)) edited = dropDocument(current, docs, at)
    current = checked(current, edited, empty(after) ? removeAt(values, at) : values.map((v, i) => (i === at ? after : v)))
  }
}

const isKind = (kind: string, names?: readonly string[]) => (doc: Record<string, unknown>) => doc?.kind === kind && (!names || names.includes(String(doc.name)))

/** A policy with no subject left goes whole: `subjects: {}` would not validate, and it applied to no one. */
const noSubjects = (doc: Record<string, unknown>) => {
  const subjects = (doc.subjects ?? {}) as { identities?: unknown[]; roles?: unknown[] }
  return !(subjects.identities?.length || subjects.roles?.length)
}

/** The file without the Identity document `name`; null when nothing is left in it. */
export function removeIdentityDocument(text: string, name: string): string | null {
  const docs = parse(text)
  const values = data(docs)
  const at = values.findIndex(isKind('Identity', [name]))
  if (at < 0) return text
  return checked(text, dropDocument(text, docs, at), removeAt(values, at))
}

/** The file with `identity` out of `subjects.identities` of its policies (all, or those named). */
export function removeSubject(text: string, identity: string, policies?: readonly string[]): string | null {
  return removeFromLists(text, isKind('Policy', policies), ['subjects', 'identities'], identity, noSubjects)
}

/** The file with `role` out of `subjects.roles` of every policy (the role has no holder left). */
export function removeRoleSubject(text: string, role: string): string | null {
  return removeFromLists(text, isKind('Policy'), ['subjects', 'roles'], role, noSubjects)
}

/** The file without the test cases `drop` selects; a Test document left without cases goes too. */
export function removeTestCases(text: string, drop: (testCase: Record<string, unknown>, suite: string) => boolean): string | null {
  let current: string | null = text
  for (;;) {
    if (current === null) return null
    const docs = parse(current)
    const values = data(docs)
    let found: { at: number; index: number } | undefined
    values.forEach((v, at) => {
      if (found || v?.kind !== 'Test' || !Array.isArray(v.cases)) return
      const index = (v.cases as Array<Record<string, unknown>>).findIndex((c) => c && drop(c, String(v.name)))
      if (index >= 0) found = { at, index }
    })
    if (!found) return current
    const { at, index } = found
    const seq = docs[at]!.get('cases', true) as YAMLSeq
    const after = without(values[at]!, ['cases', index])
    const last = (after.cases as unknown[]).length === 0
    const edited = last ? dropDocument(current, docs, at) : dropItem(current, seq, index)
    current = checked(current, edited, last ? removeAt(values, at) : values.map((v, i) => (i === at ? after : v)))
  }
}

/** The file with the `owner` of Identity `name` replaced, its quoting style and comment kept. */
export function setOwner(text: string, name: string, owner: string): string {
  const docs = parse(text)
  const values = data(docs)
  const at = values.findIndex(isKind('Identity', [name]))
  const node = at < 0 ? undefined : docs[at]!.get('owner', true)
  if (!isScalar(node)) throw new EditError(`identity \`${name}\` has no owner to change`)
  const [start, end] = node.range!
  const quote = node.type === 'QUOTE_SINGLE' ? "'" : '"'
  const edited = splice(text, start, end, `${quote}${owner}${quote}`)
  return checked(text, edited, values.map((v, i) => (i === at ? { ...v, owner } : v)))!
}
