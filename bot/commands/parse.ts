// Commands in a comment: `/approve`, `/approve cancel`, `/deny`, `/hold`,
// `/unhold`, each exact and alone on its line. The comment is read as GitHub
// renders it, with a CommonMark parser (mdast-util-from-markdown, on
// micromark): a command counts only as a whole line of plain text in a
// paragraph at the top level of the comment. Block quotes (lazy continuation
// lines included: `> text` then `/approve` renders inside the quote), code
// blocks and spans, HTML blocks, HTML comments, emphasis, links and headings
// are never commands, so quoting, hiding or decorating someone's `/approve`
// never approves. Anything else starting with a slash (unknown commands,
// extra arguments) is ignored. A command must also be written plainly: an
// escaped or character-referenced one is not. Bodies longer than
// MAX_PARSED_CHARS are not read.
import type { Paragraph } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'

export type CommandName = 'approve' | 'approve-cancel' | 'deny' | 'hold' | 'unhold'

const COMMANDS = new Map<string, CommandName>([
  ['/approve', 'approve'],
  ['/approve cancel', 'approve-cancel'],
  ['/deny', 'deny'],
  ['/hold', 'hold'],
  ['/unhold', 'unhold'],
])

/** GitHub's own limit on a comment body. */
export const MAX_COMMENT_CHARS = 65_536

/**
 * The longest comment read for commands. CommonMark parsing has inputs that
 * take time quadratic in their length (64 KB of nested `>` or of `*a` take
 * over a minute); commands are short, so a longer comment is not parsed and
 * its author is told to put the command in a comment of its own.
 */
export const MAX_PARSED_CHARS = 4_096

/** Stands in for any inline node that is not plain text, so the line it is on never equals a command. */
const NOT_TEXT = '\u0000'

/** The lines whose raw text is a command: nothing else can be one, so most comments are never parsed. */
function candidateLines(body: string): Map<number, CommandName> {
  const found = new Map<number, CommandName>()
  body.split(/\r?\n|\r/).forEach((raw, i) => {
    const command = COMMANDS.get(raw.trim())
    if (command) found.set(i + 1, command)
  })
  return found
}

/** The first line that reads as a command in a comment too long to be parsed, so its author can be told. */
export function commandInLongComment(body: unknown): CommandName | undefined {
  if (typeof body !== 'string' || body.length <= MAX_PARSED_CHARS || body.length > MAX_COMMENT_CHARS) return undefined
  return candidateLines(body).values().next().value
}

/** The paragraph's visible text by source line: plain text kept, any other inline node replaced by NOT_TEXT on every line it spans. */
function paragraphLines(paragraph: Paragraph): Map<number, string> {
  const lines = new Map<number, string>()
  const append = (line: number, text: string) => lines.set(line, (lines.get(line) ?? '') + text)
  for (const node of paragraph.children) {
    const { start, end } = node.position!
    // A text node's soft line breaks are its source lines: character escapes and references never add one.
    if (node.type === 'text') node.value.split('\n').forEach((part, i) => append(start.line + i, part))
    else if (node.type !== 'break') for (let line = start.line; line <= end.line; line++) append(line, NOT_TEXT)
  }
  return lines
}

export function parseCommands(body: unknown): CommandName[] {
  if (typeof body !== 'string' || body.length > MAX_PARSED_CHARS) return []
  const candidates = candidateLines(body)
  if (candidates.size === 0) return []
  const found: CommandName[] = []
  // Only the root's own children: a paragraph inside a quote or a list item is not top level.
  for (const block of fromMarkdown(body).children) {
    if (block.type !== 'paragraph') continue
    for (const [line, text] of paragraphLines(block)) {
      // Both as written and as rendered: `\/approve` or `&#47;approve` renders as a command but is not written as one.
      const command = COMMANDS.get(text.trim())
      if (command && candidates.get(line) === command) found.push(command)
    }
  }
  return found
}
