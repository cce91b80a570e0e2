// Runs the SSH classification corpus (test/cases/ssh/*.yaml). Each file has a
// `kind`; exec, path and forwarding cases list exactly which of the file's
// patterns match (no more, no fewer), checked twice: with the compiled
// matchers alone, and as a decision by the real engine (createEngine +
// decideSsh, one allow rule per pattern), so a passing case means the gateway
// would decide the same.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { decideSsh } from '../../../engine/requests.js'
import { classifySsh, type SshChannelRequest } from '../../../engine/ssh/classify.js'
import { compileExecPattern, compileForwardPattern, compileListenPattern, compilePathPattern, type PatternResult } from '../../../engine/ssh/patterns.js'
import { shellWords } from '../../../engine/ssh/shell-words.js'
import type { SshOperation } from '../../../engine/types.js'
import { engineWithRules } from './helpers.js'

const CASES_DIR = join(import.meta.dirname, '../../cases/ssh')
const context = { time: new Date('2026-12-01T10:00:00Z') }

type CommandText = string | { prefix?: string; repeat: string; times: number; suffix?: string }

interface ExecCase {
  name: string
  command: CommandText
  argv?: string[]
  argc?: number
  shellSyntax?: boolean
  construct?: string
  position?: number
  matches?: string[]
  error?: { code: string; position?: number }
}

function commandText(c: CommandText): string {
  return typeof c === 'string' ? c : `${c.prefix ?? ''}${c.repeat.repeat(c.times)}${c.suffix ?? ''}`
}

function compiled<T>(result: PatternResult<T>, pattern: string): T {
  assert.ok(result.ok, `pattern \`${pattern}\` does not compile: ${JSON.stringify(result)}`)
  return result.match
}

function assertSameSet(actual: string[], expected: string[], label: string): void {
  assert.deepEqual([...actual].sort(), [...expected].sort(), label)
}

function decidedBy(engine: ReturnType<typeof engineWithRules>, request: SshChannelRequest): string | null {
  const decision = decideSsh(engine, { identity: 'bot', resource: 'host', request, context })
  return decision.effect === 'allow' ? decision.rule : null
}

const files = readdirSync(CASES_DIR).filter((f) => f.endsWith('.yaml')).sort()

test('the corpus is not empty', () => {
  assert.ok(files.length >= 6, `only ${files.length} corpus files`)
})

for (const file of files) {
  const doc = parse(readFileSync(join(CASES_DIR, file), 'utf8')) as { kind: string; patterns?: string[]; cases: unknown[] }
  describe(file, () => {
    switch (doc.kind) {
      case 'exec': return execCases(doc.patterns ?? [], doc.cases as ExecCase[])
      case 'transfers': return transferCases(doc.cases as TransferCase[])
      case 'channels': return channelCases(doc.cases as ChannelCase[])
      case 'paths': return pathCases(doc.patterns ?? [], doc.cases as PathCase[])
      case 'forward': return forwardCases(doc.patterns ?? [], doc.cases as ForwardCase[])
      case 'pattern-errors': return patternErrorCases(doc.cases as PatternErrorCase[])
      default: test('kind', () => assert.fail(`unknown corpus kind \`${doc.kind}\``))
    }
  })
}

function execCases(patterns: string[], cases: ExecCase[]): void {
  const matchers = patterns.map((p) => ({ pattern: p, match: compiled(compileExecPattern(p), p) }))
  // One allow rule per pattern, named by its index.
  const engines = patterns.map((p, i) => engineWithRules([{ name: `r${i}`, exec: [p] }]))
  for (const c of cases) {
    test(c.name, () => {
      const command = commandText(c.command)
      const words = shellWords(command)
      if (c.error) {
        assert.equal(words.ok, false, `expected error ${c.error.code}, got ${JSON.stringify(words).slice(0, 300)}`)
        if (words.ok) return
        assert.equal(words.error.code, c.error.code, words.error.message)
        if (c.error.position !== undefined) assert.equal(words.error.position, c.error.position)
        const classified = classifySsh({ type: 'exec', command })
        assert.equal(classified.ok, false)
        for (const engine of engines) assert.equal(decidedBy(engine, { type: 'exec', command }), null, 'an error must deny')
        return
      }
      assert.ok(words.ok, `expected words, got ${JSON.stringify(words).slice(0, 300)}`)
      assert.equal(typeof c.shellSyntax, 'boolean', 'a case states shellSyntax')
      assert.ok(c.matches, 'a case states which patterns match')
      assert.equal(words.shellSyntax, c.shellSyntax, `shellSyntax (${words.shellSyntax ? words.reason : 'none'})`)
      if (words.shellSyntax) {
        if (c.construct) assert.equal(words.construct, c.construct, words.reason)
        if (c.position !== undefined) assert.equal(words.position, c.position, words.reason)
      }
      if (c.argv) assert.deepEqual(words.argv, c.argv)
      if (c.argc !== undefined) assert.equal(words.argv.length, c.argc)

      const byMatcher = matchers.filter((m) => !words.shellSyntax && m.match(words.argv)).map((m) => m.pattern)
      assertSameSet(byMatcher, c.matches, 'patterns matching the argv')
      const byEngine = patterns.filter((_, i) => decidedBy(engines[i]!, { type: 'exec', command }) !== null)
      assertSameSet(byEngine, c.matches, 'patterns whose rule the engine applies')
    })
  }
}

