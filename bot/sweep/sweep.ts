// The stale-identity sweep (`gatehouse bot sweep`, and on the configured
// schedule). Reads the default branch of the policy repository, refuses when
// the store's usage records are not fresh (nothing then looks idle by
// mistake), runs the finders (findings.ts) on the store's usage records, the
// repository's history and GitHub's membership data, and then, for each
// identity:
//  - a proposal (remove, change of owner, narrowing; beside it, on its own
//    branch, retiring credentials past their notAfter) is opened, or its open
//    pull request brought up to date, only once its files validate and pass
//    their tests (green.ts); at most `maxPullRequests` new ones per run;
//  - an open proposal whose evidence no longer holds (used again, exempted,
//    owner back, identity gone, credentials retired) is closed with a
//    comment saying why;
//  - a proposal a person closed stays closed until the evidence changes
//    materially: another kind of change, or another full inactivity window;
//  - findings that propose nothing are reported in the summary issue.
// With `dryRun` nothing is written anywhere.
import { compileRepository } from '../../compiler/compile.js'
import type { Bundle } from '../../engine/types.js'
import type { BotContext } from '../context.js'
import { loadRevision, readBlob, readTree } from '../policy/fetch.js'
import { DAY, day, identityAddedAt, ownerStatuses, readUsage, staleStoreReason, type Usage } from './evidence.js'
import { EXEMPTIONS_FILE, parseExemptions } from './exemptions.js'
import { findAll, inUse, policiesOf, type Finding, type IdentityFindings, type ProposingAction, type SweepEvidence } from './findings.js'
import { buildProposal } from './green.js'
import { closedByBot, closeProposal, listSweepPulls, proposalBranch, proposeChange, SWEEP_LABEL, sweepMarker, type ProposalOutcome, type ProposedChange, type SweepPull } from './propose.js'
import { describeRetirement } from './rotation.js'
import { publishSummary } from './summary.js'

export interface SweepResult {
  identity: string
  action: ProposingAction | undefined
  reasons: Finding[]
  reports: Finding[]
  outcome: ProposalOutcome | 'exempt' | 'capped' | 'reported' | 'declined' | 'not-green' | 'closed' | 'would-close'
  number?: number
  note?: string
}

export interface SweepReport {
  base: string
  /** Why nothing was judged (usage records not fresh), when so. */
  refused?: string
  results: SweepResult[]
  warnings: string[]
  /** The summary issue's number (not on a dry run). */
  summary?: number
}

const fileOf = (source: string) => source.slice(0, source.lastIndexOf(':') > 0 ? source.lastIndexOf(':') : source.length)
const NEW_PROPOSALS: ReadonlySet<string> = new Set(['created', 'reopened', 'would-create', 'would-reopen'])
const PROPOSING: ReadonlySet<string> = new Set([...NEW_PROPOSALS, 'updated', 'unchanged', 'human-pushed', 'would-update', 'not-green', 'capped', 'declined'])

function title(found: IdentityFindings, bundle: Bundle): string {
  const identity = bundle.identities[found.identity]!
  if (found.action === 'remove') return `Remove stale identity ${found.identity}`
  if (found.action === 'change-owner') return `Change the owner of ${found.identity}: ${identity.owner} left ${bundle.settings.organisation}`
  if (found.action === 'retire') return `Remove expired credentials of ${found.identity}`
  return `Narrow the grants of ${found.identity}`
}

function usesPerRule(bundle: Bundle, usage: Usage, name: string): string[] {
  const identity = bundle.identities[name]!
  const rows = policiesOf(bundle, identity).flatMap((p) =>
    p.rules.map((i) => {
      const rule = bundle.rules[i]!.id
      const use = usage.rules.get(name)?.get(rule)
      return `| \`${rule}\` | ${use ? use.uses : 0} | ${use ? use.lastUsed.toISOString() : 'never'} |`
    }),
  )
  return rows.length === 0 ? [] : ['| rule | uses recorded | last used |', '| --- | --- | --- |', ...rows]
}

