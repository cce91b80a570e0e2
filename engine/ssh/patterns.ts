// SSH rule patterns, compiled once per bundle (and by the compiler, to report
// errors at file:line:col). Patterns are data: they are matched against what
// the classifier produced (argv, normalised path, canonical target), never
// against the client's raw text, and never turned into a RegExp.
//
// ## Exec patterns (`exec:`)
// A pattern is written like the command it allows and split into words by the
// same shell lexer as commands (shell-words.ts), so quoting means the same in
// both: `find /var/backups -name '*.dump' -delete` is a pattern with five
// words, the third of which is the literal text `*.dump`.
//   - Each pattern word matches exactly one argument, in order, and the number
//     of arguments must be the same, except for a trailing `**`.
//   - Unquoted `*` in a word matches any run of characters within that one
//     argument (including none, never crossing into the next argument);
//     unquoted `?` matches exactly one character. `systemctl status *`
//     matches `systemctl status nginx` but not `systemctl status a b`.
//   - Quoted or backslash-escaped, `*` and `?` are literal: `'*'`, `\?`.
//   - A last word that is exactly `**` (unquoted) matches zero or more further
//     arguments: `git log **`. `**` anywhere else is an error.
//   - argv[0] is compared like any other word: no PATH lookup, so
//     `/usr/bin/systemctl` does not match `systemctl`, nor the reverse.
//   - Any other shell syntax (`;`, `|`, `$`, `[`, `~`, `#`, `{a,b}`,
//     `NAME=value` first, a reserved word first, an unquoted newline) is an
//     error with its position: such a command is never matched by exec rules,
//     so such a pattern could only mislead. Quote the character to mean it.
//   - A word with a wildcard never matches an argument with a `..` path
//     segment (`..`, `../x`, `x/../y`, `x/..`), so `tail /var/log/app/*`
//     cannot be walked out of its directory. Such an argument needs a rule
//     that spells it literally.
//   - `*` matches options too: `journalctl -n *` also allows `journalctl -n
//     --output=json`. Spell out what each position may hold.
//
// ## Path patterns (`sftp: {read, write}`)
// Matched against the normalised path (paths.ts), segment by segment:
//   - `*` matches any run of characters within one segment, `?` one
//     character; neither matches `/`. Both match a leading dot.
//   - A segment that is exactly `**` matches zero or more whole segments:
//     `/var/backups/**` matches `/var/backups` itself and everything below it.
//   - `\` makes the next character literal (`\*`). `[` and `{` are errors
//     (no classes or alternatives); write them as `\[`, `\{`.
//   - `.` and `..` segments are errors; `//` and a trailing `/` are ignored.
//   - An absolute pattern matches only absolute paths. A relative pattern
//     matches only relative paths (which the host resolves against the login
//     directory, unknown here). A relative path that climbs (`../x`) or is
//     `.` matches only the pattern `**` alone, which matches every path
//     (what `sftp: true` compiles to).
//
// ## Forwarding patterns (`forward:`)
// `HOST:PORT`, matched against the canonical target (hosts.ts):
//   - PORT is a number (1–65535) or `*`.
//   - HOST `*` matches any host. Otherwise a name or IPv4 address whose
//     labels may contain `*` (any run within one label: `*.internal` matches
//     `db.internal`, not `a.db.internal`; `10.0.0.*` matches `10.0.0.7`, not
//     `10.0.0.7.evil.example`), or a literal IPv6 address in brackets
//     (`[::1]:5432`). Case and the spelling of addresses do not matter.
import { findInvalidCharacter, PATTERN_ERROR_CODES, type PatternError } from './errors.js'
import { normalizeHost, parseTarget } from './hosts.js'
import { normalizePath } from './paths.js'
import { invalidTextMessage, lexShell, type LexedWord } from './shell-words.js'
import { compileWildcard, ONE, STAR, type StringMatcher, type WildcardToken } from './wildcard.js'

export type ExecMatcher = (argv: readonly string[]) => boolean
export type PathMatcher = (path: string) => boolean
export type ForwardMatcher = (target: string) => boolean

