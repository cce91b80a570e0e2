// How the bot answers a command, on a pull request or an approval issue: a
// reaction on the comment (+1 or -1 when it counted, confused when it did
// not) and, when it did not count, a reply that says why.
import type { RepoRef } from '../config.js'
import type { BotContext } from '../context.js'
import type { CommandName } from './parse.js'

export type Outcome = { counted: true } | { counted: false; reason: string }

const SPELLING: Record<CommandName, string> = { approve: '/approve', 'approve-cancel': '/approve cancel', deny: '/deny', hold: '/hold', unhold: '/unhold' }
const REACTION: Record<CommandName, '+1' | '-1'> = { approve: '+1', 'approve-cancel': '+1', deny: '-1', hold: '+1', unhold: '+1' }

/** Comments and reviews by the bot itself, or by any bot, are never commands. */
export function isFromBot(ctx: BotContext, user: { login?: string; type?: string } | null | undefined): boolean {
  return !user?.login || user.type === 'Bot' || user.login.toLowerCase() === ctx.self.toLowerCase()
}

/** `commentId` is absent for a review, which cannot carry a reaction. */
export async function answer(
  ctx: BotContext,
  repo: RepoRef,
  where: { issue: number; commentId?: number },
  login: string,
  command: CommandName | 'review',
  outcome: Outcome,
): Promise<void> {
  const target = { owner: repo.owner, repo: repo.name }
  ctx.metrics.commands.inc({ outcome: outcome.counted ? 'counted' : 'refused' })
  if (where.commentId !== undefined) {
    const content = outcome.counted && command !== 'review' ? REACTION[command] : 'confused'
    await ctx.github.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { ...target, comment_id: where.commentId, content })
  }
  if (!outcome.counted) {
    const what = command === 'review' ? 'approving review' : `\`${SPELLING[command]}\``
    await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...target, issue_number: where.issue, body: `@${login} your ${what} did not count: ${outcome.reason}.` })
  }
}
