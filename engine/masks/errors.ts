// Error codes of masking. Callers branch on the code, never on the message.
// Every one is a configuration or programming fault the gateway should catch
// when it loads a bundle or opens a session, never in the middle of a result.
export const MASK_ERROR_CODES = {
  /** A `hash` strategy is in use and no `hashKey` was given. */
  hashKeyMissing: 'mask.hash_key_missing',
  /** The `hashKey` is shorter than 16 bytes: too weak to keep hashed values unreadable. */
  hashKeyTooShort: 'mask.hash_key_too_short',
  /** `push` or `end` on a stream masker after `end`. */
  streamEnded: 'mask.stream_ended',
} as const

export type MaskErrorCode = (typeof MASK_ERROR_CODES)[keyof typeof MASK_ERROR_CODES]

export class MaskError extends Error {
  constructor(
    readonly code: MaskErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'MaskError'
  }
}
