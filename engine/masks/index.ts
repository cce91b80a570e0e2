// Masking: content detectors, mask strategies and the streaming masker.
export {
  asBuffer,
  detectorSet,
  findSensitive,
  JWT_MAX_LENGTH,
  mayContainSensitive,
  PRIVATE_KEY_MAX_LENGTH,
  type DetectorSet,
  type Match,
} from './detectors.js'
export { MASK_ERROR_CODES, MaskError, type MaskErrorCode } from './errors.js'
export {
  COLUMN_REDACTION,
  compileMaskRules,
  detectorRules,
  HASH_KEY_MIN_BYTES,
  hashValue,
  maskBytes,
  MaskRules,
  maskText,
  maskValue,
  maskValueBytes,
  redactionMarker,
  type DetectorRule,
  type DetectorSpec,
  type MaskOptions,
  type MaskTextOptions,
} from './strategies.js'
export { createStreamMasker, MAX_STREAM_HOLD, type StreamMasker, type StreamMaskerOptions } from './stream-masker.js'
