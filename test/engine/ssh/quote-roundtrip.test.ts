// quoteArgv is what the gateway sends upstream, so it must come back as the
// same argv: through shellWords (with no shell syntax) and through the real
// shells, including in command position. Random argv from a seeded PRNG:
// every printable ASCII character, controls, newlines, quotes, Unicode,
// reserved words and empty words.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { quoteArgv } from '../../../engine/ssh/quote.js'
import { shellWords } from '../../../engine/ssh/shell-words.js'
import { bashCommandArgv, pick, prng, shellSplit, SHELLS } from './helpers.js'

const ASCII = Array.from({ length: 126 }, (_, i) => String.fromCharCode(i + 1))
const EXTRA = ['é', '€', '😀', '；', '\u00a0', '\u200b', "'", "''", '\\', '\n', 'if', '!', '{', '}', '=', '~', '#', '$(id)', '`id`']

function randomWord(random: () => number): string {
  if (random() < 0.05) return ''
  if (random() < 0.05) return pick(random, ['if', 'time', 'for', '!', '{', '}', '[[', 'FOO=bar', '~', '#x', 'function', 'coproc'])
  let word = ''
  for (let n = 1 + Math.floor(random() * 8); n > 0; n--) word += pick(random, random() < 0.8 ? ASCII : EXTRA)
  return word
}

function randomArgv(random: () => number): string[] {
  return Array.from({ length: 1 + Math.floor(random() * 5) }, () => randomWord(random))
}

test('shellWords(quoteArgv(argv)) is argv, with no shell syntax', () => {
  for (let i = 0; i < 5000; i++) {
    const argv = randomArgv(prng(0x0a + i))
    const line = quoteArgv(argv)
    const words = shellWords(line)
    assert.ok(words.ok && !words.shellSyntax, `${JSON.stringify(line)} → ${JSON.stringify(words)}`)
    assert.deepEqual(words.argv, argv, line)
  }
})

test('the real shells split quoteArgv(argv) back into argv', { skip: SHELLS.length === 0 ? 'no shells' : false }, () => {
  let compared = 0
  for (let i = 0; i < 250; i++) {
    const argv = randomArgv(prng(0xb0 + i))
    for (const shell of SHELLS) {
      assert.deepEqual(shellSplit(shell, quoteArgv(argv)), argv, `${shell}: ${quoteArgv(argv)}`)
      compared++
    }
  }
  assert.ok(compared >= 250)
})

test('bash runs quoteArgv(argv) as argv in command position, reserved words included', { skip: SHELLS.includes('/bin/bash') ? false : 'no bash' }, () => {
  const random = prng(0xcafe)
  for (const first of ['if', 'time', '!', '{', 'FOO=bar', '[[', 'function', "it's", 'a b', '~', '#x', 'zz']) {
    const argv = [first, ...randomArgv(random)]
    assert.deepEqual(bashCommandArgv(quoteArgv(argv)), argv, quoteArgv(argv))
  }
})

test('quoting is readable where it can be', () => {
  assert.equal(quoteArgv(['systemctl', 'status', 'orders']), 'systemctl status orders')
  assert.equal(quoteArgv(['journalctl', '--since', '10 min ago']), "journalctl --since '10 min ago'")
  assert.equal(quoteArgv(['printf', "it's"]), "printf 'it'\\''s'")
  assert.equal(quoteArgv(['echo', '', "'"]), "echo '' \\'")
  assert.equal(quoteArgv(['if', 'x']), "'if' x")
  assert.equal(quoteArgv([]), '')
})

test('a NUL cannot be quoted: it is a caller bug, and throws', () => {
  assert.throws(() => quoteArgv(['a\0b']), RangeError)
})
