// Masks a byte stream (SSH stdout/stderr) chunk by chunk, with the same
// result as masking all of it at once (`maskBytes` with `null` read as
// `redact`, since a stream has no NULL) however the chunks are cut.
//
// Each push scans what arrived with the same scanner as whole values, told
// that the text is not final. Everything the scanner has decided is emitted
// at once; only the tail from the first undecided candidate on is held back:
// a digit run that may still become a card, a word that may still become the
// local part of an email, `eyJ...` that may still become a JWT, and a value
// such a candidate may still overlap (overlapping values are masked as one).
// That tail is at most MAX_UNDECIDED_LENGTH bytes; text with no candidate at
// its end is emitted whole.
//
// A private key is not held back: once its BEGIN line is complete the masker
// drops what follows (feeding it to the HMAC when the strategy is `hash`)
// until the END line or PRIVATE_KEY_MAX_LENGTH bytes, then emits one marker.
// So memory stays bounded by a small tail however long the block, and no byte
// of it (up to that cap) is ever emitted.
import { Buffer } from 'node:buffer'
import { createHmac, type Hmac } from 'node:crypto'
import { findKeyFooter, MAX_UNDECIDED_LENGTH, PRIVATE_KEY_MAX_LENGTH, scanText } from './detectors.js'
import { MASK_ERROR_CODES, MaskError } from './errors.js'
import {
  appendMasked,
  formatHash,
  replacementFor,
  strategyOf,
  toRules,
  type DetectorSpec,
  type MaskRules,
  type MaskTextOptions,
} from './strategies.js'

export interface StreamMaskerOptions extends MaskTextOptions {
  /** Detectors, each alone (using `strategy`, default `redact`) or with its own strategy. `null` acts as `redact`. */
  detectors: readonly DetectorSpec[] | MaskRules
}

export interface StreamMasker {
  /**
   * Masks a chunk; returns the pieces that can be emitted now, in order
   * (possibly none). They may share memory with `chunk`: do not modify
   * `chunk` afterwards.
   */
  push(chunk: Uint8Array): Buffer[]
  /** The end of the stream: returns everything still held back, masked, in pieces. */
  end(): Buffer[]
  /** Bytes currently held back between calls (at most MAX_STREAM_HOLD). */
  readonly held: number
  /** Values masked so far (a union of overlapping values counts once). */
  readonly masked: number
}

/** Bytes of left context kept from what was emitted: boundaries look at most 2 characters back. */
const CONTEXT = 8
/** The most a stream masker holds between pushes. */
export const MAX_STREAM_HOLD = Math.ceil((MAX_UNDECIDED_LENGTH * 9) / 8) + 128

const EMPTY = Buffer.alloc(0)

/**
 * With bytes held from before, a chunk at least twice this long is not copied
 * behind them whole: only its first JOINT bytes are, and once the held bytes
 * are decided the scan goes on in the chunk itself. At output rates of
 * hundreds of megabytes a second, every copy is garbage to collect.
 */
const JOINT = 256

/**
 * Only a JWT candidate can hold back more than this. While one is held and
 * small chunks arrive that merely continue it (base64url and dots), they are
 * queued unscanned until they add up to an eighth of the held tail: scanning
 * the tail again on every byte would make a byte-at-a-time writer cost
 * O(tail) per byte. Nothing is delayed that could have been emitted: a
 * candidate continuing through such bytes is still undecided, and any other
 * byte triggers a scan at once.
 */
const DEFER_MIN = 1024

function continuesToken(bytes: Uint8Array): boolean {
  for (let k = 0; k < bytes.length; k++) {
    const c = bytes[k]!
    const token = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46
    if (!token) return false
  }
  return true
}

interface KeyState {
  /** Bytes of the block dropped so far (before `tail`). */
  consumed: number
  /** Length of the BEGIN line: the footer is searched after it. */
  headerLength: number
  /** Bytes that may begin the footer, kept until it completes or cannot. */
  tail: Buffer
  hmac: Hmac | null
  /** The last CONTEXT bytes dropped: the left context once the block ends. */
  recent: Buffer
}

/** `piece`, when it is a view of `copy` past `offset`, as the same bytes of `source` (of which `copy` from `offset` on is a copy). */
function rebased(piece: Uint8Array, copy: Buffer, offset: number, source: Buffer): Uint8Array {
  // Small buffers share Node's pool: the same ArrayBuffer is not enough, the piece must lie inside `copy`.
  const at = piece.byteOffset - copy.byteOffset - offset
  const inside = piece.buffer === copy.buffer && at >= 0 && at + piece.length <= copy.length - offset
  return inside ? source.subarray(at, at + piece.length) : piece
}