interface TransferCase {
  name: string
  command: string
  ops: string[]
  argv?: string[]
  shellSyntax?: boolean
}

function transferCases(cases: TransferCase[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const result = classifySsh({ type: 'exec', command: c.command })
      assert.ok(result.ok, JSON.stringify(result))
      const ops = result.operations.map((op) => (op.action === 'exec' ? 'exec' : `${op.action} ${op.path}`))
      assert.deepEqual(ops, c.ops)
      for (const op of result.operations) {
        assert.equal(op.command, c.command)
        if (op.action === 'exec') {
          assert.equal(typeof c.shellSyntax, 'boolean', 'an exec case states shellSyntax')
          assert.equal(op.shellSyntax, c.shellSyntax)
        } else if (c.argv) assert.deepEqual(op.argv, c.argv)
      }
    })
  }
}

interface ChannelCase {
  name: string
  request: SshChannelRequest
  operations?: SshOperation[]
  error?: string
}

function channelCases(cases: ChannelCase[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const result = classifySsh(c.request)
      if (c.error) {
        assert.equal(result.ok, false, JSON.stringify(result))
        if (!result.ok) assert.equal(result.error.code, c.error, result.error.message)
        return
      }
      assert.ok(result.ok, JSON.stringify(result))
      assert.deepEqual(result.operations, c.operations)
    })
  }
}

interface PathCase {
  path: string
  normalized: string
  matches: string[]
}

function pathCases(patterns: string[], cases: PathCase[]): void {
  const matchers = patterns.map((p) => ({ pattern: p, match: compiled(compilePathPattern(p), p) }))
  const engines = patterns.map((p, i) => engineWithRules([{ name: `r${i}`, sftp: { read: [p], write: [p] } }]))
  for (const c of cases) {
    test(`path \`${c.path}\``, () => {
      for (const operation of ['read', 'write'] as const) {
        const result = classifySsh({ type: 'sftp', operation, path: c.path })
        assert.ok(result.ok, JSON.stringify(result))
        assert.deepEqual(result.operations, [{ action: `sftp-${operation}`, path: c.normalized }])
        const byEngine = patterns.filter((_, i) => decidedBy(engines[i]!, { type: 'sftp', operation, path: c.path }) !== null)
        assertSameSet(byEngine, c.matches, `patterns whose rule the engine applies to a ${operation}`)
      }
      // Matchers normalise too, so the raw path and the normalised one agree.
      assertSameSet(matchers.filter((m) => m.match(c.normalized)).map((m) => m.pattern), c.matches, 'patterns matching the normalised path')
      assertSameSet(matchers.filter((m) => m.match(c.path)).map((m) => m.pattern), c.matches, 'patterns matching the raw path')
    })
  }
}

interface ForwardCase {
  host: string
  port: number
  target?: string
  matches?: string[]
  error?: string
}

function forwardCases(patterns: string[], cases: ForwardCase[]): void {
  const matchers = patterns.map((p) => ({ pattern: p, match: compiled(compileForwardPattern(p), p) }))
  const engines = patterns.map((p, i) => engineWithRules([{ name: `r${i}`, forward: [p] }]))
  for (const c of cases) {
    test(`forward to \`${c.host}\` port ${c.port}`, () => {
      const request: SshChannelRequest = { type: 'forward', host: c.host, port: c.port }
      const result = classifySsh(request)
      if (c.error) {
        assert.equal(result.ok, false, JSON.stringify(result))
        if (!result.ok) assert.equal(result.error.code, c.error)
        for (const engine of engines) assert.equal(decidedBy(engine, request), null)
        return
      }
      assert.ok(result.ok, JSON.stringify(result))
      assert.deepEqual(result.operations, [{ action: 'forward', target: c.target }])
      assertSameSet(matchers.filter((m) => m.match(c.target!)).map((m) => m.pattern), c.matches ?? [], 'patterns matching the target')
      assertSameSet(patterns.filter((_, i) => decidedBy(engines[i]!, request) !== null), c.matches ?? [], 'patterns whose rule the engine applies')
    })
  }
}

interface PatternErrorCase {
  type: 'exec' | 'path' | 'forward' | 'listen'
  pattern: string
  code?: string
  position?: number
}

function patternErrorCases(cases: PatternErrorCase[]): void {
  const compilers = { exec: compileExecPattern, path: compilePathPattern, forward: compileForwardPattern, listen: compileListenPattern }
  for (const c of cases) {
    test(`${c.type} pattern ${JSON.stringify(c.pattern)}${c.code ? ` is refused with ${c.code}` : ' is accepted'}`, () => {
      const result = compilers[c.type](c.pattern)
      if (!c.code) {
        assert.ok(result.ok, JSON.stringify(result))
        return
      }
      assert.equal(result.ok, false, `expected ${c.code}`)
      if (result.ok) return
      assert.equal(result.error.code, c.code, result.error.message)
      if (c.position !== undefined) assert.equal(result.error.position, c.position, result.error.message)
      assert.ok(result.error.message.length > 0 && !result.error.message.includes('\n'), 'one-line message')
    })
  }
}
