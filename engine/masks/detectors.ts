// Content detectors: find sensitive values (card numbers, tokens, keys, ...)
// inside arbitrary text. One scanner serves whole values (`findSensitive`)
// and the streaming masker (`scanText` with `final: false`), so a stream and
// the same bytes masked at once always agree.
//
// How it stays linear (hand-written matchers, no regular expressions):
// - One left-to-right pass over bytes. A 256-entry table per detector set
//   says which bytes may start a candidate; the rest of a word is skipped in
//   a tight loop, since no candidate starts inside a word.
// - A candidate is only tried where it can begin: after a boundary (the
//   previous character cannot be part of the same token), so inside a long
//   run of digits or base64 only the run's first position is tried.
// - Every matcher reads a bounded number of characters (at most 41 for a card,
//   320 for an email, 8 KiB for a JWT), except the private-key footer search,
//   whose work is paid for by the match it produces (the match covers what
//   was searched, and the scan resumes after it).
// - A JWT's later segments are read again only as the first, second or third
//   segment of the (at most five) candidates that can contain them.
//
// Every detector matches ASCII only, and the scanner reads bytes: a string is
// scanned as its UTF-8 (one native encode) and the offsets mapped back. Any
// byte >= 0x80 is never part of a token, so multi-byte characters and binary
// data simply pass between matches. One kind of array also keeps the hot loop
// monomorphic, which V8 rewards.
import { Buffer } from 'node:buffer'
import { DETECTORS, type Detector } from '../types.js'

export interface Match {
  /** The detector of the match; of a union, the one that starts first. */
  detector: Detector
  /** Offset of the first character (a code unit for strings, a byte for bytes). */
  start: number
  /** Offset just past the last character. */
  end: number
  /**
   * Present on a union: matches of different detectors (or of one detector,
   * neither containing the other) that overlap, masked as one span. Their
   * detectors, in order of start. Masking each alone would show one through
   * the other's partial form: `c***@4111111111111111.example.com`.
   */
  union?: readonly Detector[]
}

/**
 * A JWT longer than this (all segments) is not detected. Real ones are far
 * smaller (servers refuse header lines over 8 KiB); the bound is what lets a
 * stream hold back an unfinished one.
 */
export const JWT_MAX_LENGTH = 8192
/**
 * A private-key block with no END line within this many bytes (UTF-8 bytes for
 * a string too) of its BEGIN line ends here,
 * so a stray BEGIN line cannot swallow the rest of a session. The largest
 * real keys (RSA-16384, PGP blocks with subkeys) are under 20 KiB.
 */
export const PRIVATE_KEY_MAX_LENGTH = 64 * 1024
const PEM_LABEL_MAX = 64
const EMAIL_LOCAL_MAX = 64
const EMAIL_DOMAIN_MAX = 253
const EMAIL_LABEL_MAX = 63
const GITHUB_CLASSIC_MIN = 36
const GITHUB_CLASSIC_MAX = 251
const GITHUB_PAT_MIN = 22
const GITHUB_PAT_MAX = 244
const GATEHOUSE_TOKEN_LENGTH = 43

/**
 * The longest tail the streaming masker can hold back while a candidate is
 * undecided (a JWT at its limit plus its boundary). Private keys are not held
 * back: the masker suppresses them instead.
 */
export const MAX_CANDIDATE_LENGTH = JWT_MAX_LENGTH + 2

// ---------------------------------------------------------------------------
// Detector sets: a bitmask over DETECTORS.

export type DetectorSet = number

const BIT = Object.fromEntries(DETECTORS.map((d, i) => [d, 1 << i])) as Record<Detector, number>
const B_CARD = BIT['credit-card']
const B_EMAIL = BIT.email
const B_AWS = BIT['aws-access-key']
const B_GITHUB = BIT['github-token']
const B_GATEHOUSE = BIT['gatehouse-token']
const B_KEY = BIT['private-key']
const B_JWT = BIT.jwt
const B_IBAN = BIT.iban
const B_SSN = BIT['us-ssn']

export function detectorSet(detectors: Iterable<Detector>): DetectorSet {
  let set = 0
  for (const d of detectors) {
    const bit = BIT[d]
    // invariant: only known detectors get this far (the bundle schema enumerates them).
    if (bit === undefined) throw new TypeError(`unknown detector \`${String(d)}\``)
    set |= bit
  }
  return set
}

// ---------------------------------------------------------------------------
// Character classes (ASCII only; anything >= 128 has no class).

const WORD = 1 // [A-Za-z0-9_]: a token continues through these
const TOKEN = 2 // [A-Za-z0-9_-]: base64url
const LOCAL = 4 // [A-Za-z0-9._%+-]: email local part
const DOMAIN = 8 // [A-Za-z0-9-]: a domain label
const DIGIT = 16
const UPPER = 32
const ALPHA = 64
const ALNUM = 128

