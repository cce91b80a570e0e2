// Credentials that are legal YAML but unsafe or unusable: workload identity
// bindings that any repository's workflow (or any workload of the issuer)
// could satisfy, bindings two identities share, and a rotated token whose
// two verifiers cannot both be checked in one SCRAM exchange.
import { bindingsOverlap, describeBinding, GITHUB_ACTIONS_ISSUER, pinningClaims } from '../engine/workload.js'
import type { OidcBinding } from '../engine/types.js'
import type { Diagnostic, Span } from './diagnostics.js'
import type { Model } from './resolve.js'

export function checkCredentials(model: Model): Diagnostic[] {
  return [...bindingPins(model), ...overlappingBindings(model), ...rotatedTokens(model)]
}

type Pin = { pins: true; broad?: string } | { pins: false; why: string }

/**
 * Whether a pattern for a pinning claim names one workload. On GitHub the
 * owner must be literal: anyone can create a repository called `orders`, so
 * `*\/orders` pins nothing. A `*` after the owner still admits every matching
 * repository of that owner: legal, but a finding.
 */
export function pinOf(issuer: string, claim: string, pattern: string): Pin {
  const star = pattern.indexOf('*')
  if (star < 0) return { pins: true }
  if (issuer === GITHUB_ACTIONS_ISSUER) {
    const owner = claim === 'sub' ? /^repo:[^*/:]+\//.exec(pattern) : claim === 'repository_id' ? null : /^[^*/]+\//.exec(pattern)
    if (!owner) return { pins: false, why: claim === 'repository_id' ? '`repository_id` must be an exact value' : `\`${pattern}\` does not fix the repository owner` }
    const repository = claim === 'sub' ? pattern.slice(owner[0].length).split(':')[0]! : pattern.slice(owner[0].length).split('/')[0]!
    return repository.includes('*') ? { pins: true, broad: `\`${claim}: ${pattern}\` admits every repository of ${owner[0].replace(/^repo:/, '').slice(0, -1)} whose name matches` } : { pins: true }
  }
  // Every Kubernetes service account's subject starts the same way: the namespace must be fixed.
  const kubernetes = pattern.startsWith('system:serviceaccount:')
  if (star === 0 || (kubernetes && !/^system:serviceaccount:[^*:]+:/.test(pattern))) return { pins: false, why: `\`${pattern}\` matches any ${kubernetes ? 'namespace' : claim}` }
  return { pins: true, broad: `\`${claim}: ${pattern}\` admits every workload whose ${claim} matches` }
}

function pinsOf(binding: OidcBinding): Array<{ claim: string; pin: Pin }> {
  return pinningClaims(binding.issuer)
    .filter((c) => binding.claims[c] !== undefined)
    .map((c) => ({ claim: c, pin: pinOf(binding.issuer, c, binding.claims[c]!) }))
}

function bindingPins(model: Model): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  forEachBinding(model, (identity, binding, i, locate) => {
    const wanted = pinningClaims(binding.issuer)
    const pins = pinsOf(binding)
    const pinned = pins.filter((p) => p.pin.pins)
    if (pinned.length === 0) {
      const why = pins.map((p) => (p.pin.pins ? '' : p.pin.why)).filter(Boolean)
      diagnostics.push({
        ...locate(['credentials', 'oidc', i, 'claims']),
        code: 'credential.unpinned_binding',
        severity: 'error',
        message: `identity \`${identity}\` would accept a token of any workload of ${binding.issuer}${why.length ? `: ${why.join('; ')}` : ''}`,
        help: `pin the workload with ${wanted.map((c) => `\`${c}\``).join(' or ')}${binding.issuer === GITHUB_ACTIONS_ISSUER ? ', e.g. `repository: acme/orders`' : ', e.g. `sub: system:serviceaccount:NAMESPACE:NAME`'}`,
      })
      return
    }
    // Broad only when nothing pins exactly: one exact pinning claim narrows the rest.
    if (pinned.every((p) => p.pin.pins && p.pin.broad)) {
      const first = pinned[0]!
      diagnostics.push({
        ...locate(['credentials', 'oidc', i, 'claims', first.claim]),
        code: 'lint.broad_binding',
        severity: 'warning',
        message: `identity \`${identity}\`: ${(first.pin as { broad: string }).broad}`,
        help: 'bind each workload to its own identity with an exact value, so the audit trail and the permissions say which one acted',
      })
    }
  })
  return diagnostics
}

function overlappingBindings(model: Model): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  const all: Array<{ identity: string; binding: OidcBinding; i: number; locate: Locate }> = []
  // An unpinned binding is an error of its own; it would overlap nearly everything.
  forEachBinding(model, (identity, binding, i, locate) => pinsOf(binding).some((p) => p.pin.pins) && all.push({ identity, binding, i, locate }))
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const x = all[a]!
      const y = all[b]!
      if (x.identity === y.identity || !bindingsOverlap(x.binding, y.binding)) continue
      const where = model.origins.identities.get(x.identity)!
      diagnostics.push({
        ...y.locate(['credentials', 'oidc', y.i]),
        code: 'credential.overlapping_bindings',
        severity: 'error',
        message: `one token could satisfy both \`${y.identity}\`, ${describeBinding(y.binding)}, and \`${x.identity}\` (${where.file}:${where.locate(['credentials', 'oidc', x.i]).line})`,
        help: 'make the bindings differ in a claim both of them constrain, so every token selects one identity',
      })
    }
  }
  return diagnostics
}

/** Rotated tokens share salt and iteration count: SCRAM tells the client those before it proves which token it has. */
function rotatedTokens(model: Model): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  for (const identity of Object.values(model.identities)) {
    const tokens = identity.credentials.tokens ?? []
    if (tokens.length < 2) continue
    const saltOf = (scram: string) => scram.slice(0, scram.lastIndexOf('$'))
    if (saltOf(tokens[0]!.scram) === saltOf(tokens[1]!.scram)) continue
    diagnostics.push({
      ...model.origins.identities.get(identity.name)!.locate(['credentials', 'token', 1, 'scram']),
      code: 'credential.rotation_mismatch',
      severity: 'error',
      message: `the two token verifiers of \`${identity.name}\` have different salts or iteration counts, so a SCRAM login could check only one of them`,
      help: 'make the new verifier with `gatehouse identity rotate`, which reuses the salt and iteration count',
    })
  }
  return diagnostics
}

type Locate = (path: Array<string | number>) => Span

function forEachBinding(model: Model, visit: (identity: string, binding: OidcBinding, index: number, locate: Locate) => void): void {
  for (const identity of Object.values(model.identities)) {
    const doc = model.origins.identities.get(identity.name)!
    const locate: Locate = (path) => doc.locate(path)
    ;(identity.credentials.oidc ?? []).forEach((binding, i) => visit(identity.name, binding, i, locate))
  }
}
