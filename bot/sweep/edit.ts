// Edits to the policy repository's YAML that keep everything else as it was:
// comments, key order, quoting and flow style. The files are edited through
// the `yaml` Document API and written back without re-wrapping lines or
// padding flow collections, so the diff shows only what the sweep changed.
import { parseAllDocuments, type Document } from 'yaml'

const WRITE = { flowCollectionPadding: false, lineWidth: 0 } as const

type Docs = Array<Document.Parsed>

function parse(text: string): Docs {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs)) return []
  if (docs.some((d) => d.errors.length > 0)) throw new Error('the file is not valid YAML')
  return docs
}

const write = (docs: Docs): string | null => (docs.length === 0 ? null : docs.map((d) => d.toString(WRITE)).join(''))

/** The file without the Identity document named `name`; null when nothing else is left in it. */
export function removeIdentityDocument(text: string, name: string): string | null {
  const docs = parse(text)
  const kept = docs.filter((d) => !(d.get('kind') === 'Identity' && d.get('name') === name))
  if (kept.length === docs.length) return text
  // A document that followed the removed first one now starts the file: drop its `---`.
  if (kept[0] && docs[0] !== kept[0]) kept[0].directives.docStart = null
  return write(kept)
}

/**
 * The file with `identity` removed from `subjects.identities` of its Policy
 * documents (all of them, or those named in `policies`); the key goes when
 * its list is empty.
 */
export function removeSubject(text: string, identity: string, policies?: readonly string[]): string | null {
  const docs = parse(text)
  let changed = false
  for (const doc of docs) {
    if (doc.get('kind') !== 'Policy' || (policies && !policies.includes(String(doc.get('name'))))) continue
    const list = doc.getIn(['subjects', 'identities']) as { items?: Array<{ value?: unknown }> } | undefined
    const index = list?.items?.findIndex((item) => item.value === identity) ?? -1
    if (index < 0) continue
    doc.deleteIn(['subjects', 'identities', index])
    if (list!.items!.length === 0) doc.deleteIn(['subjects', 'identities'])
    changed = true
  }
  return changed ? write(docs) : text
}

/**
 * The file without the test cases that exercise `identity` (they could not
 * compile once it is gone); a Test document left without cases goes too.
 */
export function removeTestCases(text: string, identity: string): string | null {
  const docs = parse(text)
  let changed = false
  const kept = docs.filter((doc) => {
    if (doc.get('kind') !== 'Test') return true
    const cases = doc.get('cases') as { items?: Array<{ get?(key: string): unknown }> } | undefined
    const items = cases?.items ?? []
    for (let i = items.length - 1; i >= 0; i--) {
      if (items[i]!.get?.('identity') === identity) {
        doc.deleteIn(['cases', i])
        changed = true
      }
    }
    return items.length > 0
  })
  if (!changed) return text
  if (kept[0] && docs[0] !== kept[0]) kept[0].directives.docStart = null
  return write(kept)
}
