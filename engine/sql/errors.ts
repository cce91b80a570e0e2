// Error codes of the SQL classifier. Callers branch on the code, never on the
// message; every failure denies (the gateway answers 42501 or 08P01 itself).
export const SQL_ERROR_CODES = {
  /** libpg-query was not loaded: `loadSqlParser()` has not completed. */
  notLoaded: 'sql.not_loaded',
  /** The text is longer than the configured limit (bytes of UTF-8). */
  tooLarge: 'sql.too_large',
  /** A NUL character or a lone UTF-16 surrogate: PostgreSQL would see different text than the classifier. */
  invalidText: 'sql.invalid_text',
  /** The parser rejected the text; `position` points at the offending token. */
  syntax: 'sql.syntax',
  /** The parse tree nests deeper than the walker's bound. */
  tooComplex: 'sql.too_complex',
  /** Anything unexpected (a parser crash, a malformed tree): deny. */
  unclassifiable: 'sql.unclassifiable',
} as const

export type SqlErrorCode = (typeof SQL_ERROR_CODES)[keyof typeof SQL_ERROR_CODES]

/** Thrown inside the classifier only, and always turned into an error value before it leaves. */
export class SqlClassifyError extends Error {
  constructor(
    readonly code: SqlErrorCode,
    message: string,
    readonly position?: number,
  ) {
    super(message)
    this.name = 'SqlClassifyError'
  }
}
