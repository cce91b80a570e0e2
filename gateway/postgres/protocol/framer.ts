// Splits a byte stream into whole messages: the part of a reader that is the
// same for both directions. Complete messages inside one chunk are returned as
// `subarray` views (no copy); only a message that straddles chunks is copied
// into a buffer of its own.
//
// invariant: bytes held between calls never exceed one message's header plus
// its body as declared by a length field that has already passed `checkLength`
// (so memory is bounded by the cap, whatever the peer sends), and the buffer
// holding them is at most twice what has arrived.
import { Buffer } from 'node:buffer'
import { ProtocolError, malformed } from './errors.js'

export interface FramerLimits {
  /** Largest accepted value of a typed message's length field (which counts itself but not the type byte). */
  maxMessageBytes: number
  /** Largest accepted untyped (startup-phase) packet; PostgreSQL's MAX_STARTUP_PACKET_LENGTH is 10,000. */
  maxStartupBytes: number
  /** Lower caps for some message types (by type byte), with what the cap stands for, for the error. */
  byType?: Readonly<Record<number, { maxMessageBytes: number; what: string }>>
}

/** Caps are configuration: a bad one is the caller's bug, not the peer's, hence a RangeError. */
export function checkCap(name: string, bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 4 || bytes > 0x7fffffff) throw new RangeError(`${name} must be an integer from 4 to 2147483647, got ${bytes}`)
  return bytes
}

export class Framer {
  /** Typed messages start with a one-byte type code; startup-phase packets do not. */
  typed = false
  private chunk: Buffer = Buffer.alloc(0)
  private offset = 0
  /**
   * A message that straddles chunks is copied into one buffer that grows with
   * what has arrived (doubling, up to the declared size), not kept as a list
   * of views: a peer sending one byte per packet must not turn a capped
   * message into a million Buffer objects, nor make the gateway allocate the
   * full declared size before sending it.
   */
  private assembly: Buffer = Buffer.alloc(0)
  private assembled = 0
  /** Total size of the straddling message, or -1 while its header is incomplete (then held in `header`). */
  private need = -1
  private readonly header = Buffer.alloc(5)

  constructor(
    public limits: FramerLimits,
    private readonly side: 'frontend' | 'backend',
  ) {}

  /** Bytes received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.assembled + (this.chunk.length - this.offset)
  }

  /** True when the current chunk has bytes not yet looked at. */
  get hasUnread(): boolean {
    return this.offset < this.chunk.length
  }

  feed(chunk: Buffer): void {
    // invariant (relied on): readers drain the previous chunk before feeding the next.
    this.chunk = chunk
    this.offset = 0
  }

  /** The next complete message, or undefined when more bytes are needed. */
  next(): Buffer | undefined {
    const headerSize = this.typed ? 5 : 4
    if (this.assembled > 0) return this.continuePartial(headerSize)
    const chunk = this.chunk
    const start = this.offset
    const avail = chunk.length - start
    if (avail === 0) return undefined
    if (avail < headerSize) {
      chunk.copy(this.header, 0, start)
      this.assembled = avail
      this.need = -1
      this.offset = chunk.length
      return undefined
    }
    const total = this.checkLength(chunk, start)
    if (avail < total) {
      this.need = total
      this.assembly = Buffer.allocUnsafe(Math.min(total, Math.max(avail * 2, 1024)))
      this.assembled = chunk.copy(this.assembly, 0, start)
      this.offset = chunk.length
      return undefined
    }
    this.offset = start + total
    return chunk.subarray(start, start + total)
  }

  private continuePartial(headerSize: number): Buffer | undefined {
    const chunk = this.chunk
    if (this.need < 0) {
      const take = Math.min(headerSize - this.assembled, chunk.length - this.offset)
      chunk.copy(this.header, this.assembled, this.offset, this.offset + take)
      this.offset += take
      this.assembled += take
      if (this.assembled < headerSize) return undefined
      // The length is checked as soon as the header is complete: nothing of an
      // oversized message is ever buffered beyond its header.
      this.need = this.checkLength(this.header, 0)
      this.assembly = Buffer.allocUnsafe(Math.min(this.need, 1024))
      this.header.copy(this.assembly, 0, 0, headerSize)
    }
    const take = Math.min(this.need - this.assembled, chunk.length - this.offset)
    if (this.assembled + take > this.assembly.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.need, Math.max(this.assembly.length * 2, this.assembled + take)))
      this.assembly.copy(grown, 0, 0, this.assembled)
      this.assembly = grown
    }
    chunk.copy(this.assembly, this.assembled, this.offset, this.offset + take)
    this.offset += take
    this.assembled += take
    if (this.assembled < this.need) return undefined
    // invariant: the buffer never grows past `need`, so it is exactly the message.
    const raw = this.assembly
    this.assembly = Buffer.alloc(0)
    this.assembled = 0
    this.need = -1
    return raw
  }

  /** Returns the total byte size of the message whose header starts at `at`. */
  private checkLength(buf: Buffer, at: number): number {
    if (this.typed) {
      const len = buf.readInt32BE(at + 1)
      const special = this.limits.byType?.[buf[at]!]
      const cap = special ? Math.min(special.maxMessageBytes, this.limits.maxMessageBytes) : this.limits.maxMessageBytes
      if (len >= 4 && len <= cap) return len + 1
      const type = printable(buf[at]!)
      if (len < 4) throw malformed(`${this.side} message ${type}: length ${len} is below the minimum 4`)
      throw new ProtocolError('protocol.oversized', `${this.side} message ${type}: length ${len} exceeds the limit of ${cap} bytes${special ? ` ${special.what}` : ''}`)
    }
    const len = buf.readInt32BE(at)
    // A startup packet holds at least its 4-byte length and 4-byte code.
    if (len < 8) throw malformed(`startup packet: length ${len} is below the minimum 8`)
    if (len > this.limits.maxStartupBytes) {
      throw new ProtocolError('protocol.oversized', `startup packet: length ${len} exceeds the limit of ${this.limits.maxStartupBytes} bytes`)
    }
    return len
  }
}

/** A type byte for error messages: `Q` for printable ASCII, `0x00` otherwise. */
export function printable(byte: number): string {
  return byte >= 0x21 && byte <= 0x7e ? `\`${String.fromCharCode(byte)}\`` : `0x${byte.toString(16).padStart(2, '0')}`
}
