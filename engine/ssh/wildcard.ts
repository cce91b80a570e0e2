// Wildcard matching for one string (an argument, a path segment, a host
// label): `*` matches any run of characters, `?` exactly one character (a
// Unicode code point, so an emoji is one character), everything else itself.
//
// No RegExp is ever built from pattern text, and there is no backtracking
// across stars: the pattern is cut at its stars into segments, the first is
// anchored at the start, the last at the end, and each middle segment is
// placed at its leftmost occurrence after the previous one. That greedy
// placement is exact for star-separated segments (a later placement can only
// leave less room for the rest), so each segment is searched once: a literal
// segment with String#indexOf, one with `?` by trying each start.
// Cost: O(text × segment length) at worst, for any number of stars.

export const STAR: unique symbol = Symbol('*')
export const ONE: unique symbol = Symbol('?')
export type WildcardToken = string | typeof STAR | typeof ONE

type Piece = string | typeof ONE
type Segment = Piece[]

export type StringMatcher = (text: string) => boolean

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff

/** Width in code units of the character at `pos` (a surrogate pair is one character). */
function widthAt(s: string, pos: number, limit: number): number {
  return pos + 1 < limit && isHigh(s.charCodeAt(pos)) && isLow(s.charCodeAt(pos + 1)) ? 2 : 1
}

function widthBefore(s: string, end: number, floor: number): number {
  return end - 2 >= floor && isLow(s.charCodeAt(end - 1)) && isHigh(s.charCodeAt(end - 2)) ? 2 : 1
}

/** Where `seg` placed at `pos` ends, or -1. */
function matchForward(seg: Segment, s: string, pos: number, limit: number): number {
  for (const piece of seg) {
    if (piece === ONE) {
      if (pos >= limit) return -1
      pos += widthAt(s, pos, limit)
    } else {
      if (pos + piece.length > limit || !s.startsWith(piece, pos)) return -1
      pos += piece.length
    }
  }
  return pos
}

/** Where `seg` ending at `end` starts, or -1. */
function matchBackward(seg: Segment, s: string, end: number, floor: number): number {
  for (let k = seg.length - 1; k >= 0; k--) {
    const piece = seg[k]!
    if (piece === ONE) {
      if (end <= floor) return -1
      end -= widthBefore(s, end, floor)
    } else {
      if (end - piece.length < floor || !s.startsWith(piece, end - piece.length)) return -1
      end -= piece.length
    }
  }
  return end
}

/** End of the leftmost placement of `seg` within [from, limit], or -1. */
function findLeftmost(seg: Segment, s: string, from: number, limit: number): number {
  const head = seg[0]!
  if (typeof head === 'string') {
    // invariant: `head` is well-formed text, so indexOf never lands inside a surrogate pair.
    for (let at = from; ; ) {
      const idx = s.indexOf(head, at)
      if (idx < 0 || idx + head.length > limit) return -1
      const end = matchForward(seg, s, idx, limit)
      if (end >= 0) return end
      at = idx + 1
    }
  }
  for (let at = from; at < limit; at += widthAt(s, at, limit)) {
    const end = matchForward(seg, s, at, limit)
    if (end >= 0) return end
  }
  return -1
}

/** Compiles tokens (literal text, {@link STAR}, {@link ONE}) into a matcher. */
export function compileWildcard(tokens: readonly WildcardToken[]): StringMatcher {
  const segments: Segment[] = [[]]
  for (const token of tokens) {
    const current = segments[segments.length - 1]!
    if (token === STAR) {
      // Consecutive stars are one star.
      if (!(current.length === 0 && segments.length > 1)) segments.push([])
    } else if (typeof token === 'string') {
      if (token === '') continue
      const last = current[current.length - 1]
      if (typeof last === 'string') current[current.length - 1] = last + token
      else current.push(token)
    } else current.push(token)
  }
  if (segments.length === 1) {
    const only = segments[0]!
    if (only.length === 0) return (s) => s === ''
    if (only.length === 1 && typeof only[0] === 'string') {
      const literal = only[0]
      return (s) => s === literal
    }
    return (s) => matchForward(only, s, 0, s.length) === s.length
  }
  const first = segments[0]!
  const last = segments[segments.length - 1]!
  const middle = segments.slice(1, -1)
  if (first.length === 0 && last.length === 0 && middle.length === 0) return () => true
  return (s) => {
    let pos = matchForward(first, s, 0, s.length)
    if (pos < 0) return false
    const end = matchBackward(last, s, s.length, pos)
    if (end < 0) return false
    for (const seg of middle) {
      pos = findLeftmost(seg, s, pos, end)
      if (pos < 0) return false
    }
    return true
  }
}

