// What goes back to an SSH client: each of stdout and stderr through its own
// stream masker (content detectors), then to the client and the recording.
//
// A masker holds back the tail of a chunk that may still become a value (a
// digit run that may become a card number). When nothing more arrives within
// `holdMs` (the `maskHoldMs` setting), the held tail is released as final: a
// program that prints half a card number and then waits would otherwise leave
// its output stuck. A value whose halves arrive further apart than that is
// masked in neither half: documented, and the price of interactive use.
import { createStreamMasker, type MaskRules, type StreamMasker } from '../../engine/masks/index.js'

export interface MaskedStream {
  push(chunk: Buffer): void
  /** Releases everything held (the stream ended). */
  end(): void
}

/** `counted` hears how many values were masked, as they are. */
export function createMaskedStream(rules: MaskRules | undefined, holdMs: number, emit: (bytes: Buffer) => void, counted: (values: number) => void): MaskedStream {
  if (!rules) return { push: emit, end: () => undefined }
  let masker: StreamMasker = createStreamMasker({ detectors: rules })
  let timer: NodeJS.Timeout | undefined
  let reported = 0
  const report = () => {
    if (masker.masked > reported) counted(masker.masked - reported)
    reported = masker.masked
  }
  const release = () => {
    timer = undefined
    const rest = masker.end()
    report()
    masker = createStreamMasker({ detectors: rules })
    reported = 0
    for (const piece of rest) emit(piece)
  }
  return {
    push(chunk) {
      const pieces = masker.push(chunk)
      report()
      for (const piece of pieces) emit(piece)
      if (timer) clearTimeout(timer)
      timer = masker.held > 0 ? setTimeout(release, holdMs) : undefined
    },
    end() {
      if (timer) clearTimeout(timer)
      release()
    },
  }
}