function describe(found: IdentityFindings, e: SweepEvidence, newOwner: string): string {
  const { bundle, usage } = e
  const identity = bundle.identities[found.identity]!
  if (found.action === 'retire') return describeRetirement(identity, found.reasons, found.reports)
  const status = e.owners.get(found.identity)?.state ?? 'unknown'
  const what = {
    remove: `This pull request removes the identity \`${identity.name}\`, its mentions in policy subjects (a role only it held, and a policy left without subjects, go too), and the test cases that name it.`,
    narrow: `This pull request removes \`${identity.name}\` from the subjects of ${found.policies.map((p) => `\`${p}\``).join(', ')}, and the test cases that expected those grants.`,
    'change-owner': `The identity is in use, so it is kept: this pull request makes \`${newOwner}\` its owner for now. Replace that with whoever runs it before merging.`,
  }[found.action!]
  return [
    sweepMarker(found.identity, found.action!),
    `Gatehouse's sweep found, for \`${identity.name}\` (owner \`${identity.owner}\`):`,
    '',
    ...found.reasons.map((r) => `- ${r.reason}`),
    ...found.reports.map((r) => `- ${r.reason} (reported only)`),
    '',
    '| evidence | |',
    '| --- | --- |',
    `| last seen by the gateway | ${usage.lastSeen.get(identity.name)?.toISOString() ?? 'never'} |`,
    `| usage records | from ${usage.since?.toISOString() ?? '—'} to ${usage.newest?.toISOString() ?? '—'} |`,
    `| inactivity window | ${bundle.settings.stale.inactiveDays} days, from ${day(e.windowStart)} |`,
    `| owner | \`${identity.owner}\` (${status === 'present' ? 'present' : status === 'left' ? 'not a member' : 'unknown'}) |`,
    '',
    ...usesPerRule(bundle, usage, identity.name),
    '',
    what,
    'The bot validated and tested the result before opening this pull request, and keeps it in step with the evidence: it closes it, saying why, when the evidence no longer holds.',
    '',
    `${status === 'present' ? `${identity.owner}, please review.` : 'The owner cannot be asked; the default approvers are asked instead.'} ` +
      `To keep the identity as it is, close this pull request (the sweep will not propose it again until the evidence changes) and add an exemption with a reason and an expiry date to \`${EXEMPTIONS_FILE}\`.`,
  ].join('\n')
}

function reviewers(bundle: Bundle, owner: string, ownerPresent: boolean): ProposedChange['reviewers'] {
  const principals = ownerPresent ? [owner] : bundle.settings.approvers
  const users: string[] = []
  const teams: string[] = []
  for (const p of principals) {
    const name = p.replace(/^@/, '')
    if (!name.includes('/')) users.push(name)
    else if (name.split('/')[0]!.toLowerCase() === bundle.settings.organisation.toLowerCase()) teams.push(name.split('/')[1]!)
  }
  return { users, teams }
}

/** Why an open proposal no longer holds. */
function noLongerHolds(e: SweepEvidence, found: IdentityFindings[], pull: SweepPull, exempt: string | undefined): string {
  const identity = e.bundle.identities[pull.identity]
  if (!identity) return `\`${pull.identity}\` is no longer in the repository`
  if (pull.action === 'retire') {
    const removal = found.some((f) => f.identity === pull.identity && f.action === 'remove')
    return removal ? `the removal of \`${pull.identity}\` is proposed instead` : `\`${pull.identity}\` lists no credential past its notAfter any more`
  }
  if (exempt) return `\`${pull.identity}\` is exempted: ${exempt}`
  const lastSeen = e.usage.lastSeen.get(pull.identity)
  if (pull.action === 'change-owner' && e.owners.get(pull.identity)?.state !== 'left') return `its owner \`${identity.owner}\` is no longer known to have left`
  if (lastSeen && inUse(e, pull.identity)) return `\`${pull.identity}\` was used again (last seen ${lastSeen.toISOString()})`
  return 'the evidence it was based on no longer holds'
}

