// "Did you mean …?" for every name a person types: commands, options,
// configuration keys, and the names in a policy repository.

/** Levenshtein-based suggestion for `did you mean …?`. */
export function suggest(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(input.length / 3)) + 1
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - input.length) >= bestDistance) continue
    const distance = editDistance(input, candidate, bestDistance)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance(a: string, b: string, cap: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      current.push(value)
      rowMin = Math.min(rowMin, value)
    }
    if (rowMin >= cap) return cap
    previous = current
  }
  return previous[b.length]!
}

/** ` (did you mean `x`?)`, or nothing. */
export function didYouMeanSuffix(input: string, candidates: Iterable<string>): string {
  const match = suggest(input, candidates)
  return match ? ` (did you mean \`${match}\`?)` : ''
}