// 256 entries: the scanner reads bytes, and a byte >= 0x80 has no class.
const CLS = new Uint8Array(256)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  const digit = ch >= '0' && ch <= '9'
  const upper = ch >= 'A' && ch <= 'Z'
  const lower = ch >= 'a' && ch <= 'z'
  const alnum = digit || upper || lower
  let k = 0
  if (alnum || ch === '_') k |= WORD
  if (alnum || ch === '_' || ch === '-') k |= TOKEN
  if (alnum || '._%+-'.includes(ch)) k |= LOCAL
  if (alnum || ch === '-') k |= DOMAIN
  if (digit) k |= DIGIT
  if (upper) k |= UPPER
  if (upper || lower) k |= ALPHA
  if (alnum) k |= ALNUM
  CLS[c] = k
}

function cls(c: number): number {
  return CLS[c]!
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

// Matcher results: an end offset (>= 0), or one of these.
/** For checks that only answer yes or no (boundaries, literals). */
const YES = 1
const NO = -1
/** Undecided: the text ended before the matcher could tell (only when `final` is false). */
const MORE = -2

// ---------------------------------------------------------------------------
// Triggers: which characters may start a candidate, per detector set.

/** Not a trigger, and not a word character. */
const T_NONE = 0
/** Not a trigger, but a word character: the rest of the word is skipped. */
const T_WORD = 1
const T_DIGIT = 2
const T_UPPER = 3
const T_G = 4
const T_E = 5
const T_DASH = 6
const T_AT = 7

const triggerTables = new Map<DetectorSet, Uint8Array>()

function triggerTable(set: DetectorSet): Uint8Array {
  let table = triggerTables.get(set)
  if (table) return table
  table = new Uint8Array(256)
  for (let c = 0; c < 128; c++) table[c] = CLS[c]! & WORD ? T_WORD : T_NONE
  if (set & (B_CARD | B_SSN)) for (let c = 48; c <= 57; c++) table[c] = T_DIGIT
  if (set & B_IBAN) for (let c = 65; c <= 90; c++) table[c] = T_UPPER
  if (set & B_AWS) table[65] = T_UPPER
  if (set & (B_GITHUB | B_GATEHOUSE)) table[103] = T_G
  if (set & B_JWT) table[101] = T_E
  if (set & B_KEY) table[45] = T_DASH
  if (set & B_EMAIL) table[64] = T_AT
  triggerTables.set(set, table)
  return table
}

// ---------------------------------------------------------------------------
// The scanner.

export interface ScanResult {
  /**
   * Sorted, non-overlapping (overlapping matches merged into unions), all
   * ending at or before `stop`; except that a private key may begin inside
   * the match before it (both are masked, the key from its header on).
   */
  matches: Match[]
  /**
   * Everything before `stop` is decided. `stop === text.length` when `final`;
   * otherwise the text from `stop` on may begin a match and must be scanned
   * again, with more text after it, starting at `stop`.
   */
  stop: number
  /** Not final: a private-key header was completed at `start`; the caller suppresses from there. */
  keyOpen: { start: number; headerEnd: number } | null
}

// Where the last email match (or undecided candidate) starts: a side result of matchEmail, read right after the call.
let emailStart = 0

/**
 * Scans `s` from `from` (characters before it are left context only: they
 * decide boundaries but never start a match). With `final` false, the end of
 * `s` is not the end of the text: a candidate reaching it stops the scan.
 */
export function scanText(s: Uint8Array, from: number, set: DetectorSet, final: boolean): ScanResult {
  const n = s.length
  const table = triggerTable(set)
  const matches: Match[] = []
  // An email's local part is read backwards from its `@`, never past the floor: the end of a private key (a key
  // is redacted whole, in a stream as well as at once) or of a union closed at its span limit.
  let floor = from
  // A JWT's later segments also start with `eyJ` (the payload is JSON too): read as another JWT they would only
  // stretch it by a trailing dot. They are not tried again.
  let jwtEnd = from
  let i = from
  while (i < n) {
    const c = s[i]!
    const t = table[c]!
    if (t === T_NONE) {
      // Runs of bytes that can neither start nor continue a value (binary output, padding, blank space) are
      // common: a tight loop over them, eight at a time once a run proves long.
      const runStart = i
      do i++
      while (i < n && table[s[i]!] === T_NONE && i - runStart < 16)
      if (i - runStart === 16) {
        while (i + 8 <= n && (table[s[i]!]! | table[s[i + 1]!]! | table[s[i + 2]!]! | table[s[i + 3]!]! | table[s[i + 4]!]! | table[s[i + 5]!]! | table[s[i + 6]!]! | table[s[i + 7]!]!) === T_NONE) i += 8
      }
      continue
    }
    if (t === T_WORD) {
      i = skipWord(s, i + 1, n)
      continue
    }
    let end = NO
    let start = i
    let detector: Detector = 'credit-card'
    switch (t) {
      case T_DIGIT:
        if (!numberStartOk(s, i)) break
        if (set & B_CARD) {
          end = matchCard(s, i, n, final)
          if (end !== NO) break
        }
        if (set & B_SSN) {
          end = matchSsn(s, i, n, final)
          detector = 'us-ssn'
        }
        break
      case T_UPPER:
        if (i > 0 && cls(s[i - 1]!) & WORD) break
        if (set & B_AWS && c === 65) {
          end = matchAws(s, i, n, final)
          detector = 'aws-access-key'
          if (end !== NO) break
        }
        if (set & B_IBAN) {
          end = matchIban(s, i, n, final)
          detector = 'iban'
        }
        break
      case T_G:
        if (set & B_GITHUB) {
          end = matchGithub(s, i, n, final)
          detector = 'github-token'
          if (end !== NO) break
        }
        if (set & B_GATEHOUSE) {
          end = matchGatehouse(s, i, n, final)
          detector = 'gatehouse-token'
        }
        break
      case T_E:
        if (i < jwtEnd) break
        end = matchJwt(s, i, n, final)
        detector = 'jwt'
        if (end >= 0) jwtEnd = end
        break
      case T_DASH:
        end = matchKeyHeader(s, i, n, final)
        detector = 'private-key'
        if (end >= 0) {
          // The stream masker suppresses from the header on; a value overlapping the header is masked up to it.
          if (!final) return { matches, stop: i, keyOpen: { start: i, headerEnd: end } }
          const limit = Math.min(n, i + PRIVATE_KEY_MAX_LENGTH)
          const footer = findKeyFooter(s, end, limit, true)
          end = footer >= 0 ? footer : limit
        }
        break
      case T_AT:
        end = matchEmail(s, i, n, final, floor)
        start = emailStart
        detector = 'email'
        break
    }
    if (end === NO) {
      i = CLS[c]! & WORD ? skipWord(s, i + 1, n) : i + 1
      continue
    }
    // invariant: MORE only happens when not final, and everything before `start` is decided.
    if (end === MORE) {
      // The run before an undecided candidate may also be an email's local part (`.A|` may become `.AKIA...@x.io`).
      const stop = set & B_EMAIL ? Math.min(start, emailHoldback(s, n, floor)) : start
      return settle(s, matches, stop, floor, set)
    }
    const closed = addMatch(matches, { detector, start, end })
    if (closed >= 0) {
      // The union reached its span limit: it ends here, and the scan goes on after it.
      floor = closed
      i = Math.max(closed, CLS[c]! & WORD ? skipWord(s, i + 1, n) : i + 1)
      continue
    }
    if (detector === 'private-key') {
      // Nothing inside a key is shown, so nothing inside it need be found; and the footer search is paid for
      // only because the scan resumes after the block.
      floor = end
      i = end
      continue
    }
    // Another value may start inside this one (a card in an email's domain) or run on past its end: the scan
    // goes on inside it as after a failed candidate. Still linear: every matcher reads a bounded window.
    i = CLS[c]! & WORD ? skipWord(s, i + 1, n) : i + 1
  }
  let stop = n
  if (!final && set & B_EMAIL) stop = emailHoldback(s, n, floor)
  return settle(s, matches, stop, floor, set)
}

/**
 * The longest stretch from a union's start to the start of a value that can
 * still join it. Values chained so that each overlaps the next (`eyJ...`
 * segments, emails whose local part is the previous domain) would otherwise
 * make one union of a whole stream, held back whole. Past it, the union ends
 * and the scan resumes after it, at once and in a stream alike.
 */
const UNION_SPAN_MAX = MAX_CANDIDATE_LENGTH

/** The longest tail a scan that is not final leaves undecided: a union up to its span limit, then a candidate. */
export const MAX_UNDECIDED_LENGTH = UNION_SPAN_MAX + MAX_CANDIDATE_LENGTH

/**
 * Adds a decided match to `matches` (sorted, non-overlapping), merging it
 * with the unions it overlaps. Returns the end of the last union when the
 * match would have stretched it past UNION_SPAN_MAX (the match is dropped and
 * the union closed there), else -1.
 */
function addMatch(matches: Match[], m: Match): number {
  let last = matches[matches.length - 1]
  if (!last || last.end <= m.start) {
    matches.push(m)
    return -1
  }
  // A private key is kept apart, overlapping the value before it: the stream masker masks that value whole and
  // suppresses from the key's header on, and masking at once must give the same.
  if (m.detector === 'private-key') {
    matches.push(m)
    return -1
  }
  if (m.start - last.start > UNION_SPAN_MAX) return last.end
  // Only an email can start before a union found earlier (its local part is read backwards).
  let merged = m
  while (last && last.end > merged.start) {
    matches.pop()
    merged = joinMatches(last, merged)
    last = matches[matches.length - 1]
  }
  matches.push(merged)
  return -1
}

/** Two overlapping matches as one; a match inside another of the same detector is part of it. */
function joinMatches(a: Match, b: Match): Match {
  const [first, second] = a.start <= b.start ? [a, b] : [b, a]
  if (!first.union && first.detector === second.detector && second.end <= first.end) return first
  const detectors = [...(first.union ?? [first.detector])]
  for (const d of second.union ?? [second.detector]) if (!detectors.includes(d)) detectors.push(d)
  return { detector: first.detector, start: first.start, end: Math.max(first.end, second.end), union: detectors }
}

/**
 * Not final: `stop` moved back to the start of a union that reaches past it
 * (a candidate still undecided may join it), unless the candidate is too far
 * from the union's start to join it (UNION_SPAN_MAX): then the union is
 * settled as it is and `stop` moves to its end, where the next scan begins.
 */
function settle(s: Uint8Array, matches: Match[], stop: number, floor: number, set: DetectorSet): ScanResult {
  for (;;) {
    // An email's local part may reach back over several matches: those are scanned again with it.
    while (matches.length > 0 && matches[matches.length - 1]!.start >= stop) matches.pop()
    const last = matches[matches.length - 1]
    if (!last || last.end <= stop) return { matches, stop, keyOpen: null }
    if (stop - last.start > UNION_SPAN_MAX) return { matches, stop: last.end, keyOpen: null }
    matches.pop()
    // The scan begins again where an email's local part could begin (a scan never reads one back past its start).
    stop = set & B_EMAIL ? localRunStart(s, last.start, floor) : last.start
  }
}

/** Where the run of local-part characters before `at` begins, when that is at most EMAIL_LOCAL_MAX back; else `at`. */
function localRunStart(s: Uint8Array, at: number, floor: number): number {
  let k = at
  while (k > floor && at - k <= EMAIL_LOCAL_MAX && cls(s[k - 1]!) & LOCAL) k--
  return at - k > EMAIL_LOCAL_MAX ? at : k
}

/**
 * The end of the word run from `i`. No position inside a run of word
 * characters can start a candidate: every detector starting with a word character
 * needs a non-word character before it (and `-`, `@` end the run).
 */
function skipWord(s: Uint8Array, i: number, n: number): number {
  while (i < n && CLS[s[i]!]! & WORD) i++
  return i
}

/**
 * All matches of the given detectors in `text`: sorted, non-overlapping.
 * Offsets are bytes for bytes and UTF-16 code units for a string (scanned as
 * its UTF-8 bytes, so both agree on what matches).
 */
export function findSensitive(text: string | Uint8Array, detectors: Iterable<Detector> | DetectorSet): Match[] {
  const set = typeof detectors === 'number' ? detectors : detectorSet(detectors)
  if (set === 0 || !mayContainSensitive(text, set)) return []
  if (typeof text !== 'string') return scanText(asBuffer(text), 0, set, true).matches
  // Short strings are encoded into a reused buffer (the scan is synchronous and keeps no reference).
  let bytes: Buffer
  if (text.length * 3 <= SCRATCH.length) bytes = SCRATCH.subarray(0, SCRATCH.write(text, 0, 'utf8'))
  else bytes = Buffer.from(text, 'utf8')
  const matches = scanText(bytes, 0, set, true).matches
  return bytes.length === text.length ? matches : toCodeUnits(text, bytes, matches)
}

const SCRATCH = Buffer.alloc(48 * 1024)

/** A Buffer over the same memory (the scanner only ever sees one kind of array). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Byte offsets in the UTF-8 of `text` to code-unit offsets, by decoding the
 * stretches between them. A match boundary is an ASCII byte, except where a
 * private key is cut at its cap: that end moves past the cut character.
 */
function toCodeUnits(text: string, bytes: Buffer, matches: Match[]): Match[] {
  const out: Match[] = []
  let byte = 0
  let unit = 0
  for (const m of matches) {
    let end = m.end
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end++
    // A private key may begin inside the match before it.
    if (m.start < byte) unit -= bytes.toString('utf8', m.start, byte).length
    else unit += bytes.toString('utf8', byte, m.start).length
    const start = unit
    unit += bytes.toString('utf8', m.start, end).length
    byte = end
    out.push({ detector: m.detector, start, end: Math.min(unit, text.length) })
  }
  return out
}

/** Bytes as a string with one character per byte (for building replacements; the scanner reads the bytes). */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

// ---------------------------------------------------------------------------
// Pre-check: a necessary condition for any match, made of native substring
// searches (memchr speed) and, for the detectors that need digits, a search
// for two adjacent digits. False means no detector can match; true, "scan".

/** Cards (>= 4), SSNs (3) and IBANs (2 check digits) all contain two adjacent digits. */
const NEEDS_DIGITS = B_CARD | B_SSN | B_IBAN
const LITERALS: ReadonlyArray<[number, readonly string[]]> = [
  [B_EMAIL, ['@']],
  [B_KEY, ['-----BEGIN ']],
  [B_JWT, ['eyJ']],
  [B_GATEHOUSE, ['gth_']],
  [B_AWS, ['AKIA', 'ASIA']],
  [B_GITHUB, ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_']],
]
const TWO_DIGITS = /[0-9]{2}/

export function mayContainSensitive(text: string | Uint8Array, set: DetectorSet): boolean {
  const hay = typeof text === 'string' ? text : asBuffer(text)
  if (set & NEEDS_DIGITS && (typeof hay === 'string' ? TWO_DIGITS.test(hay) : hasTwoDigits(hay))) return true
  for (const [bit, literals] of LITERALS) {
    if (set & bit) for (const literal of literals) if (hay.indexOf(literal) >= 0) return true
  }
  return false
}

/** Looks at every other byte: two adjacent digits always include one at an odd offset. */
function hasTwoDigits(bytes: Uint8Array): boolean {
  const n = bytes.length
  for (let k = 1; k < n; k += 2) {
    if ((bytes[k]! - 48) >>> 0 < 10 && ((bytes[k - 1]! - 48) >>> 0 < 10 || (k + 1 < n && (bytes[k + 1]! - 48) >>> 0 < 10))) return true
  }
  return false
}

// ---------------------------------------------------------------------------
// Numbers: credit cards and US social security numbers.

/**
 * A number may start here: not inside a word, not the fraction or thousands
 * group of a number (`3.1415...`, `1,234`), not a later group of a dashed
 * identifier, not a phone number (`+44...`).
 */
function numberStartOk(s: Uint8Array, i: number): boolean {
  if (i === 0) return true
  const p = s[i - 1]!
  if (cls(p) & WORD) return false
  if (p === 43) return false
  if ((p === 46 || p === 44 || p === 45) && i >= 2 && isDigit(s[i - 2]!)) return false
  return true
}

/** The number ends at `e`: not followed by a word character, nor by `.`, `,` or `-` and a digit. */
function numberEndOk(s: Uint8Array, e: number, n: number, final: boolean): number {
  if (e >= n) return final ? YES : MORE
  const c = s[e]!
  if (cls(c) & WORD) return NO
  if (c === 46 || c === 44 || c === 45) {
    if (e + 1 >= n) return final ? YES : MORE
    if (isDigit(s[e + 1]!)) return NO
  }
  return YES
}

// Scratch for card groups: at most five groups are read.
const groupLen = new Int32Array(6)
const groupEnd = new Int32Array(6)

/**
 * 14 to 19 digits (13 are accepted by the layout but no live network issues
 * them), contiguous or in the layouts cards are printed in (4-4-4-4,
 * 4-4-4-4-3, 4-4-4-1..4, Amex 4-6-5, Diners 4-6-4) with single spaces or
 * dashes; an issuer prefix and length that exist (so epoch milliseconds and
 * most order numbers are out) and a valid Luhn check digit. Reads at most
 * 5 groups of at most 20 digits.
 */
function matchCard(s: Uint8Array, i: number, n: number, final: boolean): number {
  const d0 = s[i]! - 48
  if (d0 < 2 || (d0 > 6 && d0 !== 9)) return NO
  let j = i
  let sep = 0
  let ng = 0
  for (;;) {
    const gs = j
    while (j < n && j - gs < 20 && isDigit(s[j]!)) j++
    const len = j - gs
    if (len < 20 && j >= n && !final) return MORE
    groupLen[ng] = len
    groupEnd[ng] = j
    ng++
    if (ng === 1 && len >= 7) break // contiguous
    // Every grouped layout has 4 or 6 digits in its second group: decide early (dates, versions, UUIDs).
    if (ng === 2 && len !== 4 && len !== 6) return NO
    if (len > 6 || ng === 5) break
    if (j < n) {
      const c = s[j]!
      if ((c === 32 || c === 45) && (sep === 0 || c === sep)) {
        if (j + 1 >= n) {
          if (!final) return MORE
          break
        }
        if (isDigit(s[j + 1]!)) {
          sep = c
          j++
          continue
        }
      }
    }
    break
  }
  if (ng === 1) {
    const len = groupLen[0]!
    if (len < 13 || len > 19) return NO
    const e = groupEnd[0]!
    if (!cardNetworkOk(s, i, len) || !luhnOk(s, i, e)) return NO
    const rb = numberEndOk(s, e, n, final)
    return rb === YES ? e : rb
  }
  // Longest layout first. A shorter one is a card followed by more digits
  // (`4111 1111 1111 1111 123`, a CVV), which only makes sense with spaces: a
  // dashed run is one identifier.
  for (let k = ng; k >= 2; k--) {
    if (k < ng && sep === 45) break
    const total = cardLayoutDigits(k)
    if (total === 0) continue
    const e = groupEnd[k - 1]!
    if (!cardNetworkOk(s, i, total) || !luhnOk(s, i, e)) continue
    if (k === ng) {
      const rb = numberEndOk(s, e, n, final)
      if (rb === MORE) return MORE
      if (rb === NO) continue
    }
    return e
  }
  return NO
}

/** The digit count of the first k groups when they form a card layout, else 0. */
function cardLayoutDigits(k: number): number {
  if (groupLen[0] !== 4) return 0
  if (k === 3 && groupLen[1] === 6 && (groupLen[2] === 4 || groupLen[2] === 5)) return 10 + groupLen[2]!
  let total = 4
  for (let g = 1; g < k - 1; g++) {
    if (groupLen[g] !== 4) return 0
    total += 4
  }
  const last = groupLen[k - 1]!
  if (last < 1 || last > 4) return 0
  total += last
  return total >= 13 && total <= 19 ? total : 0
}

/** Issuer identification number ranges and their lengths (ISO/IEC 7812 as the networks publish them). */
function cardNetworkOk(s: Uint8Array, i: number, len: number): boolean {
  // invariant: the first four characters are digits (a contiguous run of >= 13 or a first group of 4).
  const p4 =
    (s[i]! - 48) * 1000 + (s[i + 1]! - 48) * 100 + (s[i + 2]! - 48) * 10 + (s[i + 3]! - 48)
  const p2 = (p4 / 100) | 0
  const p3 = (p4 / 10) | 0
  switch ((p4 / 1000) | 0) {
    case 2: // Mastercard 2-series; Mir
      if (p4 >= 2221 && p4 <= 2720) return len === 16
      return p4 >= 2200 && p4 <= 2204 && len >= 16
    case 3:
      if (p2 === 34 || p2 === 37) return len === 15 // Amex
      if (p4 >= 3528 && p4 <= 3589) return len >= 16 // JCB
      if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305) || p4 === 3095) return len >= 14 // Diners
      return false
    case 4: // Visa (the 13-digit numbers are retired, and would catch EAN-13 barcodes)
      return len === 16 || len === 19
    case 5:
      if (p2 >= 51 && p2 <= 55) return len === 16 // Mastercard
      return len >= 16 // Maestro (50, 56-59)
    case 6: // Discover, UnionPay, Maestro, RuPay
      return len >= 16
    case 9: // Troy
      return p4 === 9792 && len === 16
    default:
      return false
  }
}

