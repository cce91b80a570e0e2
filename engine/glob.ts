// Name globs for tables and functions (`public.*`, `pg_catalog.pg_ls_*`):
// `*` matches any run of characters. Matching is iterative with one
// backtrack point, so it stays linear-ish on any input a client can send.

export type NameMatcher = (name: string) => boolean

export function compileNameGlob(pattern: string): NameMatcher {
  if (pattern === '*') return () => true
  if (!pattern.includes('*')) return (name) => name === pattern
  return (name) => globMatch(pattern, name)
}

/** Classic wildcard matching with a single star backtrack point: O(pattern × text) worst case, no recursion. */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let star = -1
  let starText = 0
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++
      t++
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++
      starText = t
    } else if (star >= 0) {
      p = star + 1
      t = ++starText
    } else return false
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

/** Whether every name `inner` matches is also matched by `outer` (used to find shadowed rules). */
export function globCovers(outer: string, inner: string): boolean {
  // A star in `inner` stands for arbitrary text, which only a star in `outer` can absorb:
  // matching `outer` against `inner` read literally gives exactly that.
  return outer === '*' || globMatch(outer, inner)
}
