// Failed logins, limited per identity and per source address: after
// `maxFailures` within `windowMs`, further attempts from that key are refused
// without checking credentials until the window has passed. Memory is
// bounded: the oldest keys are forgotten first.
export interface RateLimiter {
  /** Whether an attempt for these keys may proceed now. */
  allowed(keys: readonly string[], now?: number): boolean
  failed(keys: readonly string[], now?: number): void
  succeeded(keys: readonly string[]): void
}

export function createRateLimiter(options: { maxFailures: number; windowMs: number; maxKeys?: number }): RateLimiter {
  const failures = new Map<string, number[]>()
  const maxKeys = options.maxKeys ?? 50_000
  const recent = (key: string, now: number) => (failures.get(key) ?? []).filter((t) => now - t < options.windowMs)
  return {
    allowed(keys, now = Date.now()) {
      return keys.every((key) => recent(key, now).length < options.maxFailures)
    },
    failed(keys, now = Date.now()) {
      for (const key of keys) {
        const times = recent(key, now)
        times.push(now)
        failures.delete(key)
        failures.set(key, times.slice(-options.maxFailures))
        if (failures.size > maxKeys) failures.delete(failures.keys().next().value!)
      }
    },
    succeeded(keys) {
      // A success clears the identity's count, not the address's: one good token must not unlock guessing others.
      for (const key of keys) if (key.startsWith('identity:')) failures.delete(key)
    },
  }
}
