// Whether the base branch requires the bot's check. Approvals block nothing
// unless it does: without a required check, anyone who may push can merge a
// pull request the bot marks as failing. Both places GitHub keeps the
// setting are read: the branch protection rule's required status checks, and
// the rulesets in force on the branch (a "Require status checks to pass"
// rule). The answer only decides a warning, so a lookup GitHub refuses
// becomes a warning too, never a failed delivery.
import type { RepoRef } from '../config.js'
import type { GitHub } from './client.js'

export type CheckRequirement = { required: true } | { required: false; warning: string }

const status = (err: unknown) => (err as { status?: number }).status

async function requiredByProtection(github: GitHub, repo: RepoRef, branch: string, check: string): Promise<boolean | string> {
  try {
    const { data } = await github.request('GET /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks', { owner: repo.owner, repo: repo.name, branch })
    return [...(data.contexts ?? []), ...(data.checks ?? []).map((c) => c.context)].includes(check)
  } catch (err) {
    // 404: no protection rule (or it requires no checks).
    if (status(err) === 404) return false
    return `the branch protection of \`${branch}\` could not be read (${status(err) ? `HTTP ${status(err)}` : 'no answer'}; the GitHub App needs the repository permission "Administration: read")`
  }
}

async function requiredByRulesets(github: GitHub, repo: RepoRef, branch: string, check: string): Promise<boolean | string> {
  try {
    const { data } = await github.request('GET /repos/{owner}/{repo}/rules/branches/{branch}', { owner: repo.owner, repo: repo.name, branch })
    return data.some((rule) => rule.type === 'required_status_checks' && (rule.parameters?.required_status_checks ?? []).some((c: { context: string }) => c.context === check))
  } catch (err) {
    return `the rulesets of \`${branch}\` could not be read (${status(err) ? `HTTP ${status(err)}` : 'no answer'})`
  }
}

export async function checkRequirement(github: GitHub, repo: RepoRef, branch: string, check: string): Promise<CheckRequirement> {
  const [protection, rulesets] = await Promise.all([requiredByProtection(github, repo, branch, check), requiredByRulesets(github, repo, branch, check)])
  if (protection === true || rulesets === true) return { required: true }
  const unread = [protection, rulesets].filter((r): r is string => typeof r === 'string')
  const setting =
    `require \`${check}\` in Settings → Branches (the rule for \`${branch}\`: "Require status checks to pass before merging") ` +
    'or in Settings → Rules → Rulesets ("Require status checks to pass")'
  return {
    required: false,
    warning: unread.length > 0
      ? `Gatehouse cannot tell whether \`${branch}\` requires this check: ${unread.join('; ')}. Unless it does, these approvals block nothing: ${setting}.`
      : `\`${branch}\` does not require this check, so these approvals block nothing: anyone who may push can merge. To enforce them, ${setting}.`,
  }
}
