// Which lines of a comment are commands: exact, alone on a line of plain text
// in a top-level paragraph, as CommonMark renders it; anything else (quotes
// with their lazy continuation lines, code, HTML blocks and comments, lists,
// headings, emphasis) is text. Random input never throws.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commandInLongComment, MAX_COMMENT_CHARS, MAX_PARSED_CHARS, parseCommands } from '../../bot/commands/parse.js'

const CASES: Array<[string, string[]]> = [
  ['/approve', ['approve']],
  ['  /approve  ', ['approve']],
  ['LGTM\r\n/approve\r\n', ['approve']],
  ['/approve cancel', ['approve-cancel']],
  ['/deny\n/hold\n/unhold', ['deny', 'hold', 'unhold']],
  ['/approve  cancel', []],
  ['/approve please', []],
  ['/APPROVE', []],
  ['please /approve', []],
  ['`/approve`', []],
  ['> /approve', []],
  ['  > > /approve', []],
  ['    /approve', []],
  ['\t/approve', []],
  ['```\n/approve\n```', []],
  ['~~~~\n/approve\n```\n/approve\n~~~~\n/deny', ['deny']],
  ['```\n/approve\n', []],
  ['````\n```\n/approve\n````\n/hold', ['hold']],
  ['/approve\u200b', []],
  ['> text\n/approve', []],
  ['> text\n> more\n/approve\n\n/deny', ['deny']],
  ['<!--\n/approve\n-->', []],
  ['text <!--\n/approve\n-->', []],
  ['<pre>\n/approve\n</pre>', []],
  ['<details>\n/approve\n</details>', []],
  ['/approve <!-- hidden -->', []],
  ['*/approve*', []],
  ['[/approve](https://example.test)', []],
  ['- /approve', []],
  ['1. /approve', []],
  ['# /approve', []],
  ['/approve\n---', []],
  ['text\n    /approve', ['approve']],
  ['hard break  \n/approve', ['approve']],
  ['\\/approve', []],
  ['&#47;approve', []],
  ['&#x2F;deny', []],
  ['__proto__', []],
  ['constructor', []],
]

test('commands are exact lines outside quotes and code', () => {
  for (const [body, expected] of CASES) assert.deepEqual(parseCommands(body), expected, JSON.stringify(body))
})

test('bodies over the parsed limit and non-strings are not read; a long one with a command is recognised as such', () => {
  assert.deepEqual(parseCommands(`/approve\n${'x'.repeat(MAX_COMMENT_CHARS)}`), [])
  // A body the parser would take minutes over is not parsed at all.
  const slow = `/approve\n\n${'*a'.repeat(MAX_PARSED_CHARS)}`
  assert.deepEqual(parseCommands(slow), [])
  assert.equal(commandInLongComment(slow), 'approve')
  assert.equal(commandInLongComment(`${'x'.repeat(MAX_PARSED_CHARS)}\n/approve please`), undefined)
  assert.equal(commandInLongComment('/approve'), undefined, 'short enough to be parsed')
  assert.deepEqual(parseCommands(`${'x'.repeat(MAX_PARSED_CHARS - 9)}\n/approve`), ['approve'])
  assert.deepEqual(parseCommands(undefined), [])
  assert.deepEqual(parseCommands({ body: '/approve' }), [])
})

test('random input never throws', () => {
  const alphabet = ['/approve', '/deny', '>', '```', '~~~', ' ', '\t', '\n', '\r\n', 'cancel', 'x', '`', '<!--', '-->', '<pre>', '*', '- ', '\\']
  let seed = 42
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31)
  for (let i = 0; i < 2000; i++) {
    const body = Array.from({ length: next() % 40 }, () => alphabet[next() % alphabet.length]).join('')
    const commands = parseCommands(body)
    assert.ok(Array.isArray(commands))
  }
})
