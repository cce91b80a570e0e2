// Mask strategies, applied to a whole column value (`maskValue`) or to the
// detector matches inside a text value (`maskText`), on strings or on bytes.
//
// What each strategy produces:
// - redact: a fixed marker that says nothing about the value: `***` for a
//   column value, `[redacted:<detector>]` for a match in text (so a reader
//   knows what was removed without learning anything about it).
// - partial: a small non-identifying part, at most about a quarter of the
//   value: a card's last 4 digits (3 of a 14- or 15-digit card), an email's first
//   character and domain, an SSN's last 2 digits, an IBAN's country code and
//   last few characters, a token's public type prefix (`ghp_`, `AKIA`, `eyJ`)
//   and last few characters; nothing of a private key. A column value that is
//   exactly one detectable value is shown the same way; any other value keeps
//   its first and last code points, an eighth of its length each (at most 4),
//   and is `***` below 8 code points.
// - hash: `h:` and the first 16 hex digits of HMAC-SHA-256(key, UTF-8 bytes of
//   the value): equal values stay equal (joinable), different keys give
//   unrelated outputs, and nothing can be recovered without the key.
// - null: a column value becomes SQL NULL; a text value with a match becomes
//   NULL as a whole (the gateway cannot return part of a NULL). A stream has
//   no NULL: there `null` behaves like `redact`.
// Matches that overlap are masked as one union, with the strongest strategy
// among them (`partial` there acts as `redact`): no value is ever shown
// through another's partial form.
import { Buffer } from 'node:buffer'
import { createHmac } from 'node:crypto'
import { DETECTORS, type Detector, type MaskStrategy } from '../types.js'
import { detectorSet, findSensitive, latin1, type DetectorSet, type Match } from './detectors.js'
import { MASK_ERROR_CODES, MaskError } from './errors.js'

export interface MaskOptions {
  /** The HMAC-SHA-256 key of the `hash` strategy, at least 16 bytes; required when any strategy in use is `hash`. */
  hashKey?: Uint8Array
}

export interface DetectorRule {
  detector: Detector
  strategy: MaskStrategy
}

/** A detector alone uses the default strategy (`options.strategy`, else `redact`). */
export type DetectorSpec = Detector | DetectorRule

export interface MaskTextOptions extends MaskOptions {
  /** The strategy of detectors given without one. Default `redact`. */
  strategy?: MaskStrategy
}

export const COLUMN_REDACTION = '***'
export const HASH_KEY_MIN_BYTES = 16
const HASH_HEX_DIGITS = 16

/** A union of overlapping matches names each detector: `[redacted:email+credit-card]`. */
export function redactionMarker(detector: Detector | readonly Detector[]): string {
  return `[redacted:${typeof detector === 'string' ? detector : detector.join('+')}]`
}

// ---------------------------------------------------------------------------
// Compiled rules

/** Same order as engine/decide.ts: when a detector is listed twice, the stronger strategy wins. */
const STRATEGY_STRENGTH: Record<MaskStrategy, number> = { partial: 1, hash: 2, redact: 3, null: 4 }
const DETECTOR_INDEX = new Map<Detector, number>(DETECTORS.map((d, i) => [d, i]))

/**
 * Detectors with their strategies, compiled once (per session, say) and then
 * reused for every value: maskText and maskBytes accept either these or the
 * plain list, which they compile on each call.
 */
export class MaskRules {
  private constructor(
    readonly set: DetectorSet,
    /** Indexed like DETECTORS. */
    readonly strategies: ReadonlyArray<MaskStrategy | undefined>,
    readonly hashKey: Uint8Array | undefined,
  ) {}

