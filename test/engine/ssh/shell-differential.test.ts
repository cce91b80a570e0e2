// The contract of shellWords, checked against the real shells: for every
// command it reports without shell syntax, the argv is exactly what dash
// (/bin/sh) and bash build. Each command is run as `sh -c "printf '%s\0'
// <command>"`: the program name becomes printf's first argument, so every
// word is printed, NUL-separated. Command position (reserved words,
// assignments, which only count first) is checked with bash, where an
// unknown program name lands in command_not_found_handle with its argv.
// Commands come from a seeded generator mixing quotes, escapes, line
// continuations, Unicode and (sometimes) shell syntax, plus the corpus.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { shellWords } from '../../../engine/ssh/shell-words.js'
import { bashCommandArgv, generateCommand, pick, prng, shellRejects, shellSplit, SHELLS } from './helpers.js'

function corpusCommands(): string[] {
  const dir = join(import.meta.dirname, '../../cases/ssh')
  const out: string[] = []
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const doc = parse(readFileSync(join(dir, f), 'utf8')) as { kind: string; cases: Array<{ command?: unknown }> }
    if (doc.kind !== 'exec' && doc.kind !== 'transfers') continue
    for (const c of doc.cases) if (typeof c.command === 'string' && !c.command.includes('\0')) out.push(c.command)
  }
  return out
}

const GENERATED = 700
const commands = [...corpusCommands(), ...Array.from({ length: GENERATED }, (_, i) => generateCommand(prng(0x5eed + i)))]

/** Generated commands with a stray quote dropped in somewhere. */
const strayQuotes = Array.from({ length: 200 }, (_, i) => {
  const random = prng(0x9a0 + i)
  const command = generateCommand(random, 0)
  const at = Math.floor(random() * (command.length + 1))
  return command.slice(0, at) + pick(random, ["'", '"']) + command.slice(at)
})

describe('shellWords agrees with the real shells', { skip: SHELLS.length === 0 ? 'no /bin/sh or bash on this machine' : false }, () => {
  for (const shell of SHELLS) {
    test(`argv without shell syntax is what ${shell} builds`, () => {
      let compared = 0
      for (const command of commands) {
        const words = shellWords(command)
        if (!words.ok || words.shellSyntax || words.argv.length === 0) continue
        const actual = shellSplit(shell, command)
        assert.deepEqual(words.argv, actual, `${shell} splits ${JSON.stringify(command)} differently`)
        compared++
      }
      for (const command of strayQuotes) {
        // The other way round: what the shell accepts as literal words, shellWords splits the same.
        const words = shellWords(command)
        if (!words.ok || words.shellSyntax || words.argv.length === 0) continue
        assert.deepEqual(words.argv, shellSplit(shell, command), `${shell} splits ${JSON.stringify(command)} differently`)
      }
      // A generator that only produced shell syntax would prove nothing.
      assert.ok(compared >= 300, `only ${compared} commands compared`)
    })

    test(`an unterminated quote is a syntax error to ${shell} too`, () => {
      let compared = 0
      for (const command of [...commands, ...strayQuotes]) {
        const words = shellWords(command)
        if (words.ok || words.error.code !== 'ssh.unterminated_quote') continue
        assert.ok(shellRejects(shell, command), `${shell} accepts ${JSON.stringify(command)}`)
        compared++
      }
      assert.ok(compared >= 20, `only ${compared} commands compared`)
    })
  }

  test('argv[0] in command position is what bash builds (reserved words, assignments)', { skip: SHELLS.includes('/bin/bash') ? false : 'no bash' }, () => {
    const random = prng(0xc0de)
    // Program names no shell has as a builtin, quoted in every way, and
    // quoted forms of the words that are special in command position.
    const firsts = [
      'zzcmd', "'zz cmd'", 'zz\\ cmd', '"zz"cmd', "'if'", '\\if', 'i\\f', '"!"', "'{'", '\\}', "'time'", "'FOO'=bar", 'FOO\\=bar',
      'FOO"=bar"', "'[['", 'zz=', '"zz;"', 'zz\\\ncmd', "''", '"function"', 'zz\\~', "'#'zz", 'zzé😀',
    ]
    let compared = 0
    for (let i = 0; i < 300; i++) {
      const command = `${pick(random, firsts)} ${generateCommand(prng(0xc0de + i), 0)}`
      const words = shellWords(command)
      if (!words.ok || words.shellSyntax || words.argv[0] === '' || words.argv[0]!.includes('/')) continue
      assert.deepEqual(words.argv, bashCommandArgv(command), `bash runs ${JSON.stringify(command)} differently`)
      compared++
    }
    assert.ok(compared >= 150, `only ${compared} commands compared`)
  })

  test('words flagged only in command position are flagged there', () => {
    for (const command of ['if x', '! x', '{ x', 'FOO=1 x', 'time x', 'A+=1 x', 'function f']) {
      const words = shellWords(command)
      assert.ok(words.ok && words.shellSyntax, command)
    }
    for (const command of ['x if', 'x !', 'x {', 'x FOO=1', 'x time']) {
      const words = shellWords(command)
      assert.ok(words.ok && !words.shellSyntax, command)
    }
  })
})
