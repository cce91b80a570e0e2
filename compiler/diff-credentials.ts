// How an identity's credentials changed, for the permission diff. Workload
// identity bindings are compared by what they admit, not by their text: a
// binding no binding of the base covers lets new workloads act as the
// identity without any secret, which is high risk on an existing identity.
// Static credentials are summarised: a rotation, keys added or retired.
import { canonicalJson } from '../engine/bundle-integrity.js'
import type { BundleIdentity, OidcBinding } from '../engine/types.js'
import { bindingCovers, describeBinding } from '../engine/workload.js'
import type { PermissionChange } from './diff.js'

type Credentials = BundleIdentity['credentials']

export function diffCredentials(identity: string, base: Credentials | undefined, head: Credentials, changes: PermissionChange[]): void {
  diffBindings(identity, base?.oidc ?? [], head.oidc ?? [], base === undefined, changes)
  if (!base) return
  const staticOf = (c: Credentials) => canonicalJson({ tokens: c.tokens ?? [], sshKeys: c.sshKeys })
  if (staticOf(base) === staticOf(head)) return
  const baseTokens = new Set((base.tokens ?? []).map((t) => t.sha256))
  const baseKeys = new Set(base.sshKeys.map((k) => k.key))
  const newTokens = (head.tokens ?? []).filter((t) => !baseTokens.has(t.sha256)).length
  const newKeys = head.sshKeys.filter((k) => !baseKeys.has(k.key)).length
  const retiring = [...(head.tokens ?? []), ...head.sshKeys].filter((c) => c.notAfter).map((c) => c.notAfter!).sort()
  const parts = [
    newTokens ? (baseTokens.size > 0 ? 'token rotated' : 'token added') : '',
    newKeys ? `${newKeys} SSH key${newKeys === 1 ? '' : 's'} added` : '',
    retiring.length ? `old credentials valid until ${retiring[0]}` : '',
  ].filter(Boolean)
  const adds = newTokens + newKeys > 0
  changes.push({
    kind: 'credentials-changed', identity, detail: parts.length ? parts.join('; ') : 'credentials changed',
    risk: adds ? 'medium' : 'low', why: adds ? 'a new credential can authenticate' : 'removes or retires credentials',
  })
}

function diffBindings(identity: string, base: readonly OidcBinding[], head: readonly OidcBinding[], newIdentity: boolean, changes: PermissionChange[]): void {
  for (const binding of head) {
    if (base.some((b) => bindingCovers(b, binding))) continue
    // The binding it grew from, if any: same issuer and audience, and it admits all the old one did.
    const grown = base.find((b) => bindingCovers(binding, b))
    if (grown) {
      changes.push({ kind: 'binding-widened', identity, detail: `accepts tokens of ${describeBinding(binding)}; was ${describeBinding(grown)}`, risk: 'high', why: 'more workloads can act as this identity, with no secret' })
    } else if (newIdentity) {
      changes.push({ kind: 'binding-added', identity, detail: `accepts tokens of ${describeBinding(binding)}`, risk: 'medium', why: 'new credential: a workload identity binding' })
    } else {
      changes.push({ kind: 'binding-added', identity, detail: `accepts tokens of ${describeBinding(binding)}`, risk: 'high', why: 'new workloads can act as this existing identity, with no secret' })
    }
  }
  for (const binding of base) {
    // Still admitted in full (perhaps by a wider binding, reported above).
    if (head.some((b) => bindingCovers(b, binding))) continue
    const narrowed = head.find((b) => bindingCovers(binding, b))
    changes.push(
      narrowed
        ? { kind: 'binding-narrowed', identity, detail: `accepts tokens of ${describeBinding(narrowed)}; was ${describeBinding(binding)}`, risk: 'low', why: 'fewer workloads can act as this identity' }
        : { kind: 'binding-removed', identity, detail: `no longer accepts tokens of ${describeBinding(binding)}`, risk: 'low', why: 'fewer workloads can act as this identity' },
    )
  }
}