  /** Fails (MaskError) when a strategy is `hash` and `options.hashKey` is missing or too short. */
  static compile(detectors: readonly DetectorSpec[], options: MaskTextOptions = {}): MaskRules {
    const strategies: Array<MaskStrategy | undefined> = DETECTORS.map(() => undefined)
    const fallback = options.strategy ?? 'redact'
    const listed: Detector[] = []
    let hashing = false
    for (const spec of detectors) {
      const detector = typeof spec === 'string' ? spec : spec.detector
      const strategy = typeof spec === 'string' ? fallback : spec.strategy
      const index = DETECTOR_INDEX.get(detector)
      if (index === undefined) throw new TypeError(`unknown detector \`${String(detector)}\``)
      const current = strategies[index]
      if (!current || STRATEGY_STRENGTH[strategy] > STRATEGY_STRENGTH[current]) strategies[index] = strategy
      if (strategy === 'hash') hashing = true
      listed.push(detector)
    }
    if (hashing) checkHashKey(options.hashKey)
    return new MaskRules(detectorSet(listed), strategies, options.hashKey)
  }
}

export function compileMaskRules(detectors: readonly DetectorSpec[], options: MaskTextOptions = {}): MaskRules {
  return MaskRules.compile(detectors, options)
}

/** Compiled rules, or a list to compile with `options`. */
export function toRules(rules: readonly DetectorSpec[] | MaskRules, options: MaskTextOptions = {}): MaskRules {
  return rules instanceof MaskRules ? rules : MaskRules.compile(rules, options)
}

export function strategyOf(rules: MaskRules, detector: Detector): MaskStrategy {
  // invariant: scanning only reports detectors of rules.set, each of which has a strategy.
  return rules.strategies[DETECTOR_INDEX.get(detector)!]!
}

function checkHashKey(key: Uint8Array | undefined): asserts key is Uint8Array {
  if (!key) throw new MaskError(MASK_ERROR_CODES.hashKeyMissing, 'the `hash` strategy needs a `hashKey`')
  if (key.byteLength < HASH_KEY_MIN_BYTES) {
    throw new MaskError(MASK_ERROR_CODES.hashKeyTooShort, `\`hashKey\` has ${key.byteLength} bytes, needs at least ${HASH_KEY_MIN_BYTES}`)
  }
}

// ---------------------------------------------------------------------------
// Hash

/** `h:` + 16 hex digits of HMAC-SHA-256(key, value); a string is hashed as UTF-8. */
export function hashValue(value: string | Uint8Array, key: Uint8Array): string {
  checkHashKey(key)
  return 'h:' + createHmac('sha256', key).update(value).digest('hex').slice(0, HASH_HEX_DIGITS)
}

/** The same, from a digest computed incrementally (the stream masker hashes private keys as they pass). */
export function formatHash(digestHex: string): string {
  return 'h:' + digestHex.slice(0, HASH_HEX_DIGITS)
}

// ---------------------------------------------------------------------------
// Whole column values

/** A column value: `null` means SQL NULL. */
export function maskValue(value: string, strategy: MaskStrategy, options: MaskOptions = {}): string | null {
  switch (strategy) {
    case 'redact':
      return COLUMN_REDACTION
    case 'null':
      return null
    case 'hash':
      checkHashKey(options.hashKey)
      return hashValue(value, options.hashKey)
    case 'partial':
      return partialValue(value)
  }
}