export type PatternResult<T> = { ok: true; match: T } | { ok: false; error: PatternError }

/** The policy schema caps every pattern at 4096 characters. */
export const MAX_PATTERN_LENGTH = 4096

function failure(code: PatternError['code'], message: string, position?: number, help?: string): { ok: false; error: PatternError } {
  const error: PatternError = { code, message }
  if (position !== undefined) error.position = position
  if (help !== undefined) error.help = help
  return { ok: false, error }
}

function commonChecks(text: string): { ok: false; error: PatternError } | undefined {
  if (text.length > MAX_PATTERN_LENGTH) return failure(PATTERN_ERROR_CODES.tooLong, `the pattern is longer than ${MAX_PATTERN_LENGTH} characters`)
  const bad = findInvalidCharacter(text)
  if (bad >= 0) return failure(PATTERN_ERROR_CODES.invalidText, invalidTextMessage(text, bad), bad)
  return undefined
}

// ---------------------------------------------------------------------------
// Exec

/** Turns a lexed word into wildcard tokens: its unquoted `*` and `?` are wildcards. */
function wordTokens(word: LexedWord): WildcardToken[] {
  const tokens: WildcardToken[] = []
  let from = 0
  for (const at of word.wildcards) {
    if (at > from) tokens.push(word.text.slice(from, at))
    tokens.push(word.text[at] === '*' ? STAR : ONE)
    from = at + 1
  }
  if (from < word.text.length) tokens.push(word.text.slice(from))
  return tokens
}

export function compileExecPattern(text: string): PatternResult<ExecMatcher> {
  const early = commonChecks(text)
  if (early) return early
  const lexed = lexShell(text, true)
  if (!lexed.ok) {
    return failure(PATTERN_ERROR_CODES.unterminatedQuote, `unterminated quote \`${text[lexed.error.position]}\``, lexed.error.position, 'close the quote')
  }
  if (lexed.syntax) {
    const { reason, position, construct } = lexed.syntax
    if (construct === 'glob') {
      return failure(PATTERN_ERROR_CODES.unsupportedGlob, `${reason}: exec patterns have no character classes`, position, 'quote `[` to match it literally')
    }
    return failure(
      PATTERN_ERROR_CODES.shellSyntax,
      `${reason}: an exec pattern is one simple command, and commands with shell syntax never match exec rules`,
      position,
      'quote the character to match it literally, or use a `shell` rule',
    )
  }
  const words = lexed.words
  if (words.length === 0) return failure(PATTERN_ERROR_CODES.empty, 'the pattern has no words', 0)
  const matchers: StringMatcher[] = []
  let rest = false
  for (let w = 0; w < words.length; w++) {
    const word = words[w]!
    const tokens = wordTokens(word)
    const globstar = word.text === '**' && word.wildcards.length === 2
    if (globstar && w === words.length - 1) {
      rest = true
      break
    }
    const doubled = word.wildcards.findIndex((at, k) => word.text[at] === '*' && word.wildcards[k + 1] === at + 1 && word.text[at + 1] === '*')
    if (globstar || doubled >= 0) {
      return failure(
        PATTERN_ERROR_CODES.misplacedGlobstar,
        globstar ? '`**` matches the remaining arguments, so it must be the last word' : '`**` inside a word',
        word.start,
        globstar ? undefined : 'use `*` for any run of characters within one argument',
      )
    }
    const matcher = compileWildcard(tokens)
    // A wildcard never stands for a `..` path segment: `cat /var/log/app/*`
    // must not reach `/var/log/app/../../../etc/shadow`. A literal word can
    // still say `..` when that is meant.
    matchers.push(word.wildcards.length > 0 ? (arg) => !climbs(arg) && matcher(arg) : matcher)
  }
  const count = matchers.length
  const match: ExecMatcher = rest
    ? (argv) => argv.length >= count && matchers.every((m, i) => m(argv[i]!))
    : (argv) => argv.length === count && matchers.every((m, i) => m(argv[i]!))
  return { ok: true, match }
}

