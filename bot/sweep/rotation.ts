// Credentials due for rotation, for the sweep: an identity whose oldest token
// or SSH key in force was created longer ago than `stale.rotateAfterDays` is
// reported (rotating needs a person: the new token has to reach the job), and
// an identity holding credentials past their `notAfter` gets a pull request
// removing them, which finishes a rotation. The age is known only where the
// repository says when a credential was created (`created`, which
// `gatehouse identity new` and `rotate` write).
import type { Bundle, CredentialDates } from '../../engine/types.js'
import type { StaleIdentity } from './findings.js'

const DAY = 86_400_000
const day = (iso: string) => iso.slice(0, 10)

export const rotationBranch = (identity: string) => `gatehouse/rotate/${identity}`

export function findRotations(bundle: Bundle, now: Date): StaleIdentity[] {
  const found: StaleIdentity[] = []
  const rotateAfterDays = bundle.settings.stale.rotateAfterDays
  for (const identity of Object.values(bundle.identities).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const tokens = identity.credentials.tokens ?? []
    const all: Array<CredentialDates & { what: string }> = [...tokens.map((t) => ({ ...t, what: 'token' })), ...identity.credentials.sshKeys.map((k) => ({ ...k, what: 'SSH key' }))]
    const past = (c: CredentialDates) => c.notAfter !== undefined && Date.parse(c.notAfter) < now.getTime()
    const base = { identity: identity.name, owner: identity.owner, lastSeen: null, policies: [], ownerPresent: true }
    // The last token stays even when past its notAfter: removing it is not finishing a rotation.
    const retired = all.filter((c) => past(c) && !(c.what === 'token' && tokens.length === 1))
    if (retired.length > 0) {
      found.push({ ...base, action: 'retire', reasons: retired.map((c) => `a ${c.what} past its notAfter (${c.notAfter}) is still listed`) })
      continue
    }
    if (!rotateAfterDays) continue
    const oldest = all.filter((c) => !past(c) && c.created && !Number.isNaN(Date.parse(c.created))).sort((a, b) => Date.parse(a.created!) - Date.parse(b.created!))[0]
    const age = oldest ? Math.floor((now.getTime() - Date.parse(oldest.created!)) / DAY) : 0
    if (oldest && age > rotateAfterDays) {
      const how = oldest.what === 'token' ? `\`gatehouse identity rotate ${identity.name} --grace 7d\`` : `\`gatehouse identity rotate ${identity.name} --ssh-key NEW.pub --grace 7d\``
      found.push({ ...base, action: 'report', reasons: [`its ${oldest.what} was created on ${day(oldest.created!)}, ${age} days ago (rotate after ${rotateAfterDays}): ${how}`] })
    }
  }
  return found
}

export function describeRetirement(finding: StaleIdentity): string {
  return [
    `<!-- gatehouse:rotate:${finding.identity} -->`,
    `\`${finding.identity}\` (owner \`${finding.owner}\`) still lists credentials the gateway no longer accepts:`,
    '',
    ...finding.reasons.map((r) => `- ${r}`),
    '',
    'This pull request removes them, which finishes the rotation; nothing that works today stops working.',
  ].join('\n')
}