/** A column value as the wire carries it (text format, UTF-8); `null` means SQL NULL. */
export function maskValueBytes(value: Uint8Array, strategy: MaskStrategy, options: MaskOptions = {}): Uint8Array | null {
  switch (strategy) {
    case 'redact':
      return Buffer.from(COLUMN_REDACTION, 'latin1')
    case 'null':
      return null
    case 'hash':
      checkHashKey(options.hashKey)
      return Buffer.from(hashValue(value, options.hashKey), 'latin1')
    case 'partial': {
      // The common case, a value that is exactly one detectable thing, is
      // decided on the bytes: such a match is ASCII, so no UTF-8 round trip.
      const only = soleMatch(value, value.length)
      if (only) return Buffer.from(partialMatch(only.detector, latin1(value)), 'latin1')
      return Buffer.from(partialValue(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')), 'utf8')
    }
  }
}

const ALL_DETECTORS = detectorSet(DETECTORS)

/** The match covering all of `value` when it is exactly one detectable thing (an email column, a card column). */
function soleMatch(value: string | Uint8Array, length: number): Match | undefined {
  const matches = findSensitive(value, ALL_DETECTORS)
  const only = matches.length === 1 ? matches[0] : undefined
  return only && !only.union && only.start === 0 && only.end === length ? only : undefined
}

function partialValue(value: string): string {
  // A value that is one detectable thing is shown the way text shows it.
  const only = soleMatch(value, value.length)
  if (only) return partialMatch(only.detector, value)
  const points = Array.from(value)
  const keep = Math.min(4, Math.floor(points.length / 8))
  if (keep === 0) return COLUMN_REDACTION
  return points.slice(0, keep).join('') + '***' + points.slice(points.length - keep).join('')
}

// ---------------------------------------------------------------------------
// Matches inside text

/**
 * What replaces a match. `text` is the match (ASCII for every detector but
 * private-key, whose partial form reveals nothing); `hashInput` is its bytes,
 * or the string to hash as UTF-8.
 */
export function replacementFor(
  detector: Detector,
  strategy: MaskStrategy,
  text: string,
  hashInput: string | Uint8Array,
  hashKey: Uint8Array | undefined,
): string {
  switch (strategy) {
    case 'redact':
    case 'null':
      return redactionMarker(detector)
    case 'hash':
      checkHashKey(hashKey)
      return hashValue(hashInput, hashKey)
    case 'partial':
      return partialMatch(detector, text)
  }
}

/**
 * The strategy of a match: of a union, the strongest of its detectors'; and
 * `partial` becomes `redact` there, since the part one detector would show
 * may be the middle of another's value.
 */
function matchStrategy(rules: MaskRules, m: Match): MaskStrategy {
  if (!m.union) return strategyOf(rules, m.detector)
  let strongest: MaskStrategy = 'partial'
  for (const d of m.union) {
    const s = strategyOf(rules, d)
    if (STRATEGY_STRENGTH[s] > STRATEGY_STRENGTH[strongest]) strongest = s
  }
  return strongest === 'partial' ? 'redact' : strongest
}

/** What replaces a match found in text; `value` is its bytes, or its text. */
function replaceMatch(m: Match, rules: MaskRules, value: string | Uint8Array): string {
  const strategy = matchStrategy(rules, m)
  // `null` reaches here only in a stream, where it acts as `redact`.
  if (m.union && (strategy === 'redact' || strategy === 'null')) return redactionMarker(m.union)
  // Only `partial` reads the text (and a private key's is never shown).
  const text = strategy !== 'partial' || m.detector === 'private-key' ? '' : typeof value === 'string' ? value : latin1(value)
  return replacementFor(m.detector, strategy, text, value, rules.hashKey)
}

function partialMatch(detector: Detector, m: string): string {
  switch (detector) {
    case 'credit-card': {
      let digits = 0
      for (let k = 0; k < m.length; k++) if (isDigitCode(m.charCodeAt(k))) digits++
      return starExceptLast(m, digits >= 16 ? 4 : 3, isDigitCode)
    }
    case 'us-ssn':
      return '***-**-**' + m.slice(9)
    case 'iban': {
      let chars = 0
      for (let k = 0; k < m.length; k++) if (m.charCodeAt(k) !== 32) chars++
      const tail = Math.max(0, Math.min(4, Math.floor(chars / 4) - 2))
      return m.slice(0, 2) + starExceptLast(m.slice(2), tail, (c) => c !== 32)
    }
    case 'email':
      return m.charAt(0) + '***' + m.slice(m.lastIndexOf('@'))
    case 'aws-access-key':
      return tokenPartial(m, 4)
    case 'github-token':
      return tokenPartial(m, m.startsWith('github_pat_') ? 11 : 4)
    case 'gatehouse-token':
      return tokenPartial(m, 4)
    case 'jwt':
      return tokenPartial(m, 3)
    case 'private-key':
      return redactionMarker(detector)
  }
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57
}

/** Replaces with `*` every character `counts` selects, except the last `keep` of them. */
function starExceptLast(m: string, keep: number, counts: (c: number) => boolean): string {
  let total = 0
  for (let k = 0; k < m.length; k++) if (counts(m.charCodeAt(k))) total++
  let seen = 0
  let out = ''
  for (let k = 0; k < m.length; k++) {
    const c = m.charCodeAt(k)
    if (counts(c)) {
      seen++
      out += seen > total - keep ? m[k] : '*'
    } else out += m[k]
  }
  return out
}

/** The token's public type prefix, `***`, and its last characters: an eighth of the secret part, at most 4. */
function tokenPartial(m: string, prefix: number): string {
  const tail = Math.min(4, Math.floor((m.length - prefix) / 8))
  return m.slice(0, prefix) + '***' + m.slice(m.length - tail)
}

/**
 * A text value with every detector match masked. Returns `text` itself when
 * nothing matched, and `null` when a match's strategy is `null`. With
 * compiled `MaskRules`, `options` is not read (the rules carry the key).
 */
export function maskText(text: string, detectors: readonly DetectorSpec[] | MaskRules, options: MaskTextOptions = {}): string | null {
  const rules = toRules(detectors, options)
  const matches = findSensitive(text, rules.set)
  if (matches.length === 0) return text
  if (matches.some((m) => matchStrategy(rules, m) === 'null')) return null
  let out = ''
  let pos = 0
  for (const m of matches) {
    out += text.slice(pos, m.start) + replaceMatch(m, rules, text.slice(m.start, m.end))
    pos = m.end
  }
  return out + text.slice(pos)
}

/**
 * The same on bytes (UTF-8 or anything else: only ASCII is ever matched, other
 * bytes pass through untouched). Returns the very `bytes` object when nothing
 * matched, so the caller can forward it without a copy.
 */
export function maskBytes(bytes: Uint8Array, detectors: readonly DetectorSpec[] | MaskRules, options: MaskTextOptions = {}): Uint8Array | null {
  const rules = toRules(detectors, options)
  const matches = findSensitive(bytes, rules.set)
  if (matches.length === 0) return bytes
  if (matches.some((m) => matchStrategy(rules, m) === 'null')) return null
  const out: Uint8Array[] = []
  const end = appendMasked(bytes, 0, matches, rules, out)
  out.push(bytes.subarray(end))
  return Buffer.concat(out)
}

/**
 * Pushes onto `out` the bytes of `bytes` up to the end of the last match,
 * each match replaced; returns the offset after the last match. Match offsets
 * are `offset` ahead of `bytes` (the scanner saw `offset` bytes of context first).
 */
export function appendMasked(bytes: Uint8Array, offset: number, matches: readonly Match[], rules: MaskRules, out: Uint8Array[]): number {
  let pos = 0
  for (const m of matches) {
    const start = m.start - offset
    const end = m.end - offset
    if (start > pos) out.push(bytes.subarray(pos, start))
    out.push(Buffer.from(replaceMatch(m, rules, bytes.subarray(start, end)), 'latin1'))
    pos = end
  }
  return pos
}

/** Turns the masks of a decision (`detector:<name>` ids) into rules for maskText and the stream masker. */
export function detectorRules(masks: ReadonlyArray<{ id: string; strategy: MaskStrategy }>): DetectorRule[] {
  const rules: DetectorRule[] = []
  for (const mask of masks) {
    if (!mask.id.startsWith('detector:')) continue
    const detector = mask.id.slice('detector:'.length) as Detector
    // Fail closed: an unknown detector must not silently leave data unmasked.
    if (!DETECTOR_INDEX.has(detector)) throw new TypeError(`unknown detector \`${detector}\``)
    rules.push({ detector, strategy: mask.strategy })
  }
  return rules
}