function luhnOk(s: Uint8Array, start: number, end: number): boolean {
  let sum = 0
  let double = false
  for (let k = end - 1; k >= start; k--) {
    const d = s[k]! - 48
    if (d < 0 || d > 9) continue
    if (double) sum += d * 2 > 9 ? d * 2 - 9 : d * 2
    else sum += d
    double = !double
  }
  return sum % 10 === 0
}

/** `ddd-dd-dddd`, without the ranges the SSA never assigns (area 000, 666, 900-999; group 00; serial 0000). */
function matchSsn(s: Uint8Array, i: number, n: number, final: boolean): number {
  for (let k = 0; k < 11; k++) {
    if (i + k >= n) return final ? NO : MORE
    const c = s[i + k]!
    if (k === 3 || k === 6 ? c !== 45 : !isDigit(c)) return NO
  }
  const area = num(s, i, 3)
  const group = num(s, i + 4, 2)
  const serial = num(s, i + 7, 4)
  if (area === 0 || area === 666 || area >= 900 || group === 0 || serial === 0) return NO
  // Published in advertising, never a real person's number.
  if ((area === 78 && group === 5 && serial === 1120) || (area === 219 && group === 9 && serial === 9999)) return NO
  const rb = numberEndOk(s, i + 11, n, final)
  return rb === YES ? i + 11 : rb
}

