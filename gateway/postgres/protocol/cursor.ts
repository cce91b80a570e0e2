// Bounds-checked reading of one message's payload. Every read checks against
// the end of the message (not of the underlying chunk), so a count or length
// that claims more than the message holds is `protocol.malformed`, never a
// read into the next message or a RangeError.
import { isUtf8 } from 'node:buffer'
import { malformed } from './errors.js'

export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    /** Names the message in error messages, e.g. `Bind`. */
    readonly what: string,
  ) {}

  get remaining(): number {
    return this.end - this.pos
  }

  private need(n: number, field: string): void {
    if (this.end - this.pos < n) {
      throw malformed(`\`${this.what}\` message: ${field} needs ${n} bytes but ${this.end - this.pos} remain`)
    }
  }

  uint8(field: string): number {
    this.need(1, field)
    return this.buf[this.pos++]!
  }

  int16(field: string): number {
    this.need(2, field)
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  /** PostgreSQL reads counts with `pq_getmsgint(msg, 2)`, which is unsigned. */
  uint16(field: string): number {
    this.need(2, field)
    const v = this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(field: string): number {
    this.need(4, field)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** OIDs are unsigned 32-bit. */
  uint32(field: string): number {
    this.need(4, field)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** A count of `size`-byte items that must fit what is left, checked before anything is allocated for it. */
  count16(field: string, size: number): number {
    const n = this.uint16(field)
    if (n * size > this.remaining) {
      throw malformed(`\`${this.what}\` message: ${field} ${n} needs at least ${n * size} bytes but ${this.remaining} remain`)
    }
    return n
  }

  /** The bytes of a NUL-terminated string, without the NUL. */
  cstringBytes(field: string): Buffer {
    const nul = this.buf.indexOf(0, this.pos)
    if (nul < 0 || nul >= this.end) {
      throw malformed(`\`${this.what}\` message: ${field} is not NUL-terminated within the message`)
    }
    const bytes = this.buf.subarray(this.pos, nul)
    this.pos = nul + 1
    return bytes
  }

  /**
   * A NUL-terminated UTF-8 string. Invalid UTF-8 is rejected rather than
   * replaced: a lossy decode would let the gateway decide on one text while
   * the server receives other bytes.
   */
  cstring(field: string): string {
    return utf8(this.cstringBytes(field), this.what, field)
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field)
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end)
    this.pos = this.end
    return b
  }

  /** PostgreSQL's `pq_getmsgend`: trailing bytes are a protocol violation. */
  done(): void {
    if (this.pos !== this.end) {
      throw malformed(`\`${this.what}\` message: ${this.end - this.pos} unexpected trailing bytes`)
    }
  }
}

export function utf8(bytes: Buffer, what: string, field: string): string {
  if (!isUtf8(bytes)) throw malformed(`\`${what}\` message: ${field} is not valid UTF-8`)
  return bytes.toString('utf8')
}
