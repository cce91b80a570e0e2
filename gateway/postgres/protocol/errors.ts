// The one error the protocol layer throws. Readers and decoders throw a
// ProtocolError and nothing else for any input bytes; anything else escaping
// them is a bug. The gateway maps every code to SQLSTATE 08P01 for the client
// (STYLE.md: a closed set of client-visible errors) and logs the code.

export type ProtocolErrorCode =
  /** A length field beyond the configured cap (or PostgreSQL's 10,000-byte startup cap). */
  | 'protocol.oversized'
  /** Bytes that do not form the message their type byte announces. */
  | 'protocol.malformed'
  /** A well-formed message that is not acceptable here (unknown type, wrong phase, wrong decoder). */
  | 'protocol.unexpected'
  /** A protocol version or request code this layer does not speak. */
  | 'protocol.unsupported'

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export const isProtocolError = (value: unknown): value is ProtocolError => value instanceof ProtocolError

export function malformed(message: string): ProtocolError {
  return new ProtocolError('protocol.malformed', message)
}