function num(s: Uint8Array, i: number, len: number): number {
  let v = 0
  for (let k = 0; k < len; k++) v = v * 10 + s[i + k]! - 48
  return v
}

// ---------------------------------------------------------------------------
// IBAN (ISO 13616): the country's registered length, contiguous or in groups
// of four separated by single spaces, and the mod-97 check. At most 41 characters.

const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
}

const IBAN_LENGTH_BY_CODE = new Map(Object.entries(IBAN_LENGTHS).map(([cc, len]) => [cc.charCodeAt(0) * 256 + cc.charCodeAt(1), len]))

function matchIban(s: Uint8Array, i: number, n: number, final: boolean): number {
  for (let k = 0; k < 4; k++) {
    if (i + k >= n) return final ? NO : MORE
    if (!(cls(s[i + k]!) & (k < 2 ? UPPER : DIGIT))) return NO
  }
  const length = IBAN_LENGTH_BY_CODE.get(s[i]! * 256 + s[i + 1]!)
  if (length === undefined) return NO
  let j = i + 4
  if (j >= n) return final ? NO : MORE
  const grouped = s[j]! === 32
  let acc = 0
  for (let count = 4; count < length; count++) {
    if (grouped && count % 4 === 0) {
      if (j >= n) return final ? NO : MORE
      if (s[j]! !== 32) return NO
      j++
    }
    if (j >= n) return final ? NO : MORE
    const c = s[j]!
    const k = cls(c)
    if (k & DIGIT) acc = (acc * 10 + c - 48) % 97
    else if (k & UPPER) acc = (acc * 100 + c - 55) % 97
    else return NO
    j++
  }
  if (j < n) {
    if (cls(s[j]!) & WORD) return NO
  } else if (!final) return MORE
  // The country code and check digits go last (ISO 13616-1 §B.2).
  acc = (acc * 100 + s[i]! - 55) % 97
  acc = (acc * 100 + s[i + 1]! - 55) % 97
  acc = (acc * 100 + (s[i + 2]! - 48) * 10 + s[i + 3]! - 48) % 97
  return acc === 1 ? j : NO
}

