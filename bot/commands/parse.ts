// Commands in a comment: `/approve`, `/approve cancel`, `/deny`, `/hold`,
// `/unhold`, each exact and alone on its line. The comment is read as GitHub
// renders it, with a CommonMark parser (mdast-util-from-markdown, on
// micromark): a command counts only as a whole line of plain text in a
// paragraph at the top level of the comment. Block quotes (lazy continuation
// lines included: `> text` then `/approve` renders inside the quote), code
// blocks and spans, HTML blocks, HTML comments, emphasis, links and headings
// are never commands, so quoting, hiding or decorating someone's `/approve`
// never approves. Anything else starting with a slash (unknown commands,
// extra arguments) is ignored. Bodies longer than GitHub allows are not read.
import type { Paragraph, PhrasingContent } from 'mdast'
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

/** Stands in for any inline node that is not plain text, so the line it is on never equals a command. */
const NOT_TEXT = '\u0000'

/** The paragraph's visible lines: plain text kept, line breaks kept, everything else replaced by NOT_TEXT. */
function paragraphLines(paragraph: Paragraph): string[] {
  const text = paragraph.children
    .map((node: PhrasingContent) => (node.type === 'text' ? node.value : node.type === 'break' ? '\n' : NOT_TEXT))
    .join('')
  return text.split('\n')
}

export function parseCommands(body: unknown): CommandName[] {
  if (typeof body !== 'string' || body.length > MAX_COMMENT_CHARS) return []
  const found: CommandName[] = []
  // Only the root's own children: a paragraph inside a quote or a list item is not top level.
  for (const block of fromMarkdown(body).children) {
    if (block.type !== 'paragraph') continue
    for (const line of paragraphLines(block)) {
      const command = COMMANDS.get(line.trim())
      if (command) found.push(command)
    }
  }
  return found
}