/** Whether the text has a `..` path segment (`..`, `../x`, `x/..`, `x/../y`). */
function climbs(text: string): boolean {
  return text === '..' || text.startsWith('../') || text.endsWith('/..') || text.includes('/../')
}

// ---------------------------------------------------------------------------
// Paths

const GLOBSTAR: unique symbol = Symbol('**')
type SegmentMatcher = StringMatcher | typeof GLOBSTAR

export function compilePathPattern(text: string): PatternResult<PathMatcher> {
  const early = commonChecks(text)
  if (early) return early
  if (text.length === 0) return failure(PATTERN_ERROR_CODES.empty, 'the path pattern is empty', 0)
  if (text === '**') return { ok: true, match: () => true }
  const absolute = text.startsWith('/')
  const segments: SegmentMatcher[] = []
  let tokens: WildcardToken[] = []
  let segmentStart = 0
  /** The segment as written, to recognise `**`, `.` and `..` (escaped characters never count). */
  let plain = ''
  let escaped = false
  const endSegment = (at: number): { ok: false; error: PatternError } | undefined => {
    if (tokens.length === 0) return undefined
    if (!escaped && plain === '**') segments.push(GLOBSTAR)
    else if (!escaped && (plain === '.' || plain === '..')) {
      return failure(PATTERN_ERROR_CODES.dotSegment, `\`${plain}\` segment in a path pattern`, segmentStart, 'paths are matched after `.` and `..` are resolved; write the path without them')
    } else {
      const doubled = tokens.findIndex((t, k) => t === STAR && tokens[k + 1] === STAR)
      if (doubled >= 0) {
        return failure(PATTERN_ERROR_CODES.misplacedGlobstar, '`**` must be a whole path segment', segmentStart, 'use `*` within a segment, `**` alone between slashes')
      }
      const matcher = compileWildcard(tokens)
      const wild = tokens.some((t) => typeof t !== 'string')
      // invariant: a wildcard never matches a `.` or `..` segment (relied on for relative paths).
      segments.push(wild ? (s) => s !== '.' && s !== '..' && matcher(s) : matcher)
    }
    tokens = []
    plain = ''
    escaped = false
    segmentStart = at + 1
    return undefined
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '/') {
      const problem = endSegment(i)
      if (problem) return problem
      continue
    }
    if (c === '\\') {
      const next = text[i + 1]
      if (next === undefined) return failure(PATTERN_ERROR_CODES.danglingEscape, 'a `\\` at the end of the pattern escapes nothing', i)
      if (next === '/') return failure(PATTERN_ERROR_CODES.unsupportedGlob, 'a path segment cannot contain `/`', i)
      tokens.push(next)
      plain += next
      escaped = true
      i++
      continue
    }
    if (c === '[' || c === '{') {
      return failure(PATTERN_ERROR_CODES.unsupportedGlob, `\`${c}\` is not supported in path patterns`, i, `write \`\\${c}\` to match it literally`)
    }
    tokens.push(c === '*' ? STAR : c === '?' ? ONE : c)
    plain += c
  }
  const problem = endSegment(text.length)
  if (problem) return problem
  const match: PathMatcher = (path) => {
    if (path.includes('\0')) return false
    const normalised = normalizePath(path)
    if (normalised.startsWith('/') !== absolute) return false
    const parts = normalised === '/' ? [] : (absolute ? normalised.slice(1) : normalised).split('/')
    // `.` and `..` remain only at the start of a relative path: only `**` alone covers those.
    if (parts.some((p) => p === '.' || p === '..')) return false
    return matchSegments(segments, parts)
  }
  return { ok: true, match }
}

/** Wildcard matching one level up: `**` over whole segments, one backtrack point, no recursion. */
function matchSegments(pattern: readonly SegmentMatcher[], parts: readonly string[]): boolean {
  let p = 0
  let t = 0
  let star = -1
  let starT = 0
  while (t < parts.length) {
    const current = pattern[p]
    if (current !== undefined && current !== GLOBSTAR && current(parts[t]!)) {
      p++
      t++
    } else if (current === GLOBSTAR) {
      star = p++
      starT = t
    } else if (star >= 0) {
      p = star + 1
      t = ++starT
    } else return false
  }
  while (pattern[p] === GLOBSTAR) p++
  return p === pattern.length
}