// ---------------------------------------------------------------------------
// Tokens with a recognisable prefix.

/** Compares `lit` at `i`: YES when present, NO when not, MORE when the text ends first. */
function literalAt(s: Uint8Array, i: number, n: number, final: boolean, lit: string): number {
  for (let k = 0; k < lit.length; k++) {
    if (i + k >= n) return final ? NO : MORE
    if (s[i + k]! !== lit.charCodeAt(k)) return NO
  }
  return YES
}

/** AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary) and 16 base32 characters. */
function matchAws(s: Uint8Array, i: number, n: number, final: boolean): number {
  if (i + 1 >= n) return final ? NO : MORE
  if (s[i + 1]! !== 75 && s[i + 1]! !== 83) return NO
  const p = literalAt(s, i + 2, n, final, 'IA')
  if (p !== YES) return p
  return tokenBody(s, i + 4, n, final, UPPER | DIGIT, 16, 16, WORD)
}

/**
 * GitHub tokens (github.blog, "Behind GitHub's new authentication token
 * formats"): `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` and 36+ base62 characters, or
 * `github_pat_` and 22+ of [A-Za-z0-9_]. GitHub caps tokens at 255 characters.
 */
function matchGithub(s: Uint8Array, i: number, n: number, final: boolean): number {
  if (i > 0 && cls(s[i - 1]!) & WORD) return NO
  if (i + 1 >= n) return final ? NO : MORE
  if (s[i + 1]! === 105) {
    const p = literalAt(s, i + 2, n, final, 'thub_pat_')
    if (p !== YES) return p
    return tokenBody(s, i + 11, n, final, WORD, GITHUB_PAT_MIN, GITHUB_PAT_MAX, WORD)
  }
  const h = literalAt(s, i + 1, n, final, 'h')
  if (h !== YES) return h
  if (i + 2 >= n) return final ? NO : MORE
  const c = s[i + 2]!
  if (c !== 112 && c !== 111 && c !== 117 && c !== 115 && c !== 114) return NO
  const u = literalAt(s, i + 3, n, final, '_')
  if (u !== YES) return u
  return tokenBody(s, i + 4, n, final, ALNUM, GITHUB_CLASSIC_MIN, GITHUB_CLASSIC_MAX, WORD)
}

