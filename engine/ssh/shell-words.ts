// Splits an SSH exec command line into argv exactly as a POSIX shell (dash,
// bash) would for one simple command with literal arguments, and finds every
// construct that would make the shell do anything more.
//
// sshd runs an exec request as `$SHELL -c COMMAND` (RFC 4254 §6.5 leaves the
// interpretation to the server; OpenSSH hands it to the user's shell), so what
// runs is what the shell makes of the text. The rules below follow POSIX.1-2017
// XCU §2.2 (quoting), §2.3 (token recognition), §2.4 (reserved words), §2.6
// (expansions) and §2.10 (grammar), plus bash's extras (`$'…'`, `$"…"`, brace
// expansion, `[[`, `function`, `time`, `coproc`, tilde expansion after `=`).
//
// The contract (tested against the real /bin/sh and bash): when `shellSyntax`
// is false, `argv` is exactly the argument vector the shell would pass to the
// program. Detection is deliberately a superset: a few things are flagged that
// a shell would treat literally in some contexts (a lone `$`, `{x,y}` under
// dash, `~` after any `=` or `:`), never the other way round. When
// `shellSyntax` is true, `argv` is best effort: operators become words of
// their own and expansions stay as literal text; only `shell` rules can match
// such a command, so nothing decides on that argv alone.
import { findInvalidCharacter, SSH_ERROR_CODES, type SshError } from './errors.js'

/**
 * Generous: sshd passes the whole command to the shell as one argument, and
 * Linux refuses any argument over 128 KiB (MAX_ARG_STRLEN), so nothing longer
 * could run upstream anyway.
 */
export const DEFAULT_MAX_COMMAND_LENGTH = 256 * 1024

export type ShellConstruct =
  | 'separator'
  | 'background'
  | 'and-or'
  | 'pipeline'
  | 'redirection'
  | 'subshell'
  | 'reserved-word'
  | 'assignment'
  | 'parameter-expansion'
  | 'command-substitution'
  | 'arithmetic-expansion'
  | 'ansi-c-quote'
  | 'locale-quote'
  | 'backtick'
  | 'glob'
  | 'tilde'
  | 'brace-expansion'
  | 'comment'
  | 'newline'
  | 'carriage-return'

export interface ShellSyntax {
  construct: ShellConstruct
  /** Names the construct, the user's text in backticks: "`;` separates commands". */
  reason: string
  /** Offset (UTF-16 code units) of the construct in the command line. */
  position: number
}

export type ShellWordsResult =
  | { ok: true; argv: string[]; shellSyntax: false }
  | ({ ok: true; argv: string[]; shellSyntax: true } & ShellSyntax)
  | { ok: false; error: SshError & { position: number } }

export interface ShellWordsOptions {
  /** Longest command accepted, in UTF-16 code units (default {@link DEFAULT_MAX_COMMAND_LENGTH}). */
  maxLength?: number
}

/** Splits `command` the way `sh -c command` would. Never throws. */
export function shellWords(command: string, options: ShellWordsOptions = {}): ShellWordsResult {
  const maxLength = options.maxLength ?? DEFAULT_MAX_COMMAND_LENGTH
  if (command.length > maxLength) {
    return { ok: false, error: { code: SSH_ERROR_CODES.tooLong, message: `the command is longer than ${maxLength} characters`, position: maxLength } }
  }
  const lexed = lexShell(command, false)
  if (!lexed.ok) {
    const { kind, position } = lexed.error
    return kind === 'invalid-text'
      ? { ok: false, error: { code: SSH_ERROR_CODES.invalidText, message: invalidTextMessage(command, position), position } }
      : { ok: false, error: { code: SSH_ERROR_CODES.unterminatedQuote, message: `unterminated quote \`${command[position]}\``, position } }
  }
  const argv = lexed.words.map((w) => w.text)
  return lexed.syntax ? { ok: true, argv, shellSyntax: true, ...lexed.syntax } : { ok: true, argv, shellSyntax: false }
}

