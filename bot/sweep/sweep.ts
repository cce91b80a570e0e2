// The stale-identity sweep (`gatehouse bot sweep`, and on the configured
// schedule): reads the default branch of the policy repository, finds stale
// identities from the store's usage records and GitHub's membership data,
// and proposes one pull request per identity, at most `maxPullRequests`
// created or updated per run. Exempted identities are skipped. With
// `dryRun` nothing is written anywhere.
import { compileRepository } from '../../compiler/compile.js'
import { removeExpiredCredentials } from '../../compiler/credential-edit.js'
import type { Bundle } from '../../engine/types.js'
import type { BotContext } from '../context.js'
import { Membership } from '../github/membership.js'
import { loadRevision, readBlob, readTree } from '../policy/fetch.js'
import { removeIdentityDocument, removeSubject, removeTestCases } from './edit.js'
import { EXEMPTIONS_FILE, parseExemptions } from './exemptions.js'
import { findStale, readUsage, type StaleIdentity } from './findings.js'
import { describeRetirement, findRotations, rotationBranch } from './rotation.js'
import { proposeChange, type ProposalOutcome, type ProposedChange } from './propose.js'

export interface SweepResult {
  finding: StaleIdentity
  outcome: ProposalOutcome | 'exempt' | 'capped' | 'reported'
  number?: number
  note?: string
}

export interface SweepReport {
  base: string
  results: SweepResult[]
  warnings: string[]
}

const fileOf = (source: string) => source.slice(0, source.lastIndexOf(':') > 0 ? source.lastIndexOf(':') : source.length)

function describe(finding: StaleIdentity, since: Date | undefined, inactiveDays: number): string {
  const what = finding.action === 'remove'
    ? `This pull request removes the identity \`${finding.identity}\`, its direct mentions in policy subjects, and the test cases that exercise it.`
    : `This pull request removes \`${finding.identity}\` from the subjects of ${finding.policies.map((p) => `\`${p}\``).join(', ')}.`
  return [
    `<!-- gatehouse:sweep:${finding.identity} -->`,
    `Gatehouse found \`${finding.identity}\` (owner \`${finding.owner}\`) stale:`,
    '',
    ...finding.reasons.map((r) => `- ${r}`),
    '',
    '| evidence | |',
    '| --- | --- |',
    `| last seen by the gateway | ${finding.lastSeen ?? 'never'} |`,
    `| usage records since | ${since ? since.toISOString() : 'none'} |`,
    `| inactivity limit | ${inactiveDays} days |`,
    `| owner | \`${finding.owner}\`${finding.ownerPresent ? '' : ' (gone)'} |`,
    '',
    what,
    '',
    `${finding.ownerPresent ? `${finding.owner}, please review.` : 'The owner is gone; the default approvers are asked instead.'} ` +
      `To keep the identity, close this pull request and add an exemption with a reason and an expiry date to \`${EXEMPTIONS_FILE}\`.`,
  ].join('\n')
}

function reviewers(bundle: Bundle, finding: StaleIdentity): ProposedChange['reviewers'] {
  const principals = finding.ownerPresent ? [finding.owner] : bundle.settings.approvers
  const users: string[] = []
  const teams: string[] = []
  for (const p of principals) {
    const name = p.replace(/^@/, '')
    if (!name.includes('/')) users.push(name)
    else if (name.split('/')[0]!.toLowerCase() === bundle.settings.organisation.toLowerCase()) teams.push(name.split('/')[1]!)
  }
  return { users, teams }
}

