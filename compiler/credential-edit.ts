// Credential edits to an Identity's YAML, kept minimal: the file is edited
// through the `yaml` Document API, so comments, key order and quoting stay,
// and only the edited document is rewritten. Rotation adds a new verifier
// beside the old one and gives the old one a `notAfter`; the sweep removes
// what is past its `notAfter`.
import { isMap, isSeq, parseAllDocuments, Scalar, type Document, type YAMLMap } from 'yaml'
import { generateToken, scramVerifier, tokenDigest } from './credentials.js'

const WRITE = { flowCollectionPadding: false, lineWidth: 0 } as const

export class CredentialEditError extends Error {}

interface Located {
  text: string
  docs: Document.Parsed[]
  doc: Document.Parsed
}

function locate(text: string, name: string): Located | undefined {
  const docs = parseAllDocuments(text)
  if (!Array.isArray(docs) || docs.some((d) => d.errors.length > 0)) return undefined
  const doc = docs.find((d) => d.get('kind') === 'Identity' && d.get('name') === name)
  return doc ? { text, docs, doc } : undefined
}

/** The file with only `doc` rewritten, every other document byte for byte as it was. */
function rewrite({ text, doc }: Located): string {
  const [start, , end] = doc.range
  let edited = doc.toString(WRITE)
  // toString ends the document with a newline; the original range may not have had one before the next `---`.
  if (!text.slice(start, end).endsWith('\n')) edited = edited.replace(/\n$/, '')
  return text.slice(0, start) + edited + text.slice(end)
}

export function containsIdentity(text: string, name: string): boolean {
  return locate(text, name) !== undefined
}

const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z')

/**
 * A string written double-quoted: the file may hold credentials in flow
 * style (`{scram: ..., sha256: ...}`), where a plain scalar with `:` in it,
 * like a verifier or a time, would not read back.
 */
function quoted(value: string): Scalar {
  const scalar = new Scalar(value)
  scalar.type = Scalar.QUOTE_DOUBLE
  return scalar
}

export interface Rotation {
  text: string
  token: string
  notAfter: string
}

/**
 * Adds a new token verifier (sharing the old one's salt and iteration count,
 * so one SCRAM exchange checks both) and gives the old one `notAfter = now +
 * grace`. A verifier already past its `notAfter` is dropped first; two in
 * force mean a rotation is under way, which is refused.
 */
export function rotateToken(text: string, name: string, now: Date, graceSeconds: number): Rotation {
  const found = locate(text, name)
  if (!found) throw new CredentialEditError(`no Identity \`${name}\` in this file`)
  const { doc } = found
  const node = doc.getIn(['credentials', 'token'], true)
  const current = isSeq(node) ? (node.items as YAMLMap[]) : isMap(node) ? [node] : []
  if (current.length === 0) throw new CredentialEditError(`identity \`${name}\` has no token to rotate`)
  const inForce = current.filter((v) => !expired(v, now))
  if (inForce.length !== 1) {
    throw new CredentialEditError(inForce.length === 0 ? `every token of \`${name}\` is past its notAfter; make a new one with \`gatehouse identity new\`` : `a rotation of \`${name}\` is under way: the old token works until ${String(inForce.find((v) => v.get('notAfter'))?.get('notAfter'))}`)
  }
  const old = inForce[0]!
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$/.exec(String(old.get('scram')))
  if (!match) throw new CredentialEditError(`the token verifier of \`${name}\` is not a SCRAM-SHA-256 verifier`)
  const token = generateToken()
  const notAfter = iso(new Date(now.getTime() + graceSeconds * 1000))
  old.set('notAfter', quoted(notAfter))
  const fresh = doc.createNode({ scram: quoted(scramVerifier(token, Buffer.from(match[2]!, 'base64'), Number(match[1]))), sha256: tokenDigest(token), created: quoted(iso(now)) })
  const list = doc.createNode([]) as ReturnType<typeof doc.createNode> & { items: unknown[]; flow?: boolean }
  list.items.push(old, fresh)
  doc.setIn(['credentials', 'token'], list)
  return { text: rewrite(found), token, notAfter }
}

/** Adds an SSH key (with `created`) and gives every key without a `notAfter` one, `now + grace`. */
export function rotateSshKey(text: string, name: string, key: string, now: Date, graceSeconds: number): { text: string; notAfter: string } {
  const found = locate(text, name)
  if (!found) throw new CredentialEditError(`no Identity \`${name}\` in this file`)
  const { doc } = found
  const notAfter = iso(new Date(now.getTime() + graceSeconds * 1000))
  const keys = doc.getIn(['credentials', 'sshKeys'], true)
  const items = isSeq(keys) ? keys.items : []
  const entries = items.map((item) => {
    const entry = isMap(item) ? item : doc.createNode({ key: String((item as { value?: unknown }).value) })
    if (!entry.get('notAfter')) entry.set('notAfter', quoted(notAfter))
    return entry
  })
  entries.push(doc.createNode({ key, created: quoted(iso(now)) }))
  const list = doc.createNode([]) as ReturnType<typeof doc.createNode> & { items: unknown[] }
  list.items.push(...entries)
  doc.setIn(['credentials', 'sshKeys'], list)
  return { text: rewrite(found), notAfter }
}

function expired(node: YAMLMap, now: Date): boolean {
  const notAfter = node.get('notAfter')
  return notAfter !== undefined && Date.parse(String(notAfter)) < now.getTime()
}

/** The file without the identity's token verifiers and SSH keys past their `notAfter`; unchanged text when there are none. */
export function removeExpiredCredentials(text: string, name: string, now: Date): string {
  const found = locate(text, name)
  if (!found) return text
  const { doc } = found
  let changed = false
  const token = doc.getIn(['credentials', 'token'], true)
  if (isSeq(token)) {
    const kept = (token.items as YAMLMap[]).filter((v) => !expired(v, now))
    // The last verifier stays even when expired: removing the identity's only token is a different change.
    if (kept.length > 0 && kept.length < token.items.length) {
      doc.setIn(['credentials', 'token'], kept.length === 1 ? kept[0] : kept)
      changed = true
    }
  }
  const keys = doc.getIn(['credentials', 'sshKeys'], true)
  if (isSeq(keys)) {
    const before = keys.items.length
    keys.items = keys.items.filter((item) => !(isMap(item) && expired(item, now)))
    changed ||= keys.items.length !== before
  }
  return changed ? rewrite(found) : text
}
