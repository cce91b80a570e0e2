// Error codes of the SSH classifier and of the SSH pattern compiler. Callers
// branch on the code, never on the message. Every classification error denies
// (the gateway answers with an exit status and one line on stderr); every
// pattern error is a compile error (the compiler reports it as
// `pattern.invalid` at the pattern's file:line:col).

export const SSH_ERROR_CODES = {
  /** A NUL character or a lone UTF-16 surrogate: the upstream host would see different text than the classifier. */
  invalidText: 'ssh.invalid_text',
  /** The command line is longer than the configured limit. */
  tooLong: 'ssh.too_long',
  /** A quote is opened and never closed; the shell would refuse the command. */
  unterminatedQuote: 'ssh.unterminated_quote',
  /** A subsystem other than `sftp`. */
  unsupportedSubsystem: 'ssh.unsupported_subsystem',
  /** A channel request the gateway does not handle (`env`, an unknown type, a malformed request). */
  unsupportedRequest: 'ssh.unsupported_request',
  /** A forwarding target that is not a valid host and port. */
  invalidTarget: 'ssh.invalid_target',
  /** A file path with a NUL, a lone surrogate, or longer than the limit. */
  invalidPath: 'ssh.invalid_path',
  /** Anything unexpected inside the classifier: deny. */
  unclassifiable: 'ssh.unclassifiable',
} as const

export type SshErrorCode = (typeof SSH_ERROR_CODES)[keyof typeof SSH_ERROR_CODES]

export interface SshError {
  code: SshErrorCode
  message: string
  /** Offset (UTF-16 code units) into the command line, when the error has a place. */
  position?: number
}

export const PATTERN_ERROR_CODES = {
  /** The pattern has no words (exec) or no text. */
  empty: 'pattern.empty',
  /** A NUL character or a lone surrogate. */
  invalidText: 'pattern.invalid_text',
  /** Longer than the limit. */
  tooLong: 'pattern.too_long',
  /** A quote opened and never closed. */
  unterminatedQuote: 'pattern.unterminated_quote',
  /** Shell syntax other than the wildcards `*` and `?` (an exec pattern is one simple command). */
  shellSyntax: 'pattern.shell_syntax',
  /** `**` anywhere but as a whole last word (exec) or a whole path segment (paths). */
  misplacedGlobstar: 'pattern.misplaced_globstar',
  /** Glob syntax this pattern language does not have (`[...]`, `{a,b}`). */
  unsupportedGlob: 'pattern.unsupported_glob',
  /** A `.` or `..` segment in a path pattern (paths are matched after normalisation, so it could never match). */
  dotSegment: 'pattern.dot_segment',
  /** A backslash with nothing after it (path patterns). */
  danglingEscape: 'pattern.dangling_escape',
  /** A forwarding pattern that is not `HOST:PORT`, or whose host is malformed. */
  invalidHost: 'pattern.invalid_host',
  /** A port that is neither `*` nor 1–65535. */
  invalidPort: 'pattern.invalid_port',
} as const

export type PatternErrorCode = (typeof PATTERN_ERROR_CODES)[keyof typeof PATTERN_ERROR_CODES]

export interface PatternError {
  code: PatternErrorCode
  /** One line, lowercase, the user's input in backticks. */
  message: string
  /** Offset (UTF-16 code units) into the pattern text; the compiler turns it into file:line:col. */
  position?: number
  help?: string
}

/** The first NUL or lone surrogate in `text`, or -1. */
export function findInvalidCharacter(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0) return i
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
      else return i
    } else if (c >= 0xdc00 && c <= 0xdfff) return i
  }
  return -1
}
