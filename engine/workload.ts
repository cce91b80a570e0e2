// Workload identity bindings: which OIDC tokens an identity accepts (an
// issuer, an audience, and claims that must match exact values or `*`
// globs), and how such a binding reads to a person. No I/O: the compiler
// checks bindings with these functions and the gateway matches verified
// tokens with the same ones, so both mean the same thing by "matches".
import { globMatch } from './glob.js'
import type { Bundle, OidcBinding } from './types.js'

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com'

/** Claims that say which workload a token is for; a binding must pin at least one of them. */
export function pinningClaims(issuer: string): readonly string[] {
  return issuer === GITHUB_ACTIONS_ISSUER ? ['repository', 'repository_id', 'sub', 'job_workflow_ref'] : ['sub']
}

/** Whether a claim pattern matches a claim value; only string claims can match. */
export function claimMatches(pattern: string, value: unknown): boolean {
  return typeof value === 'string' && (pattern.includes('*') ? globMatch(pattern, value) : pattern === value)
}

function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
}

/** Whether a token's verified claims satisfy a binding. */
export function bindingMatches(binding: OidcBinding, claims: Readonly<Record<string, unknown>>): boolean {
  if (claims.iss !== binding.issuer || !audiences(claims.aud).includes(binding.audience)) return false
  for (const [name, pattern] of Object.entries(binding.claims)) if (!claimMatches(pattern, claims[name])) return false
  return true
}

/** The identities one of whose bindings a token's verified claims satisfy. */
export function identitiesForClaims(bundle: Bundle, claims: Readonly<Record<string, unknown>>): string[] {
  const found: string[] = []
  for (const identity of Object.values(bundle.identities)) {
    if ((identity.credentials.oidc ?? []).some((b) => bindingMatches(b, claims))) found.push(identity.name)
  }
  return found
}

/**
 * Whether some string matches both `*` globs: a search over pairs of
 * positions in the two patterns (the product of their automata), so
 * quadratic in their lengths at worst.
 */
export function globsIntersect(a: string, b: string): boolean {
  const seen = new Set<number>()
  const stack: Array<[number, number]> = [[0, 0]]
  const width = b.length + 1
  while (stack.length > 0) {
    const [i, j] = stack.pop()!
    if (seen.has(i * width + j)) continue
    seen.add(i * width + j)
    if (i === a.length && j === b.length) return true
    const next = (x: number, y: number) => stack.push([x, y])
    // A star may match nothing.
    if (a[i] === '*') next(i + 1, j)
    if (b[j] === '*') next(i, j + 1)
    // One character both sides accept.
    if (i < a.length && j < b.length) {
      if (a[i] !== '*' && b[j] !== '*') {
        if (a[i] === b[j]) next(i + 1, j + 1)
      } else if (a[i] !== '*') next(i + 1, j)
      else if (b[j] !== '*') next(i, j + 1)
    }
  }
  return false
}

/** Whether one token could satisfy both bindings: claims only one of them constrains can take any value. */
export function bindingsOverlap(a: OidcBinding, b: OidcBinding): boolean {
  if (a.issuer !== b.issuer || a.audience !== b.audience) return false
  for (const [name, pattern] of Object.entries(a.claims)) {
    const other = b.claims[name]
    if (other !== undefined && !globsIntersect(pattern, other)) return false
  }
  return true
}

/** Whether every token `inner` accepts, `outer` accepts too (a change from `outer` to `inner` does not widen). */
export function bindingCovers(outer: OidcBinding, inner: OidcBinding): boolean {
  if (outer.issuer !== inner.issuer || outer.audience !== inner.audience) return false
  return Object.entries(outer.claims).every(([name, pattern]) => {
    const narrower = inner.claims[name]
    // A star in `inner` stands for arbitrary text, which only a star in `outer` can absorb.
    return narrower !== undefined && (pattern === narrower || (pattern.includes('*') && globMatch(pattern, narrower)))
  })
}

/** A binding in words: "a workflow of acme/orders on refs/heads/main, environment production". */
export function describeBinding(binding: OidcBinding): string {
  const claims = { ...binding.claims }
  const take = (name: string): string | undefined => {
    const value = claims[name]
    delete claims[name]
    return value
  }
  let words: string
  if (binding.issuer === GITHUB_ACTIONS_ISSUER) {
    const repository = take('repository')
    const parts = [repository ? `a workflow of ${repository}` : 'a GitHub Actions workflow']
    const ref = take('ref')
    if (ref) parts[0] += ` on ${ref}`
    const environment = take('environment')
    if (environment) parts.push(`environment ${environment}`)
    const workflow = take('workflow')
    if (workflow) parts.push(`workflow ${workflow}`)
    words = parts.join(', ')
  } else {
    const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub ?? '')
    if (account) {
      take('sub')
      words = `the Kubernetes service account ${account[2]} in namespace ${account[1]} of ${binding.issuer}`
    } else words = `a workload of ${binding.issuer}`
  }
  const rest = Object.entries(claims).map(([name, value]) => `${name} ${value}`)
  return [words, ...rest].join(', ') + ` (audience ${binding.audience})`
}
