// Random and mutated input never throws and never hangs, and every answer is
// well formed. Deterministic: seeded PRNG.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classifySsh, type SshChannelRequest } from '../../../engine/ssh/classify.js'
import { SSH_ERROR_CODES, PATTERN_ERROR_CODES } from '../../../engine/ssh/errors.js'
import { compileExecPattern, compileForwardPattern, compilePathPattern } from '../../../engine/ssh/patterns.js'
import { normalizePath } from '../../../engine/ssh/paths.js'
import { shellWords } from '../../../engine/ssh/shell-words.js'
import { SSH_ACTIONS } from '../../../engine/types.js'
import { generateCommand, pick, prng } from './helpers.js'

const SSH_CODES = new Set<string>(Object.values(SSH_ERROR_CODES))
const PATTERN_CODES = new Set<string>(Object.values(PATTERN_ERROR_CODES))
const ACTIONS = new Set<string>(SSH_ACTIONS)
const PIECES = [
  ';', '&&', '|', '$(', ')', '`', "'", '"', '\\', '\n', '\r', '\0', '\ud800', '*', '**', '?', '[', '{a,b}', '~', '#', '=',
  ' ', '\t', 'scp', '-t', '-f', 'rsync', '--server', '--sender', '.', '/', '..', '/var/backups', 'é', '😀', 'a', '-vlogDtpre.iLsfxC',
]

function mutate(random: () => number): string {
  let s = random() < 0.5 ? generateCommand(random, 0.3) : ''
  for (let n = Math.floor(random() * 12); n > 0; n--) {
    const at = Math.floor(random() * (s.length + 1))
    s = s.slice(0, at) + pick(random, PIECES) + (random() < 0.3 ? ' ' : '') + s.slice(at)
  }
  return s
}

test('exec classification never throws and answers well-formed', () => {
  for (let i = 0; i < 20000; i++) {
    const command = mutate(prng(0xf00 + i))
    const result = classifySsh({ type: 'exec', command })
    if (!result.ok) {
      assert.ok(SSH_CODES.has(result.error.code), `unknown code ${result.error.code}`)
      if (result.error.position !== undefined) assert.ok(result.error.position >= 0 && result.error.position <= command.length)
      continue
    }
    assert.ok(result.operations.length > 0)
    for (const op of result.operations) {
      assert.ok(ACTIONS.has(op.action))
      assert.equal(op.command, command)
      if (op.action === 'exec') {
        assert.ok(Array.isArray(op.argv) && typeof op.shellSyntax === 'boolean')
        const words = shellWords(command)
        assert.ok(words.ok)
        if (words.shellSyntax) assert.ok(words.position >= 0 && words.position < command.length && words.reason.length > 0)
      } else {
        assert.ok(op.action === 'sftp-read' || op.action === 'sftp-write', op.action)
        assert.equal(op.path, normalizePath(op.path!), 'a transfer path is normalised')
      }
    }
  }
})

test('pattern compilation never throws; errors carry a known code and an in-range position', () => {
  const compilers = [compileExecPattern, compilePathPattern, compileForwardPattern]
  for (let i = 0; i < 20000; i++) {
    const random = prng(0xbad + i)
    const text = mutate(random)
    for (const compile of compilers) {
      const result = compile(text)
      if (result.ok) {
        // A compiled matcher is total too.
        const matcher = result.match as (x: never) => boolean
        assert.equal(typeof matcher((compile === compileExecPattern ? [text, 'x'] : text) as never), 'boolean')
        continue
      }
      assert.ok(PATTERN_CODES.has(result.error.code), `unknown code ${result.error.code}`)
      const { position } = result.error
      if (position !== undefined) assert.ok(position >= 0 && position <= text.length, `position ${position} in ${JSON.stringify(text)}`)
    }
  }
})

test('other channel requests, malformed ones included, never throw', () => {
  const requests: unknown[] = [
    null, undefined, 42, 'exec', {}, { type: 'exec', command: 42 }, { type: 'subsystem' }, { type: 'sftp', operation: 'delete', path: '/x' },
    { type: 'forward', host: 42, port: '22' }, { type: 'forward', host: 'a', port: 1.5 }, { type: 'forward', host: 'a'.repeat(10000), port: 22 },
    { type: 'sftp', operation: 'read', path: 'x'.repeat(100_000) }, { type: '__proto__' }, { type: 'constructor' },
  ]
  for (const request of requests) {
    const result = classifySsh(request as SshChannelRequest)
    assert.equal(result.ok, false, JSON.stringify(request))
    if (!result.ok) assert.ok(SSH_CODES.has(result.error.code))
  }
})

test('path normalisation is idempotent and never climbs above the root', () => {
  for (let i = 0; i < 20000; i++) {
    const random = prng(0x9a7 + i)
    let path = random() < 0.5 ? '/' : ''
    for (let n = Math.floor(random() * 10); n > 0; n--) path += pick(random, ['a', 'b', '..', '.', '', '/', '//', '/../', 'x.y', '...']) + (random() < 0.7 ? '/' : '')
    const once = normalizePath(path)
    assert.equal(normalizePath(once), once, path)
    if (path.startsWith('/')) assert.ok(once.startsWith('/') && !once.split('/').includes('..'), `${path} → ${once}`)
    else assert.ok(!once.startsWith('/') && !once.split('/').slice(once.split('/').lastIndexOf('..') + 1).includes('..'))
  }
})
