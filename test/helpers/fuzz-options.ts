// The seed and length of a fuzzer run: fixed in `npm test`, chosen by hand
// with `npm test -- FILE --seed=N --count=N` (test/run.ts passes them on as
// GATEHOUSE_FUZZ_SEED and GATEHOUSE_FUZZ_COUNT).
export function fuzzOptions(defaults: { seed: number; count: number }): { seed: number; count: number } {
  const read = (name: string, fallback: number) => {
    const value = process.env[name]
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback
  }
  return { seed: read('GATEHOUSE_FUZZ_SEED', defaults.seed), count: read('GATEHOUSE_FUZZ_COUNT', defaults.count) }
}
