// Patterns with many wildcards against long, adversarial arguments stay fast:
// no RegExp is built from pattern text and stars never backtrack into each
// other. A backtracking matcher takes exponential or O(n^k) time on these.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileExecPattern, compilePathPattern, compileForwardPattern } from '../../../engine/ssh/patterns.js'
import { compileWildcard, ONE, STAR } from '../../../engine/ssh/wildcard.js'

function timed(fn: () => void): number {
  const start = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - start) / 1e6
}

test('many stars against a long argument that almost matches', () => {
  const pattern = compileExecPattern(`cmd ${'*a'.repeat(200)}*b`)
  assert.ok(pattern.ok)
  const argv = ['cmd', 'a'.repeat(120_000)]
  const ms = timed(() => assert.equal(pattern.match(argv), false))
  assert.ok(ms < 500, `took ${ms} ms`)
})

test('a long middle segment that almost occurs everywhere', () => {
  // Every start position matches all but the last character of the segment.
  const pattern = compileExecPattern(`cmd *${'a'.repeat(2000)}b*`)
  assert.ok(pattern.ok)
  const ms = timed(() => assert.equal(pattern.match(['cmd', 'a'.repeat(120_000)]), false))
  assert.ok(ms < 2000, `took ${ms} ms`)
})

test('middle segments with ? that almost occur everywhere', () => {
  const pattern = compileExecPattern(`cmd *${'?a'.repeat(100)}b*${'?a'.repeat(100)}c*`)
  assert.ok(pattern.ok)
  const ms = timed(() => assert.equal(pattern.match(['cmd', 'a'.repeat(120_000)]), false))
  assert.ok(ms < 2000, `took ${ms} ms`)
})

test('question marks and stars against a long argument', () => {
  const pattern = compileExecPattern(`cmd ${'*?a?'.repeat(100)}*z`)
  assert.ok(pattern.ok)
  const argv = ['cmd', 'ab'.repeat(60_000)]
  const ms = timed(() => assert.equal(pattern.match(argv), false))
  assert.ok(ms < 2000, `took ${ms} ms`)
})

test('a trailing ** against many arguments', () => {
  const pattern = compileExecPattern('git log *a*b*c* **')
  assert.ok(pattern.ok)
  const argv = ['git', 'log', ...Array.from({ length: 50_000 }, () => 'abcx')]
  const ms = timed(() => assert.equal(pattern.match(argv), true))
  assert.ok(ms < 500, `took ${ms} ms`)
})

test('many ** segments against a deep path', () => {
  const pattern = compilePathPattern(`/${'**/a/'.repeat(50)}b`)
  assert.ok(pattern.ok)
  const path = `/${'a/'.repeat(3000)}c`
  const ms = timed(() => assert.equal(pattern.match(path), false))
  assert.ok(ms < 2000, `took ${ms} ms`)
})

test('host label wildcards against a long name', () => {
  const pattern = compileForwardPattern(`${'*a'.repeat(30)}*b.internal:*`)
  assert.ok(pattern.ok)
  const ms = timed(() => assert.equal(pattern.match(`${'a'.repeat(250)}.internal:1`), false))
  assert.ok(ms < 200, `took ${ms} ms`)
})

test('the wildcard matcher agrees with a reference matcher on random input', () => {
  // Reference: dynamic programming over code points, obviously correct and slow.
  const reference = (tokens: Array<string | typeof STAR | typeof ONE>, text: string): boolean => {
    const p = tokens.flatMap((t): Array<string | typeof STAR | typeof ONE> => (typeof t === 'string' ? [...t] : [t]))
    const s = [...text]
    let row = new Array<boolean>(s.length + 1).fill(false)
    row[0] = true
    for (const t of p) {
      const next = new Array<boolean>(s.length + 1).fill(false)
      for (let j = 0; j <= s.length; j++) {
        if (t === STAR) next[j] = row[j]! || (j > 0 && next[j - 1]!)
        else if (j > 0 && row[j - 1] && (t === ONE || t === s[j - 1])) next[j] = true
      }
      row = next
    }
    return row[s.length]!
  }
  let seed = 7
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const alphabet = ['a', 'b', '😀', 'é']
  let matched = 0
  for (let i = 0; i < 20000; i++) {
    const tokens: Array<string | typeof STAR | typeof ONE> = []
    for (let n = Math.floor(random() * 6); n > 0; n--) {
      const r = random()
      tokens.push(r < 0.25 ? STAR : r < 0.4 ? ONE : alphabet[Math.floor(random() * alphabet.length)]!)
    }
    let text = ''
    for (let n = Math.floor(random() * 7); n > 0; n--) text += alphabet[Math.floor(random() * alphabet.length)]
    const expected = reference(tokens, text)
    assert.equal(compileWildcard(tokens)(text), expected, `${JSON.stringify(tokens.map((t) => (t === STAR ? '*' : t === ONE ? '?' : t)))} vs ${JSON.stringify(text)}`)
    if (expected) matched++
  }
  assert.ok(matched > 1000, `only ${matched} positive cases`)
})