export function invalidTextMessage(text: string, position: number): string {
  return text.charCodeAt(position) === 0 ? 'a NUL character cannot be passed to a program' : 'a lone UTF-16 surrogate is not valid text'
}

// ---------------------------------------------------------------------------
// The lexer, shared with the exec pattern compiler (patterns.ts), which runs
// it in pattern mode: there unquoted `*` and `?` are wildcards instead of
// shell syntax, and everything else the shell would treat specially is an
// error, so a pattern word means exactly what the same command word means.

export interface LexedWord {
  /** The word after quote removal. */
  text: string
  /** Offsets of the word's source text. */
  start: number
  end: number
  /** Pattern mode: offsets into `text` of the unquoted `*` and `?` (wildcards). */
  wildcards: number[]
}

export type LexResult =
  | { ok: true; words: LexedWord[]; syntax?: ShellSyntax }
  | { ok: false; error: { kind: 'invalid-text' | 'unterminated-quote'; position: number } }

const OPERATOR_CHARS = ';&|<>()'

/** Reserved words of dash and bash, recognised only unquoted and in command position (POSIX §2.4). */
const RESERVED_WORDS = new Set([
  '!', '{', '}', '[[', ']]', 'case', 'coproc', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'function', 'if', 'in',
  'select', 'then', 'time', 'until', 'while',
])

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*\+?=/
const NAME_START = /[A-Za-z_]/
const NAME_CHAR = /[A-Za-z0-9_]/
const SPECIAL_PARAMETER = /[0-9@*#?$!-]/

function operatorSyntax(op: string, position: number): ShellSyntax {
  const first = op[0]
  const shown = `\`${op}\``
  if (op.startsWith('&&') || op.startsWith('||')) return { construct: 'and-or', reason: `\`${op.slice(0, 2)}\` runs another command`, position }
  switch (first) {
    case ';': return { construct: 'separator', reason: '`;` separates commands', position }
    case '&': return op.startsWith('&>') ? { construct: 'redirection', reason: `${shown} redirects output`, position } : { construct: 'background', reason: '`&` runs a command in the background', position }
    case '|': return { construct: 'pipeline', reason: '`|` pipes into another command', position }
    case '<': case '>': return { construct: 'redirection', reason: `${shown} redirects input or output`, position }
    default: return { construct: 'subshell', reason: `\`${first}\` starts or ends a subshell`, position }
  }
}

function dollarSyntax(input: string, position: number, inDoubleQuotes: boolean): ShellSyntax {
  const next = input[position + 1]
  if (next === '(') {
    return input[position + 2] === '('
      ? { construct: 'arithmetic-expansion', reason: '`$((` expands arithmetic', position }
      : { construct: 'command-substitution', reason: '`$(` substitutes the output of a command', position }
  }
  if (next === '{') return { construct: 'parameter-expansion', reason: '`${` expands a parameter', position }
  if (next === "'" && !inDoubleQuotes) return { construct: 'ansi-c-quote', reason: "`$'` starts an ANSI-C quoted string", position }
  if (next === '"' && !inDoubleQuotes) return { construct: 'locale-quote', reason: '`$"` starts a locale-translated string', position }
  if (next !== undefined && NAME_START.test(next)) {
    let end = position + 2
    while (end < input.length && end - position < 64 && NAME_CHAR.test(input[end]!)) end++
    return { construct: 'parameter-expansion', reason: `\`${input.slice(position, end)}\` expands a variable`, position }
  }
  if (next !== undefined && SPECIAL_PARAMETER.test(next)) return { construct: 'parameter-expansion', reason: `\`$${next}\` expands a special parameter`, position }
  // A `$` followed by nothing expandable is literal to the shell; flagged anyway
  // so that no `$` ever reaches a program through an exec rule.
  return { construct: 'parameter-expansion', reason: '`$` outside single quotes may start an expansion', position }
}

/**
 * One pass over the text, no backtracking: O(length). In command mode every
 * shell construct is recorded (the leftmost one is kept) and lexing goes on
 * best effort; in pattern mode the caller rejects any construct.
 */
export function lexShell(input: string, patternMode: boolean): LexResult {
  const invalid = findInvalidCharacter(input)
  if (invalid >= 0) return { ok: false, error: { kind: 'invalid-text', position: invalid } }

  const words: LexedWord[] = []
  let syntax: ShellSyntax | undefined
  const flag = (found: ShellSyntax) => {
    if (!syntax || found.position < syntax.position) syntax = found
  }

  // The word being built.
  let inWord = false
  let text = ''
  let start = 0
  /** Any quoting (quotes or backslash) in the word: such a word is never a reserved word. */
  let quoted = false
  /** Length of the leading part of `text` that was not quoted (an assignment needs an unquoted `NAME=`). */
  let plainLength = 0
  let plainOnly = true
  let wildcards: number[] = []
  /** Brace expansion: offset of the first unquoted `{`, and whether a `,` or `..` followed it. */
  let braceAt = -1
  let braceSeparator = false

  const begin = (at: number) => {
    if (inWord) return
    inWord = true
    text = ''
    start = at
    quoted = false
    plainLength = 0
    plainOnly = true
    wildcards = []
    braceAt = -1
    braceSeparator = false
  }
  const noteBraceSeparator = (c: string) => {
    if (braceAt >= 0 && (c === ',' || (c === '.' && text.endsWith('.')))) braceSeparator = true
  }
  const appendPlain = (c: string) => {
    noteBraceSeparator(c)
    text += c
    if (plainOnly) plainLength = text.length
  }
  const appendQuoted = (s: string) => {
    for (const c of s) noteBraceSeparator(c)
    quoted = true
    plainOnly = false
    text += s
  }
  const finish = (end: number) => {
    if (!inWord) return
    inWord = false
    if (words.length === 0) {
      if (!quoted && RESERVED_WORDS.has(text)) {
        flag(
          text === '{' || text === '}'
            ? { construct: 'reserved-word', reason: `\`${text}\` groups commands`, position: start }
            : { construct: 'reserved-word', reason: `\`${text}\` is a shell reserved word`, position: start },
        )
      }
      const assignment = ASSIGNMENT.exec(text.slice(0, plainLength))
      if (assignment) flag({ construct: 'assignment', reason: `\`${assignment[0]}\` assigns a variable before the command`, position: start })
    }
    words.push({ text, start, end, wildcards })
  }
  /** After shell syntax, an unterminated quote is the shell's problem (only a `shell` rule can match). */
  const unterminated = (at: number): LexResult | undefined =>
    syntax ? undefined : { ok: false, error: { kind: 'unterminated-quote', position: at } }

  const n = input.length
  let i = 0
  while (i < n) {
    const c = input[i]!
    switch (c) {
      case ' ':
      case '\t':
        finish(i)
        i++
        break
      case '\n':
        flag({ construct: 'newline', reason: 'a newline separates commands', position: i })
        finish(i)
        i++
        break
      case '\r':
        // Not a separator to the shell (it would end up inside an argument),
        // but never legitimate unquoted: flagged, and split best effort.
        flag({ construct: 'carriage-return', reason: 'an unquoted carriage return', position: i })
        finish(i)
        i++
        break
      case '\\': {
        const next = input[i + 1]
        if (next === '\n') {
          // Line continuation: removed before tokens are formed (§2.2.1), so it
          // neither ends nor starts a word.
          i += 2
          break
        }
        begin(i)
        if (next === undefined) {
          // dash and bash both keep a backslash at the very end literally.
          appendPlain('\\')
          i++
        } else {
          appendQuoted(next)
          i += 2
        }
        break
      }
      case "'": {
        begin(i)
        const close = input.indexOf("'", i + 1)
        if (close < 0) {
          const failure = unterminated(i)
          if (failure) return failure
          appendQuoted(input.slice(i + 1))
          i = n
          break
        }
        appendQuoted(input.slice(i + 1, close))
        i = close + 1
        break
      }
      case '"': {
        begin(i)
        quoted = true
        plainOnly = false
        let j = i + 1
        let closed = false
        while (j < n) {
          const d = input[j]!
          if (d === '"') {
            closed = true
            j++
            break
          }
          if (d === '\\') {
            // Inside double quotes a backslash escapes only $ ` " \ and newline (§2.2.3).
            const e = input[j + 1]
            if (e === '\n') j += 2
            else if (e === '$' || e === '`' || e === '"' || e === '\\') {
              appendQuoted(e)
              j += 2
            } else {
              appendQuoted('\\')
              j++
            }
            continue
          }
          if (d === '$') flag(dollarSyntax(input, j, true))
          else if (d === '`') flag({ construct: 'backtick', reason: '`` ` `` substitutes the output of a command', position: j })
          appendQuoted(d)
          j++
        }
        if (!closed) {
          const failure = unterminated(i)
          if (failure) return failure
        }
        i = j
        break
      }
      case '$': {
        begin(i)
        flag(dollarSyntax(input, i, false))
        if (input[i + 1] === "'") {
          // bash's $'…': backslash escapes, including \' (best effort: kept raw).
          let j = i + 2
          let content = ''
          while (j < n && input[j] !== "'") {
            if (input[j] === '\\' && j + 1 < n) {
              content += input.slice(j, j + 2)
              j += 2
            } else content += input[j++]
          }
          appendQuoted(content)
          i = j + 1
        } else {
          appendPlain('$')
          i++
        }
        break
      }
      case '`':
        begin(i)
        flag({ construct: 'backtick', reason: '`` ` `` substitutes the output of a command', position: i })
        appendPlain('`')
        i++
        break
      case ';':
      case '&':
      case '|':
      case '<':
      case '>':
      case '(':
      case ')': {
        finish(i)
        let j = i + 1
        while (j < n && OPERATOR_CHARS.includes(input[j]!)) j++
        const op = input.slice(i, j)
        flag(operatorSyntax(op, i))
        words.push({ text: op, start: i, end: j, wildcards: [] })
        i = j
        break
      }
      case '*':
      case '?':
        begin(i)
        if (patternMode) wildcards.push(text.length)
        else flag({ construct: 'glob', reason: `\`${c}\` is a filename wildcard`, position: i })
        appendPlain(c)
        i++
        break
      case '[':
        begin(i)
        flag({ construct: 'glob', reason: '`[` starts a filename wildcard', position: i })
        appendPlain(c)
        i++
        break
      case '#':
        if (!inWord) {
          flag({ construct: 'comment', reason: '`#` starts a comment', position: i })
          const eol = input.indexOf('\n', i)
          i = eol < 0 ? n : eol
          break
        }
        appendPlain(c)
        i++
        break
      case '~':
        begin(i)
        // Tilde expansion at the start of a word, and (bash) after `=` or `:`
        // in anything that looks like an assignment: flagged after any `=`/`:`.
        if (text.length === 0 || text.endsWith('=') || text.endsWith(':')) {
          flag({ construct: 'tilde', reason: '`~` expands to a home directory', position: i })
        }
        appendPlain(c)
        i++
        break
      case '{':
        begin(i)
        if (braceAt < 0) {
          braceAt = i
          braceSeparator = false
        }
        appendPlain(c)
        i++
        break
      case '}':
        begin(i)
        if (braceAt >= 0 && braceSeparator) flag({ construct: 'brace-expansion', reason: '`{` starts a brace expansion', position: braceAt })
        appendPlain(c)
        i++
        break
      default:
        begin(i)
        appendPlain(c)
        i++
    }
  }
  finish(n)
  return syntax ? { ok: true, words, syntax } : { ok: true, words }
}
