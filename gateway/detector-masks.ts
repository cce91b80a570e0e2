// The content-detector masks of a decision, compiled once for the masker of
// either front (PostgreSQL values, SSH output streams).
import { compileMaskRules, type MaskRules } from '../engine/masks/index.js'
import type { MaskRef } from '../engine/types.js'

export function detectorMasks(masks: readonly MaskRef[], hashKey: Buffer): MaskRules | undefined {
  const rules = masks.filter((m) => m.id.startsWith('detector:')).map((m) => ({ detector: m.id.slice('detector:'.length) as never, strategy: m.strategy }))
  return rules.length ? compileMaskRules(rules, { hashKey }) : undefined
}
