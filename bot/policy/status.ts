// Whether a policy pull request may merge: it compiles, its tests pass, every
// approval rule has enough approvals from eligible people, nobody eligible
// denied it and nobody holds it. An approval counts only when it was given
// for the current head commit and permission diff, by someone who is neither
// the author nor a committer of the pull request, and who is (still, when
// this is computed) one of the rule's approvers.
import type { Membership } from '../github/membership.js'
import type { ApprovalRule } from './approval-rules.js'
import type { PullRequestState, Vote } from './state.js'

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

/** Stands in the pushers for a commit whose author or committer is no known account. */
export const UNKNOWN_PUSHER = '(unknown)'

/** Why a person may not vote on this pull request at all, if they may not. */
export function exclusion(state: PullRequestState, login: string): string | undefined {
  const l = login.toLowerCase()
  if (state.author.toLowerCase() === l) return 'the author of a pull request may not approve it'
  if (state.pushers.some((p) => p.toLowerCase() === l)) return 'someone who pushed commits to a pull request may not approve it'
  if (state.pushers.includes(UNKNOWN_PUSHER)) return 'a commit of this pull request is not linked to a GitHub account, so who pushed it is unknown and no approval can count'
  return undefined
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
