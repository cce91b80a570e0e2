// A seeded pseudo-random source for property tests: the seed is fixed in CI
// and set by hand with SEED (and the number of rounds with COUNT), so a
// failure is reproduced by running again with the seed it names.
export function seeded(defaultSeed: number, defaultCount = 300) {
  const seed = Number(process.env.SEED ?? defaultSeed)
  const count = Number(process.env.COUNT ?? defaultCount)
  let state = seed
  /** An integer from 0 to n - 1. */
  const random = (n: number) => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31), state % n)
  const pick = <T>(list: readonly T[]): T => list[random(list.length)]!
  return { seed, count, random, pick }
}