/** Gatehouse gateway tokens: `gth_` and exactly 43 base64url characters (32 random bytes). */
function matchGatehouse(s: Uint8Array, i: number, n: number, final: boolean): number {
  if (i > 0 && cls(s[i - 1]!) & TOKEN) return NO
  const p = literalAt(s, i + 1, n, final, 'th_')
  if (p !== YES) return p
  return tokenBody(s, i + 4, n, final, TOKEN, GATEHOUSE_TOKEN_LENGTH, GATEHOUSE_TOKEN_LENGTH, TOKEN)
}

/**
 * A run of `klass` from `j` of `min` to `max` characters, not followed by a
 * character of `stopClass`. Reads at most `max` + 1 characters.
 */
function tokenBody(s: Uint8Array, j: number, n: number, final: boolean, klass: number, min: number, max: number, stopClass: number): number {
  const limit = j + max + 1
  let e = j
  while (e < n && e < limit && cls(s[e]!) & klass) e++
  if (e >= n && e < limit && !final) return MORE
  const len = e - j
  if (len < min || len > max) return NO
  if (e < n && cls(s[e]!) & stopClass) return NO
  return e
}

// Scratch: where each segment of a JWT candidate ends.
const jwtSegEnd = new Int32Array(6)

/**
 * A JWS (three segments) or JWE (five) in compact serialisation (RFC 7515
 * §7.1, RFC 7516 §7.1) whose header decodes to a JSON object: base64url of
 * `{"` is `eyJ`. The header is at least 10 characters (`{"alg":"x"}` is 15).
 * Reads at most JWT_MAX_LENGTH + 1 characters.
 */
