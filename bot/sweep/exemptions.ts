// Identities the sweep must leave alone, kept in the policy repository at
// `.gatehouse/exemptions.yaml` (outside what the compiler reads), each with a
// reason and an expiry date:
//
//   exemptions:
//     - identity: quarterly-export
//       reason: runs once a quarter; next run in January
//       expires: 2027-02-01
//
// An entry without a reason or a valid expiry, or past its expiry, exempts
// nothing (and is reported), so an exemption can never be forgotten forever.
import { parse } from 'yaml'

export const EXEMPTIONS_FILE = '.gatehouse/exemptions.yaml'

export interface Exemption {
  identity: string
  reason: string
  expires: string
}

export function parseExemptions(text: string | undefined, today: string): { exemptions: Map<string, Exemption>; warnings: string[] } {
  const exemptions = new Map<string, Exemption>()
  const warnings: string[] = []
  if (text === undefined) return { exemptions, warnings }
  let raw: unknown
  try {
    raw = parse(text, { maxAliasCount: 10 })
  } catch {
    return { exemptions, warnings: [`${EXEMPTIONS_FILE} is not valid YAML; no exemption applies`] }
  }
  const list = (raw as { exemptions?: unknown } | null)?.exemptions
  if (!Array.isArray(list)) return { exemptions, warnings: [`${EXEMPTIONS_FILE} has no \`exemptions\` list; no exemption applies`] }
  list.forEach((entry: unknown, i) => {
    const e = (entry ?? {}) as Record<string, unknown>
    const expires = e.expires instanceof Date ? e.expires.toISOString().slice(0, 10) : e.expires
    if (typeof e.identity !== 'string' || typeof e.reason !== 'string' || e.reason.trim() === '' || typeof expires !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(expires)) {
      warnings.push(`${EXEMPTIONS_FILE}: entry ${i + 1} needs identity, reason and expires (YYYY-MM-DD); it exempts nothing`)
    } else if (expires < today) {
      warnings.push(`${EXEMPTIONS_FILE}: the exemption of \`${e.identity}\` expired on ${expires}`)
    } else exemptions.set(e.identity, { identity: e.identity, reason: e.reason.trim(), expires })
  })
  return { exemptions, warnings }
}
