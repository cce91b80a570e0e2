// A delivery that failed for good is answered where it came from: the pull
// request or issue its key names gets a comment saying what went wrong and
// how to have it processed again, so nobody waits on a vote that was never
// read. The answer names GitHub's status or the kind of failure, never the
// error's text (which can carry internal detail); the log has the rest.
import type { BotContext } from './context.js'
import { PermanentError } from './context.js'
import type { Delivery } from './queue.js'
import { fullName } from './webhook/route.js'

function cause(error: unknown): string {
  const status = (error as { status?: unknown }).status
  if (typeof status === 'number') return `GitHub answered HTTP ${status}`
  if (error instanceof PermanentError) return 'the delivery lacks what its event must carry'
  return 'an internal error (the bot log has it under this delivery id)'
}

export async function replyDeliveryFailed(ctx: BotContext, delivery: Delivery, error: unknown): Promise<void> {
  const match = /^(.+)#(\d+)$/.exec(delivery.key)
  if (!match) return
  const repo = [ctx.config.policyRepo, ctx.config.approvalsRepo].find((r) => fullName(r).toLowerCase() === match[1])
  if (!repo) return
  const body =
    `Gatehouse could not process a \`${delivery.event}\` delivery here (\`${delivery.id}\`) after ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}: ${cause(error)}. ` +
    'Nothing in it was counted or published. Once the cause is fixed, an admin can redeliver it from the GitHub App\'s advanced settings.'
  await ctx.github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: repo.owner, repo: repo.name, issue_number: Number(match[2]), body })
}
