// What the session needs to know about single statements of an SQL string
// beyond the policy's classification (the names a statement creates or reads,
// the format of a COPY), read from PostgreSQL's own parse tree, by position,
// with a cache per kind of fact: the same texts come back again and again.
import { parseStatements } from '../../engine/sql/parser.js'

const CACHE_SIZE = 1_000
const NONE: ReadonlyArray<never> = Object.freeze([])

export interface StatementFacts<T> {
  /** The fact of each statement of `sql`, by position; empty when none has one. Throws when `sql` does not parse (it was judged before, so it does). */
  (sql: string): ReadonlyArray<T | undefined>
}

/** `mentions`: a quick test that rules out texts with no statement of interest without parsing them. */
export function statementFacts<T>(mentions: RegExp, read: (kind: string, body: Record<string, unknown>, text: string) => T | undefined): StatementFacts<T> {
  const cache = new Map<string, ReadonlyArray<T | undefined>>()
  return (sql) => {
    if (!mentions.test(sql)) return NONE
    const cached = cache.get(sql)
    if (cached) return cached
    const facts = parseStatements(sql).map((s) => read(s.kind, s.body, s.text))
    const result = facts.some((f) => f !== undefined) ? Object.freeze(facts) : NONE
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!)
    cache.set(sql, result)
    return result
  }
}
