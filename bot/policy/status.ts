// Whether a policy pull request may merge: it compiles, its tests pass, every
// approval rule has enough approvals from eligible people, nobody eligible
// denied it and nobody holds it. An approval counts only when it was given
// for the current head commit and permission diff, by someone who is neither
// the author nor a pusher of the pull request, and who is (still, when this
// is computed) one of the rule's approvers.
import type { Membership } from '../github/membership.js'
import type { ApprovalRule } from './approval-rules.js'
import type { Evaluation } from './evaluate.js'
import type { CommandRecord, PullRequestState, Vote } from './state.js'

export interface RuleStatus {
  rule: ApprovalRule
  approvedBy: string[]
  satisfied: boolean
}

export interface PullRequestStatus {
  rules: RuleStatus[]
  deniedBy: string[]
  heldBy: string[]
  passed: boolean
  /** One line for the check's title. */
  headline: string
}

/** Stands in the pushers when the bot has no record from GitHub of who pushed the head commit. */
export const UNKNOWN_PUSHER = '(unknown)'

/** Why a person may not vote on this pull request at all, if they may not. */
export function exclusion(state: PullRequestState, login: string): string | undefined {
  const l = login.toLowerCase()
  if (state.author.toLowerCase() === l) return 'the author of a pull request may not approve it'
  if (state.pushers.some((p) => p.toLowerCase() === l)) return 'someone who pushed to a pull request, or authored one of its verified commits, may not approve it'
  if (state.pushers.includes(UNKNOWN_PUSHER)) {
    return `the bot has no record from GitHub of who pushed commit \`${state.evaluation.headSha.slice(0, 7)}\` (its \`pull_request\` delivery never arrived), so no approval can count; an admin can redeliver it from the GitHub App's advanced settings`
  }
  return undefined
}

/** Commands in the order their authors wrote them; GitHub's times have whole seconds, so ties go by GitHub's ids, which only grow. */
function inWrittenOrder(commands: readonly CommandRecord[]): CommandRecord[] {
  const id = (source: string) => Number(source.slice(source.indexOf(':') + 1)) || 0
  return [...commands].sort((a, b) => a.writtenAt.localeCompare(b.writtenAt) || id(a.source) - id(b.source) || a.source.localeCompare(b.source))
}

/**
 * Each person's standing vote: their latest `/approve` or `/deny` (or
 * approving review) for this head commit and permission diff, by the time it
 * was written, unless a later `/approve cancel` withdrew an approval. A
 * dismissed review counts as never given. Whatever order the deliveries
 * came in, the same commands give the same votes.
 */
export function standingVotes(commands: readonly CommandRecord[], evaluation: Pick<Evaluation, 'headSha' | 'digest'>): Vote[] {
  const votes = new Map<string, Vote>()
  for (const c of inWrittenOrder(commands)) {
    if (c.headSha !== evaluation.headSha || c.digest !== evaluation.digest) continue
    if (c.command === 'approve' || c.command === 'deny') votes.set(c.login, { login: c.login, vote: c.command, headSha: c.headSha, digest: c.digest, source: c.source })
    else if (c.command === 'approve-cancel' && votes.get(c.login)?.vote === 'approve') votes.delete(c.login)
  }
  return [...votes.values()]
}

/** Who holds the pull request: each person's latest `/hold` or `/unhold` decides, whatever the evaluation. */
export function standingHolds(commands: readonly CommandRecord[]): string[] {
  const holds = new Map<string, boolean>()
  for (const c of inWrittenOrder(commands)) if (c.command === 'hold' || c.command === 'unhold') holds.set(c.login, c.command === 'hold')
  return [...holds].filter(([, held]) => held).map(([login]) => login)
}

export const countsNow = (state: PullRequestState, vote: Vote) =>
  vote.headSha === state.evaluation.headSha && vote.digest === state.evaluation.digest && exclusion(state, vote.login) === undefined

export async function computeStatus(state: PullRequestState, votes: readonly Vote[], holds: readonly string[], membership: Membership): Promise<PullRequestStatus> {
  const { evaluation } = state
  const valid = votes.filter((v) => countsNow(state, v))
  const rules: RuleStatus[] = []
  for (const rule of evaluation.rules) {
    const approvedBy: string[] = []
    for (const v of valid) if (v.vote === 'approve' && (await membership.matching(v.login, rule.approvers)).length > 0) approvedBy.push(v.login)
    rules.push({ rule, approvedBy, satisfied: approvedBy.length >= rule.required })
  }
  const eligibleAnywhere = async (login: string) => {
    for (const rule of evaluation.rules) if ((await membership.matching(login, rule.approvers)).length > 0) return true
    return false
  }
  // Denials and holds, like approvals, count only while their authors are approvers.
  const deniedBy: string[] = []
  for (const v of valid) if (v.vote === 'deny' && (await eligibleAnywhere(v.login))) deniedBy.push(v.login)
  const heldBy: string[] = []
  for (const login of holds) if (await eligibleAnywhere(login)) heldBy.push(login)
  const errors = evaluation.findings.filter((f) => f.severity === 'error').length
  const missing = rules.filter((r) => !r.satisfied).length
  let headline: string
  if (evaluation.problems.length > 0) headline = evaluation.problems[0]!
  else if (errors > 0) headline = `${errors} error${errors === 1 ? '' : 's'} in the policy repository`
  else if (evaluation.testFailures.length > 0) headline = `${evaluation.testFailures.length} policy test${evaluation.testFailures.length === 1 ? '' : 's'} failed`
  else if (deniedBy.length > 0) headline = `denied by ${deniedBy.map((l) => `@${l}`).join(', ')}`
  else if (heldBy.length > 0) headline = `on hold by ${heldBy.map((l) => `@${l}`).join(', ')}`
  else if (rules.length === 0) headline = 'no approval rule could be determined'
  else if (missing > 0) headline = `waiting for approval: ${missing} of ${rules.length} rule${rules.length === 1 ? '' : 's'} not yet satisfied`
  else headline = 'all approval rules satisfied'
  // invariant: default deny. With no rules (the base does not compile) nothing passes.
  const passed = evaluation.problems.length === 0 && errors === 0 && evaluation.testFailures.length === 0 && deniedBy.length === 0 && heldBy.length === 0 && rules.length > 0 && missing === 0
  return { rules, deniedBy, heldBy, passed, headline }
}
