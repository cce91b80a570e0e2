// The command line the gateway forwards upstream: the decided argv, quoted so
// that any POSIX shell (and bash and zsh) splits it back into exactly that
// argv. Forwarding the re-quoted argv rather than the client's text means the
// upstream shell runs what was decided, whatever the client's text meant.
//
// Words made only of characters no shell treats specially are left bare, for
// readable audit logs; anything else is single-quoted, where nothing is
// special but the closing quote (POSIX.1-2017 XCU §2.2.2). An embedded `'` is
// written `\'` between quoted runs (`it's` → `'it'\''s'`).

/** Characters that are literal anywhere in a word in sh, bash and zsh. `=`, `~`, `#`, `{`, `!`, `^` are not among them. */
const SAFE_WORD = /^[A-Za-z0-9_./:@%+,-]+$/

/**
 * Reserved words of sh, bash and zsh: special only unquoted in command
 * position, so a bare program name must not be one of them.
 */
const RESERVED_COMMANDS = new Set([
  'case', 'coproc', 'do', 'done', 'elif', 'else', 'end', 'esac', 'fi', 'for', 'foreach', 'function', 'if', 'in',
  'nocorrect', 'noglob', 'repeat', 'select', 'then', 'time', 'until', 'while',
])

/** Quotes one word for a POSIX shell. */
export function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word
  if (word === '') return "''"
  return word
    .split("'")
    .map((run) => (run === '' ? '' : `'${run}'`))
    .join("\\'")
}

/**
 * A command line that `sh -c` splits into exactly `argv`.
 * invariant: no word contains NUL (shellWords and sftpOperation reject it);
 * a NUL cannot be passed to a program at all, so it is a caller bug: throws.
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv
    .map((word, i) => {
      if (word.includes('\0')) throw new RangeError('quoteArgv: a word contains a NUL character')
      return i === 0 && RESERVED_COMMANDS.has(word) ? `'${word}'` : quoteWord(word)
    })
    .join(' ')
}