export async function runSweep(ctx: BotContext, options: { dryRun?: boolean; now?: Date } = {}): Promise<SweepReport> {
  const now = options.now ?? new Date()
  const repo = ctx.config.policyRepo
  const where = { owner: repo.owner, repo: repo.name }
  const { data: info } = await ctx.github.request('GET /repos/{owner}/{repo}', where)
  const branch = info.default_branch
  const { data: ref } = await ctx.github.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...where, ref: `heads/${branch}` })
  const baseSha = ref.object.sha
  const blobs = ctx.blobs
  const [loaded, tree] = await Promise.all([loadRevision(ctx.github, repo, baseSha, blobs), readTree(ctx.github, repo, baseSha, { all: true })])
  const compiled = await compileRepository(loaded, { lint: false })
  if (!compiled.bundle) throw new Error(`the ${branch} branch of ${repo.owner}/${repo.name} does not compile; nothing is swept`)
  const bundle = compiled.bundle
  const text = async (path: string) => {
    const entry = tree.entries.find((e) => e.path === path)
    return entry ? (await readBlob(ctx.github, repo, entry.sha, blobs)).toString('utf8') : undefined
  }
  const { exemptions, warnings } = parseExemptions(await text(EXEMPTIONS_FILE), now.toISOString().slice(0, 10))
  const usage = await readUsage(ctx.db)
  const stale = await findStale(bundle, usage, new Membership(ctx.github), now)
  // An identity on its way out needs no credential cleanup.
  const leaving = new Set(stale.filter((f) => f.action === 'remove').map((f) => f.identity))
  const findings = [...stale, ...findRotations(bundle, now).filter((f) => !leaving.has(f.identity))]
  const policyFiles = [...new Set(bundle.policies.map((p) => fileOf(p.source)))]
  const testFiles = [...new Set((compiled.model?.tests ?? []).map((t) => t.doc.file))]
  const results: SweepResult[] = []
  let proposed = 0
  for (const finding of findings) {
    const exemption = exemptions.get(finding.identity)
    if (finding.action === 'report') results.push({ finding, outcome: 'reported' })
    else if (exemption && finding.action !== 'retire') results.push({ finding, outcome: 'exempt', note: `${exemption.reason} (until ${exemption.expires})` })
    else if (proposed >= ctx.config.sweep.maxPullRequests) results.push({ finding, outcome: 'capped', note: `at most ${ctx.config.sweep.maxPullRequests} pull requests per run` })
    else {
      const files = new Map<string, string | null>()
      const edit = async (path: string, change: (text: string) => string | null) => {
        const before = files.has(path) ? files.get(path)! : await text(path)
        if (before === null || before === undefined) return
        const after = change(before)
        if (after !== before) files.set(path, after)
      }
      if (finding.action === 'retire') {
        await edit(fileOf(bundle.identities[finding.identity]!.source), (t) => removeExpiredCredentials(t, finding.identity, now))
      } else if (finding.action === 'remove') {
        await edit(fileOf(bundle.identities[finding.identity]!.source), (t) => removeIdentityDocument(t, finding.identity))
        for (const file of policyFiles) await edit(file, (t) => removeSubject(t, finding.identity) ?? t)
        for (const file of testFiles) await edit(file, (t) => removeTestCases(t, finding.identity))
      } else {
        const targets = new Set(bundle.policies.filter((p) => finding.policies.includes(p.name)).map((p) => fileOf(p.source)))
        for (const file of targets) await edit(file, (t) => removeSubject(t, finding.identity, finding.policies) ?? t)
      }
      const title = finding.action === 'retire' ? `Remove expired credentials of ${finding.identity}` : finding.action === 'remove' ? `Remove stale identity ${finding.identity}` : `Narrow the grants of ${finding.identity}`
      const body = finding.action === 'retire' ? describeRetirement(finding) : describe(finding, usage.since, bundle.settings.stale.inactiveDays)
      const change: ProposedChange = { identity: finding.identity, title, body, files, reviewers: reviewers(bundle, finding), ...(finding.action === 'retire' ? { branch: rotationBranch(finding.identity) } : {}) }
      const { outcome, number } = await proposeChange(ctx, { branch, sha: baseSha, treeSha: tree.treeSha }, change, options.dryRun ?? false)
      if (outcome === 'created' || outcome === 'updated' || outcome === 'would-create' || outcome === 'would-update') proposed++
      results.push({ finding, outcome, ...(number === undefined ? {} : { number }) })
    }
  }
  ctx.log.info('sweep finished', { base: baseSha, findings: findings.length, proposed, dryRun: options.dryRun ?? false })
  return { base: baseSha, results, warnings }
}

export function formatSweep(report: SweepReport): string {
  const lines = report.results.map((r) => {
    const pr = r.number === undefined ? '' : ` #${r.number}`
    return `${r.outcome}${pr}  ${r.finding.action} ${r.finding.identity}: ${r.finding.reasons.join('; ')}${r.note ? ` [${r.note}]` : ''}`
  })
  if (lines.length === 0) lines.push('no stale identities')
  return [...lines, ...report.warnings.map((w) => `warning: ${w}`)].join('\n')
}