export function createStreamMasker(options: StreamMaskerOptions): StreamMasker {
  // `null` needs no mapping: replacementFor already renders it as the redact marker.
  const rules = toRules(options.detectors, options)
  const keyStrategy = strategyOf.bind(null, rules)
  let pending: Buffer = EMPTY
  /** Chunks queued behind a large held tail (see DEFER_MIN). */
  let deferred: Buffer[] = []
  let deferredLength = 0
  let context: Buffer = EMPTY
  let key: KeyState | null = null
  let ended = false
  let masked = 0

  /**
   * `input` is `base` bytes of left context (already emitted) followed by
   * everything not yet emitted, the held tail included.
   */
  function process(input: Buffer, base: number, final: boolean, out: Uint8Array[]): void {
    pending = EMPTY
    let units = input
    let offset = base
    for (;;) {
      if (key) {
        const rest = feedKey(key, units.subarray(offset), final, out)
        if (!rest) return
        // feedKey left the block's last bytes as context.
        units = context.length ? Buffer.concat([context, rest]) : rest
        offset = context.length
      }
      const data = units.subarray(offset)
      if (rules.set === 0) {
        out.push(data)
        return
      }
      const r = scanText(units, offset, rules.set, final)
      const done = appendMasked(data, offset, r.matches, rules, out)
      masked += r.matches.length
      if (r.keyOpen) {
        const start = r.keyOpen.start - offset
        if (start > done) out.push(data.subarray(done, start))
        key = {
          consumed: 0,
          headerLength: r.keyOpen.headerEnd - r.keyOpen.start,
          tail: EMPTY,
          hmac: keyStrategy('private-key') === 'hash' ? createHmac('sha256', rules.hashKey!) : null,
          recent: EMPTY,
        }
        offset = r.keyOpen.start
        continue
      }
      const stop = r.stop - offset
      if (stop > done) out.push(data.subarray(done, stop))
      // invariant: the scanner holds back at most MAX_UNDECIDED_LENGTH bytes (every matcher reads a bounded window,
      // and a union of overlapping values is settled once it spans UNION_SPAN_MAX).
      // Copies: what is kept must not pin the caller's chunk.
      pending = stop < data.length ? Buffer.from(data.subarray(stop)) : EMPTY
      context = Buffer.from(units.subarray(Math.max(0, r.stop - CONTEXT), r.stop))
      return
    }
  }

  /** Drops key bytes until the footer or the cap; returns the bytes after the block, or null when all were absorbed. */
  function feedKey(k: KeyState, data: Buffer, final: boolean, out: Uint8Array[]): Buffer | null {
    const win = k.tail.length ? Buffer.concat([k.tail, data]) : data
    const from = Math.max(0, k.headerLength - k.consumed)
    const limit = PRIVATE_KEY_MAX_LENGTH - k.consumed
    const capHere = limit <= win.length
    const footer = findKeyFooter(win, from, Math.min(limit, win.length), final || capHere)
    let end: number
    if (footer >= 0) end = footer
    else if (final || capHere) end = Math.min(limit, win.length)
    else {
      const keep = -footer - 1
      absorb(k, win.subarray(0, keep))
      k.tail = Buffer.from(win.subarray(keep))
      return null
    }
    absorb(k, win.subarray(0, end))
    const strategy = keyStrategy('private-key')
    const marker = k.hmac ? formatHash(k.hmac.digest('hex')) : replacementFor('private-key', strategy, '', '', rules.hashKey)
    out.push(Buffer.from(marker, 'latin1'))
    masked++
    context = k.recent
    key = null
    return win.subarray(end)
  }

  function absorb(k: KeyState, bytes: Buffer): void {
    if (bytes.length === 0) return
    k.hmac?.update(bytes)
    k.consumed += bytes.length
    k.recent =
      bytes.length >= CONTEXT ? Buffer.from(bytes.subarray(bytes.length - CONTEXT)) : Buffer.concat([k.recent, bytes]).subarray(-CONTEXT)
  }

  /** Adjacent views of the same memory become one piece; empty ones go. */
  function pieces(out: Uint8Array[]): Buffer[] {
    const merged: Buffer[] = []
    for (const piece of out) {
      if (piece.length === 0) continue
      const last = merged.at(-1)
      if (last && last.buffer === piece.buffer && last.byteOffset + last.length === piece.byteOffset) {
        merged[merged.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + piece.length)
      } else merged.push(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength))
    }
    return merged
  }

  function check(): void {
    if (ended) throw new MaskError(MASK_ERROR_CODES.streamEnded, 'the stream masker has ended')
  }

  return {
    push(chunk: Uint8Array): Buffer[] {
      check()
      if (chunk.byteLength === 0) return []
      const view = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      if (pending.length >= DEFER_MIN && deferredLength + view.length < pending.length / 8 && continuesToken(view)) {
        deferred.push(Buffer.from(view))
        deferredLength += view.length
        return []
      }
      const base = context.length
      const joined = base > 0 || pending.length > 0
      const split = joined && !key && view.length >= 2 * JOINT
      // With only left context held, the joint's text is the chunk's own start.
      const contextOnly = pending.length === 0 && deferredLength === 0
      const input = joined ? Buffer.concat([context, pending, ...deferred, split ? view.subarray(0, JOINT) : view]) : view
      deferred = []
      deferredLength = 0
      const out: Uint8Array[] = []
      process(input, base, false, out)
      // Unmasked text cut from the joint is cut from the chunk instead, so that it merges with what follows and
      // the chunk goes out in one piece, not as a short piece and a long one.
      if (split && contextOnly) for (let k = 0; k < out.length; k++) out[k] = rebased(out[k]!, input, base, view)
      if (split) {
        // What is still undecided lies inside the chunk, with enough of the chunk before it for left context:
        // the scan resumes there in place. Otherwise the rest of the chunk joins what is held, as usual.
        const resume = JOINT - pending.length
        if (!key && resume >= CONTEXT) process(view, resume, false, out)
        else process(Buffer.concat([context, pending, view.subarray(JOINT)]), context.length, false, out)
      }
      return pieces(out)
    },
    end(): Buffer[] {
      check()
      ended = true
      const base = context.length
      const input = Buffer.concat([context, pending, ...deferred])
      const held = input.length > base
      deferred = []
      deferredLength = 0
      const out: Uint8Array[] = []
      if (held || key) process(input, base, true, out)
      return pieces(out)
    },
    get held(): number {
      return pending.length + deferredLength + (key ? key.tail.length : 0)
    },
    get masked(): number {
      return masked
    },
  }
}