export async function runSweep(ctx: BotContext, options: { dryRun?: boolean; now?: Date } = {}): Promise<SweepReport> {
  const now = options.now ?? new Date()
  const dryRun = options.dryRun ?? false
  const repo = ctx.config.policyRepo
  const where = { owner: repo.owner, repo: repo.name }
  const { data: info } = await ctx.github.request('GET /repos/{owner}/{repo}', where)
  const branch = info.default_branch
  const { data: ref } = await ctx.github.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...where, ref: `heads/${branch}` })
  const baseSha = ref.object.sha
  const [loaded, tree] = await Promise.all([loadRevision(ctx.github, repo, baseSha, ctx.blobs), readTree(ctx.github, repo, baseSha, { all: true })])
  const compiled = await compileRepository(loaded, { lint: false })
  if (!compiled.bundle) throw new Error(`the ${branch} branch of ${repo.owner}/${repo.name} does not compile; nothing is swept`)
  const bundle = compiled.bundle
  const exemptionsEntry = tree.entries.find((e) => e.path === EXEMPTIONS_FILE)
  const exemptionsText = exemptionsEntry ? (await readBlob(ctx.github, repo, exemptionsEntry.sha, ctx.blobs)).toString('utf8') : undefined
  const { exemptions, warnings } = parseExemptions(exemptionsText, day(now))
  const usage = await readUsage(ctx.db)
  const finish = async (report: SweepReport) => {
    if (!dryRun) report.summary = await publishSummary(ctx, report)
    ctx.log.info('sweep finished', { base: baseSha, refused: report.refused !== undefined, results: report.results.length, dryRun })
    return report
  }

  const refused = staleStoreReason(usage, now, ctx.config.sweep.freshnessSeconds)
  if (refused) {
    ctx.log.warn('sweep refused', { reason: refused })
    return finish({ base: baseSha, refused, results: [], warnings })
  }
  const windowStart = new Date(now.getTime() - bundle.settings.stale.inactiveDays * DAY)
  const added = new Map<string, Promise<Date>>()
  const evidence: SweepEvidence = {
    bundle, usage, now, windowStart,
    covered: usage.since !== undefined && usage.since <= windowStart,
    owners: await ownerStatuses(ctx, bundle),
    graceSeconds: ctx.config.sweep.graceSeconds,
    addedAt(name) {
      if (!added.has(name)) added.set(name, identityAddedAt(ctx, repo, baseSha, fileOf(bundle.identities[name]!.source), name))
      return added.get(name)!
    },
  }
  const found = await findAll(evidence)
  const pulls = await listSweepPulls(ctx)
  const results: SweepResult[] = []
  let proposed = 0
  for (const f of found) {
    const result = (outcome: SweepResult['outcome'], more: { number?: number; note?: string } = {}) =>
      results.push({ identity: f.identity, action: f.action, reasons: f.reasons, reports: f.reports, outcome, ...more })
    const exemption = exemptions.get(f.identity)
    if (!f.action) {
      result('reported')
      continue
    }
    // An exemption keeps the identity as it is; credentials the gateway already refuses are not part of that.
    if (exemption && f.action !== 'retire') {
      result('exempt', { note: `${exemption.reason} (until ${exemption.expires})` })
      continue
    }
    let pull = pulls.get(proposalBranch(f.identity, f.action))
    if (pull?.state === 'closed' && !pull.merged && pull.closedAt && !(await closedByBot(ctx, pull.number))) {
      // A person closed it: that decision stands until the evidence changes materially.
      const until = new Date(pull.closedAt.getTime() + bundle.settings.stale.inactiveDays * DAY)
      if (pull.action === f.action && now < until) {
        result('declined', { number: pull.number, note: `closed by a person on ${day(pull.closedAt)}; not proposed again before ${day(until)} unless the evidence changes` })
        continue
      }
    } else if (pull?.state === 'closed') pull = undefined
    if (pull?.state !== 'open' && proposed >= ctx.config.sweep.maxPullRequests) {
      result('capped', { note: `at most ${ctx.config.sweep.maxPullRequests} new pull requests per run` })
      continue
    }
    const identity = bundle.identities[f.identity]!
    const ownerPresent = evidence.owners.get(f.identity)?.state === 'present'
    const newOwner = bundle.settings.approvers[0] ?? identity.owner
    const built = await buildProposal(loaded, bundle, f, newOwner, now)
    if (!built.ok) {
      result('not-green', { ...(pull ? { number: pull.number } : {}), note: built.reason })
      continue
    }
    const change: ProposedChange = {
      identity: f.identity, action: f.action, title: title(f, bundle), body: describe(f, evidence, newOwner), files: built.files,
      reviewers: reviewers(bundle, identity.owner, ownerPresent), labels: [SWEEP_LABEL, `${SWEEP_LABEL}:${f.action}`],
    }
    const { outcome, number } = await proposeChange(ctx, { branch, sha: baseSha, treeSha: tree.treeSha }, change, pull, dryRun)
    if (NEW_PROPOSALS.has(outcome)) proposed++
    result(outcome, number === undefined ? {} : { number })
  }
  for (const pull of pulls.values()) {
    if (pull.state !== 'open' || results.some((r) => proposalBranch(r.identity, r.action) === pull.branch && PROPOSING.has(r.outcome))) continue
    const exemption = exemptions.get(pull.identity)
    const why = noLongerHolds(evidence, found, pull, exemption && `${exemption.reason} (until ${exemption.expires})`)
    if (!dryRun) await closeProposal(ctx, pull, why)
    // The identity's reports, unless another of its results lists them already.
    const reports = results.some((r) => r.identity === pull.identity) ? [] : (found.find((f) => f.identity === pull.identity)?.reports ?? [])
    results.push({ identity: pull.identity, action: undefined, reasons: [], reports, outcome: dryRun ? 'would-close' : 'closed', number: pull.number, note: why })
  }
  return finish({ base: baseSha, results, warnings })
}

export function formatSweep(report: SweepReport): string {
  const lines: string[] = []
  if (report.refused) lines.push(`refused: ${report.refused}`)
  for (const r of report.results) {
    const pr = r.number === undefined ? '' : ` #${r.number}`
    const why = [...r.reasons, ...r.reports].map((f) => f.reason).join('; ')
    lines.push(`${r.outcome}${pr}  ${r.action ?? 'report'} ${r.identity}${why ? `: ${why}` : ''}${r.note ? ` [${r.note}]` : ''}`)
  }
  if (lines.length === 0) lines.push('no stale identities')
  return [...lines, ...report.warnings.map((w) => `warning: ${w}`)].join('\n')
}