function matchJwt(s: Uint8Array, i: number, n: number, final: boolean): number {
  if (i > 0 && cls(s[i - 1]!) & TOKEN) return NO
  const p = literalAt(s, i + 1, n, final, 'yJ')
  if (p !== YES) return p
  const limit = i + JWT_MAX_LENGTH
  let j = i + 3
  let segs = 0
  for (;;) {
    while (j < n && j <= limit && cls(s[j]!) & TOKEN) j++
    if (j > limit) return NO
    if (j >= n && !final) return MORE
    jwtSegEnd[++segs] = j
    if (segs === 1 && j - i < 10) return NO
    if (segs < 5 && j < n && s[j]! === 46) {
      j++
      continue
    }
    break
  }
  const payloadLength = segs >= 2 ? jwtSegEnd[2]! - jwtSegEnd[1]! - 1 : 0
  if (segs === 5) return j
  if (payloadLength === 0) return NO
  if (segs === 3) return j
  if (segs === 4) return jwtSegEnd[3]!
  return NO
}

// ---------------------------------------------------------------------------
// Private keys: PEM (RFC 7468 §2) `-----BEGIN <label>-----` where the label
// names a private key (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... BLOCK, or
// none), through the first `-----END <label>-----` that names one. The body
// is not parsed: keys embedded in JSON (`\n` escapes) or indented must match too.

function matchKeyHeader(s: Uint8Array, i: number, n: number, final: boolean): number {
  const p = literalAt(s, i, n, final, '-----BEGIN ')
  if (p !== YES) return p
  return pemLabelEnd(s, i + 11, n, final)
}

