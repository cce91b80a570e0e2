// A classifier with a bounded LRU cache of the session-independent phase,
// keyed by (defaultSchema, text). Session-dependent statements (PREPARE,
// EXECUTE, DEALLOCATE, DISCARD ALL) are cached too, but only their analysis:
// the session phase runs on every call, so EXECUTE always reads the caller's
// session and PREPARE always records into it.
//
// invariant: cached values are deeply frozen, and a classification served from
// the cache is shared between callers. A caller that mutates one gets a
// TypeError instead of silently changing what another session is allowed to do.
import type { SqlClassification, SqlSessionState } from '../types.js'
import { analyzeSql, DEFAULT_MAX_SQL_BYTES, errorOf, resolveSession, type Analysis, type StatementDraft } from './classify.js'
import { literalShape } from './literal-shape.js'

export interface SqlClassifierOptions {
  /** Entries kept (least recently used evicted first). Default 1000. */
  cacheSize?: number
  /** Refuse longer SQL (bytes of UTF-8) with `sql.too_large`. Default 1 MiB. */
  maxBytes?: number
  /** Texts longer than this (UTF-16 units) are classified but not cached, bounding the cache's memory. Default 16 KiB. */
  maxCachedLength?: number
}

export interface SqlClassifier {
  classify(sql: string, options: { defaultSchema: string; session?: SqlSessionState }): SqlClassification
  /** Entries currently cached. */
  readonly size: number
  clear(): void
}

export function createSqlClassifier(options: SqlClassifierOptions = {}): SqlClassifier {
  const cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 1000))
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_SQL_BYTES
  const maxCachedLength = options.maxCachedLength ?? 16 * 1024
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recently used.
  // Keys are literal shapes (literal-shape.ts); `text` is the text the analysis was made from.
  const cache = new Map<string, { analysis: Analysis; text: string }>()

  const analyze = (sql: string, defaultSchema: string): Analysis => {
    try {
      return analyzeSql(sql, defaultSchema, maxBytes)
    } catch (err) {
      return errorOf(err)
    }
  }

  return {
    classify(sql, { defaultSchema, session }) {
      try {
        const cacheable =
          cacheSize > 0 && typeof sql === 'string' && sql.length <= maxCachedLength && typeof defaultSchema === 'string' && !defaultSchema.includes('\0')
        // invariant: the key is unambiguous because defaultSchema cannot contain NUL.
        const key = cacheable ? `${defaultSchema}\0${literalShape(sql)}` : ''
        const entry = cacheable ? cache.get(key) : undefined
        let analysis: Analysis
        if (entry) {
          cache.delete(key)
          cache.set(key, entry)
          analysis = entry.text === sql ? entry.analysis : retext(entry.analysis, entry.text, sql)
        } else {
          analysis = analyze(sql, defaultSchema)
          // A not-loaded parser is a transient state, not a property of the text.
          if (cacheable && (analysis.ok || analysis.error.code !== 'sql.not_loaded')) {
            // The statements follow from the key alone: decisions may be cached by it too.
            if (analysis.ok && analysis.result?.ok) analysis.result.shape = key
            deepFreeze(analysis)
            cache.set(key, { analysis, text: sql })
            if (cache.size > cacheSize) cache.delete(cache.keys().next().value!)
          }
        }
        if (!analysis.ok) return analysis
        return resolveSession(analysis, session)
      } catch (err) {
        return errorOf(err)
      }
    },
    get size() {
      return cache.size
    },
    clear() {
      cache.clear()
    },
  }
}

/**
 * The analysis of a text of the same literal shape, with each statement's
 * text taken from `sql` instead. Same shape means same length and the same
 * characters outside numbers, so each statement sits at the same offsets.
 */
function retext(analysis: Analysis, original: string, sql: string): Analysis {
  if (!analysis.ok) return analysis
  let cursor = 0
  const drafts: StatementDraft[] = analysis.drafts.map((draft) => {
    const at = original.indexOf(draft.text, cursor)
    cursor = at + draft.text.length
    const text = sql.slice(at, at + draft.text.length)
    return { ...draft, text, ...(draft.statement ? { statement: { ...draft.statement, text } } : {}) }
  })
  const result: Analysis = { ok: true, drafts, sessionDependent: analysis.sessionDependent }
  if (analysis.result?.ok) result.result = { ok: true, statements: drafts.map((d) => d.statement!), ...(analysis.result.shape ? { shape: analysis.result.shape } : {}) }
  return result
}

export function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
}
