// Commands in a comment: `/approve`, `/approve cancel`, `/deny`, `/hold`,
// `/unhold`, each exact and alone on its line. Lines inside fenced or
// indented code blocks and quoted lines (`>`) are text, not commands, so
// quoting someone's `/approve` never approves. Anything else starting with a
// slash (unknown commands, extra arguments) is ignored. Bodies longer than
// GitHub allows are not read at all.
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

const FENCE = /^ {0,3}(`{3,}|~{3,})/

export function parseCommands(body: unknown): CommandName[] {
  if (typeof body !== 'string' || body.length > MAX_COMMENT_CHARS) return []
  const found: CommandName[] = []
  let fence: string | undefined
  for (const raw of body.split(/\r?\n/)) {
    const open = FENCE.exec(raw)
    if (fence) {
      // A fence closes with the same character, at least as long (CommonMark §4.5).
      if (open && open[1]![0] === fence[0] && open[1]!.length >= fence.length && raw.trim() === open[1]) fence = undefined
      continue
    }
    if (open) {
      fence = open[1]!
      continue
    }
    if (/^( {4,}|\t)/.test(raw) || /^\s*>/.test(raw)) continue
    const command = COMMANDS.get(raw.trim())
    if (command) found.push(command)
  }
  return found
}
