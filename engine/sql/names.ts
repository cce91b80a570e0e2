// How the classifier names objects: `schema.name`, lower-cased the way
// PostgreSQL folds unquoted identifiers (the parser has already done that), and
// double-quoted the way `quote_ident` would when a name would otherwise be
// ambiguous (`public."Orders"`, `public."a.b"`), so that no two different
// objects share a name and policy globs (`public.*`) still match.
import { CATALOG_RELATIONS } from './catalog-relations.js'

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_$]*$/

export function quoteIdent(name: string): string {
  return PLAIN_IDENTIFIER.test(name) ? name : `"${name.replaceAll('"', '""')}"`
}

export function qualify(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`
}

/** The parts of a RangeVar the classifier uses. */
export interface RelationRef {
  schemaname?: string
  relname?: string
  relpersistence?: string
}

/**
 * The relation(s) an occurrence of a table name may denote.
 *
 * invariant: an unqualified name resolves to `defaultSchema`, because the
 * gateway refuses search_path changes unless a policy allows
 * `set-search-path`. Two refinements follow PostgreSQL's lookup order
 * (namespace.c): pg_catalog is searched before the path, so a catalog name
 * denotes the catalog; and an unknown unqualified `pg_*` name could be either,
 * so both are reported (the statement needs both allowed). A temporary
 * relation being created lives in `pg_temp`; creation never targets pg_catalog.
 */
export function relationNames(rel: RelationRef, defaultSchema: string, creating = false): string[] {
  const name = rel.relname ?? ''
  if (rel.schemaname !== undefined && rel.schemaname !== '') return [qualify(rel.schemaname, name)]
  if (creating) return [qualify(rel.relpersistence === 't' ? 'pg_temp' : defaultSchema, name)]
  if (CATALOG_RELATIONS.has(name)) return [qualify('pg_catalog', name)]
  if (name.startsWith('pg_')) return [qualify('pg_catalog', name), qualify(defaultSchema, name)]
  return [qualify(defaultSchema, name)]
}

/** A possibly qualified name given as parts (`[schema, name]` or `[name]`); a catalog prefix is dropped. */
export function qualifyParts(parts: readonly string[], defaultSchema: string): string {
  const name = parts[parts.length - 1] ?? ''
  const schema = parts.length >= 2 ? (parts[parts.length - 2] ?? defaultSchema) : defaultSchema
  return qualify(schema, name)
}

const NAMEDATALEN = 64
const encoder = new TextEncoder()

/** PostgreSQL truncates identifiers to NAMEDATALEN-1 bytes, at a character boundary. */
export function truncateIdentifier(name: string): string {
  if (name.length < NAMEDATALEN / 4) return name
  if (encoder.encode(name).length < NAMEDATALEN) return name
  let out = ''
  let bytes = 0
  for (const ch of name) {
    const size = encoder.encode(ch).length
    if (bytes + size > NAMEDATALEN - 1) break
    out += ch
    bytes += size
  }
  return out
}

/**
 * Splits a qualified name given as text, the way regclass input does
 * (`stringToQualifiedNameList`): dot-separated, unquoted parts folded to lower
 * case (ASCII only, as in a UTF-8 database), `"..."` parts verbatim with `""`
 * as a quote. Returns undefined for anything else (an OID, a syntax error).
 */
export function splitQualifiedName(text: string): string[] | undefined {
  const parts: string[] = []
  let i = 0
  const n = text.length
  const skipSpace = (): void => {
    while (i < n && /\s/.test(text[i]!)) i++
  }
  skipSpace()
  for (;;) {
    let part = ''
    if (text[i] === '"') {
      i++
      for (;;) {
        if (i >= n) return undefined
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"'
            i += 2
            continue
          }
          i++
          break
        }
        part += text[i]
        i++
      }
      if (part === '') return undefined
    } else {
      const start = i
      while (i < n && text[i] !== '.' && !/\s/.test(text[i]!) && text[i] !== '"') i++
      part = text.slice(start, i).replace(/[A-Z]+/g, (s) => s.toLowerCase())
      if (part === '' || /^[0-9]/.test(part)) return undefined
    }
    parts.push(truncateIdentifier(part))
    skipSpace()
    if (i >= n) break
    if (text[i] !== '.') return undefined
    i++
    skipSpace()
  }
  return parts.length >= 1 && parts.length <= 3 ? parts : undefined
}