/** After `-----BEGIN ` or `-----END `: a private-key label and `-----`; returns the end of the dashes. */
function pemLabelEnd(s: Uint8Array, j: number, n: number, final: boolean): number {
  const labelStart = j
  const limit = j + PEM_LABEL_MAX
  while (j < n && j < limit) {
    const c = s[j]!
    if (!(cls(c) & (UPPER | DIGIT)) && c !== 32) break
    j++
  }
  if (j >= n && !final) return MORE
  const labelEnd = j
  const d = literalAt(s, j, n, final, '-----')
  if (d !== YES) return d
  for (let k = labelStart; k + 11 <= labelEnd; k++) if (startsWithAt(s, k, 'PRIVATE KEY')) return labelEnd + 5
  return NO
}

/**
 * The end of the first private-key footer starting at or after `from` and
 * ending at or before `limit`. When there is none: with `final`, -1; without,
 * `-(keep) - 1`, where `keep` is the first offset that may still begin a
 * footer once more text arrives (everything before it can be dropped).
 * Work: one native substring search over [from, limit) plus a bounded parse
 * per `-----END ` occurrence.
 */
export function findKeyFooter(s: Uint8Array, from: number, limit: number, final: boolean): number {
  const n = Math.min(limit, s.length)
  for (let idx = from; idx + 9 <= n; idx++) {
    if (s[idx] !== 45 || !startsWithAt(s, idx, '-----END ')) continue
    const end = pemLabelEnd(s, idx + 9, n, final)
    if (end >= 0) return end
    if (end === MORE) return -idx - 1
  }
  if (final) return -1
  // A prefix of `-----END ` at the very end may complete later.
  for (let k = Math.min(8, n - from); k >= 1; k--) {
    if (startsWithAt(s, n - k, '-----END '.slice(0, k))) return -(n - k) - 1
  }
  return -n - 1
}

/** `lit` is at `i` (the caller knows it fits). */
function startsWithAt(s: Uint8Array, i: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) if (s[i + k] !== lit.charCodeAt(k)) return false
  return true
}

// ---------------------------------------------------------------------------
// Email addresses: triggered at `@`, the local part read backwards.

/**
 * Local part: the run of [A-Za-z0-9._%+-] before `@` (at most 64, RFC 5321
 * §4.5.3.1.1), starting at a boundary and after `floor` (the end of the last
 * match), leading dots dropped. Domain: at least two labels of [A-Za-z0-9-]
 * (at most 63 each, 253 in all), the last all letters, at least two; the
 * longest such prefix of the dotted run. So `git@github.com` matches and
 * `user@localhost` does not.
 */
function matchEmail(s: Uint8Array, at: number, n: number, final: boolean, floor: number): number {
  let k = at
  while (k > floor && at - k <= EMAIL_LOCAL_MAX && cls(s[k - 1]!) & LOCAL) k--
  const runStart = k
  emailStart = runStart
  if (k === at || at - k > EMAIL_LOCAL_MAX) return NO
  if (k > 0 && cls(s[k - 1]!) & LOCAL) return NO
  while (k < at && s[k]! === 46) k++
  if (k === at) return NO
  let j = at + 1
  let labels = 0
  let best = NO
  for (;;) {
    const labelStart = j
    while (j < n && j - labelStart <= EMAIL_LABEL_MAX && cls(s[j]!) & DOMAIN) j++
    const len = j - labelStart
    if (j >= n && len <= EMAIL_LABEL_MAX && !final) return MORE
    if (len === 0 || len > EMAIL_LABEL_MAX || j - at - 1 > EMAIL_DOMAIN_MAX) break
    // A host name label neither starts nor ends with a hyphen (RFC 1123 §2.1).
    if (s[labelStart]! === 45 || s[j - 1]! === 45) break
    labels++
    if (labels >= 2 && isTld(s, labelStart, j)) best = j
    if (j < n && s[j]! === 46) {
      if (j + 1 >= n) {
        if (!final) return MORE
        break
      }
      if (cls(s[j + 1]!) & DOMAIN) {
        j++
        continue
      }
    }
    break
  }
  if (best === NO) return NO
  emailStart = k
  return best
}

function isTld(s: Uint8Array, start: number, end: number): boolean {
  if (end - start < 2) return false
  for (let k = start; k < end; k++) if (!(cls(s[k]!) & ALPHA)) return false
  return true
}

/**
 * Not final: a trailing run that could still be the local part of an email
 * (the `@` has not arrived yet) must be held back. Returns where it starts,
 * or `n` when nothing need be held. Mirrors matchEmail's backward walk.
 */
function emailHoldback(s: Uint8Array, n: number, floor: number): number {
  let k = n
  while (k > floor && n - k <= EMAIL_LOCAL_MAX && cls(s[k - 1]!) & LOCAL) k--
  if (k === n || n - k > EMAIL_LOCAL_MAX) return n
  if (k > 0 && cls(s[k - 1]!) & LOCAL) return n
  return k
}