// ---------------------------------------------------------------------------
// Forwarding

export function compileForwardPattern(text: string, lowestPort = 1): PatternResult<ForwardMatcher> {
  const early = commonChecks(text)
  if (early) return early
  const colon = text.lastIndexOf(':')
  if (colon < 0) return failure(PATTERN_ERROR_CODES.invalidHost, 'a forwarding pattern is `HOST:PORT`', 0, 'for example `db.internal:5432` or `127.0.0.1:*`')
  const portText = text.slice(colon + 1)
  let port: number | undefined
  if (portText !== '*') {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN
    if (!(port >= lowestPort && port <= 65535)) return failure(PATTERN_ERROR_CODES.invalidPort, `\`${portText}\` is not a port`, colon + 1, `a port is ${lowestPort}–65535, or \`*\` for any`)
  }
  const hostText = text.slice(0, colon)
  if (hostText.length === 0) return failure(PATTERN_ERROR_CODES.invalidHost, 'the host is missing', 0)
  const host = compileHostPattern(hostText)
  if (!host.ok) return host
  const matchHost = host.match
  const match: ForwardMatcher = (target) => {
    const parsed = parseTarget(target, lowestPort)
    return parsed !== undefined && (port === undefined || parsed.port === port) && matchHost(parsed.host)
  }
  return { ok: true, match }
}

/** Where a remote forward may listen: a forwarding pattern whose port may also be 0 (the host picks a free port). */
export function compileListenPattern(text: string): PatternResult<ForwardMatcher> {
  return compileForwardPattern(text, 0)
}

function compileHostPattern(text: string): PatternResult<StringMatcher> {
  if (text === '*') return { ok: true, match: () => true }
  if (text.startsWith('[') || text.includes(':')) {
    if (!text.startsWith('[') || !text.endsWith(']')) {
      return failure(PATTERN_ERROR_CODES.invalidHost, `\`${text}\` is not an IPv6 address in brackets`, 0, 'write IPv6 addresses as `[2001:db8::1]:PORT`')
    }
    if (text.includes('*')) return failure(PATTERN_ERROR_CODES.invalidHost, 'wildcards are not supported in IPv6 addresses', text.indexOf('*'))
    // `[::ffff:10.0.0.1]` canonicalises to `10.0.0.1`, as the target would.
    const host = normalizeHost(text)
    if (host === undefined) return failure(PATTERN_ERROR_CODES.invalidHost, `\`${text}\` is not an IPv6 address`, 0)
    return { ok: true, match: (h) => h === host }
  }
  if (!text.includes('*')) {
    const host = normalizeHost(text)
    if (host === undefined) return failure(PATTERN_ERROR_CODES.invalidHost, `\`${text}\` is not a host name or address`, 0)
    return { ok: true, match: (h) => h === host }
  }
  const lowered = text.toLowerCase().replace(/\.$/, '')
  const labels = lowered.split('.')
  const matchers: StringMatcher[] = []
  let offset = 0
  for (const label of labels) {
    if (!/^[a-z0-9_*-]+$/.test(label)) {
      return failure(PATTERN_ERROR_CODES.invalidHost, `\`${label}\` is not a host name label`, offset, 'a label has letters, digits, `-`, `_`, and `*` for any run within the label')
    }
    if (label.includes('**')) return failure(PATTERN_ERROR_CODES.misplacedGlobstar, '`**` in a host pattern', offset + label.indexOf('**'), 'use `*` alone for any host, or `*` within one label')
    matchers.push(compileWildcard(label.split(/(\*)/).map((part) => (part === '*' ? STAR : part))))
    offset += label.length + 1
  }
  return {
    ok: true,
    match: (h) => {
      if (h.startsWith('[')) return false
      const parts = h.split('.')
      return parts.length === matchers.length && matchers.every((m, i) => m(parts[i]!))
    },
  }
}
