// Credentials due for rotation, a finder of the sweep: an identity whose
// oldest token or SSH key in force was created longer ago than
// `stale.rotateAfterDays` is reported (rotating needs a person: the new token
// has to reach the job), and an identity holding credentials past their
// `notAfter` gets a `retire` proposal removing them, which finishes a
// rotation. The age is known only where the repository says when a
// credential was created (`created`, which `gatehouse identity new` and
// `rotate` write).
import type { BundleIdentity, CredentialDates } from '../../engine/types.js'
import { DAY } from './evidence.js'
import type { Finder, Finding } from './findings.js'
import { sweepMarker } from './propose.js'

const day = (iso: string) => iso.slice(0, 10)

export const rotation: Finder = async ({ bundle, now }) => {
  const found: Finding[] = []
  const { rotateAfterDays } = bundle.settings.stale
  for (const identity of Object.values(bundle.identities).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const tokens = identity.credentials.tokens ?? []
    const all: Array<CredentialDates & { what: string }> = [...tokens.map((t) => ({ ...t, what: 'token' })), ...identity.credentials.sshKeys.map((k) => ({ ...k, what: 'SSH key' }))]
    const past = (c: CredentialDates) => c.notAfter !== undefined && Date.parse(c.notAfter) < now.getTime()
    // Tokens past their notAfter go only while another one is in force: removing the last is not finishing a rotation (removeExpiredCredentials keeps them too).
    const retired = all.filter((c) => past(c) && (c.what !== 'token' || tokens.some((t) => !past(t))))
    if (retired.length > 0) {
      for (const c of retired) found.push({ identity: identity.name, action: 'retire', kind: 'past-not-after', reason: `a ${c.what} past its notAfter (${c.notAfter}) is still listed` })
      continue
    }
    if (!rotateAfterDays) continue
    const oldest = all.filter((c) => !past(c) && c.created && !Number.isNaN(Date.parse(c.created))).sort((a, b) => Date.parse(a.created!) - Date.parse(b.created!))[0]
    const age = oldest ? Math.floor((now.getTime() - Date.parse(oldest.created!)) / DAY) : 0
    if (oldest && age > rotateAfterDays) {
      const how = oldest.what === 'token' ? `\`gatehouse identity rotate ${identity.name} --grace 7d\`` : `\`gatehouse identity rotate ${identity.name} --ssh-key NEW.pub --grace 7d\``
      found.push({ identity: identity.name, action: 'report', kind: 'rotation-due', reason: `its ${oldest.what} was created on ${day(oldest.created!)}, ${age} days ago (rotate after ${rotateAfterDays}): ${how}` })
    }
  }
  return found
}

/** The description of a `retire` proposal; the sweep keeps it in step with the findings like any other. */
export function describeRetirement(identity: BundleIdentity, reasons: Finding[], reports: Finding[]): string {
  return [
    sweepMarker(identity.name, 'retire'),
    `\`${identity.name}\` (owner \`${identity.owner}\`) still lists credentials the gateway no longer accepts:`,
    '',
    ...reasons.map((r) => `- ${r.reason}`),
    ...reports.map((r) => `- ${r.reason} (reported only)`),
    '',
    'This pull request removes them, which finishes the rotation; nothing that works today stops working.',
    'The bot validated and tested the result before opening this pull request, and closes it, saying why, when the evidence no longer holds.',
  ].join('\n')
}
