// Small helpers shared by the benchmarks: medians over rounds, and timing.
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Mean microseconds per call of `fn` over `iterations` calls. */
export function microsPerCall(iterations: number, fn: (i: number) => unknown): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) fn(i)
  return Number(process.hrtime.bigint() - start) / 1000 / iterations
}
