// `gatehouse test`: every case goes through the same engine the gateway runs,
// loaded from the bundle the compiler just produced, so a passing test means
// the gateway would decide the same.
//
// A case without `time` is about the rules, not the calendar: it is decided
// now, with identity expiry left out, so a suite does not start failing on
// the day an identity expires (expiry is `validate`'s finding, weeks ahead).
// A case with `time` is decided exactly as the gateway would at that time.
import { now as clockNow } from '../cli/clock.js'
import { createEngine, type Engine } from '../engine/engine.js'
import { decideSql, decideSsh } from '../engine/requests.js'
import type { SshChannelRequest } from '../engine/ssh/classify.js'
import type { Bundle, Decision } from '../engine/types.js'
import type { Span } from './diagnostics.js'
import type { TestCase, TestSuite } from './resolve.js'

export interface CaseResult {
  suite: string
  name: string
  location: Span
  passed: boolean
  /** What differed, one line each. */
  failures: string[]
  expected: TestCase['expect']
  actual: Decision
}

export interface TestReport {
  results: CaseResult[]
  /** Rule ids that decided at least one case (enforced or in observe mode). */
  exercised: Set<string>
  untested: Array<{ rule: string; source: string }>
  coverage: number
}

export function sshRequestOf(ssh: NonNullable<TestCase['ssh']>): SshChannelRequest {
  if (typeof ssh === 'string') return { type: 'exec', command: ssh }
  if (ssh.shell) return { type: 'shell' }
  if (ssh.sftp?.read) return { type: 'sftp', operation: 'read', path: ssh.sftp.read }
  if (ssh.sftp?.write) return { type: 'sftp', operation: 'write', path: ssh.sftp.write }
  const address = ssh.forward ?? ssh.listen
  if (address !== undefined) {
    const colon = address.lastIndexOf(':')
    return { type: ssh.forward ? 'forward' : 'listen', host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }
  }
  if (ssh.agent) return { type: 'agent' }
  return { type: 'x11' }
}

function decideCase(engine: Parameters<typeof decideSql>[0], c: TestCase, now: Date): Decision {
  const context = { time: c.time ? new Date(c.time) : now, ...(c.source ? { source: c.source } : {}) }
  if (c.sql !== undefined) return decideSql(engine, { identity: c.identity, resource: c.resource, sql: c.sql, context }, { explain: true }).decision
  return decideSsh(engine, { identity: c.identity, resource: c.resource, request: sshRequestOf(c.ssh!), context }, { explain: true })
}

function compare(expected: TestCase['expect'], actual: Decision): string[] {
  const failures: string[] = []
  if (expected.effect !== actual.effect) failures.push(`effect: expected ${expected.effect}, got ${actual.effect}`)
  if (expected.rule !== undefined && expected.rule !== actual.rule) failures.push(`rule: expected ${expected.rule ?? 'none'}, got ${actual.rule ?? 'none'}`)
  if (expected.masks !== undefined) {
    const want = [...expected.masks].sort()
    const got = actual.masks.map((m) => m.id).sort()
    if (want.join('\n') !== got.join('\n')) failures.push(`masks: expected [${want.join(', ')}], got [${got.join(', ')}]`)
  }
  return failures
}

function loadEngine(bundle: Bundle): Engine {
  const built = createEngine(bundle)
  if (!built.ok) throw new Error(`bundle does not load: ${built.errors.join('; ')}`)
  return built.engine
}

function withoutExpiry(bundle: Bundle): Bundle {
  const identities = Object.fromEntries(Object.entries(bundle.identities).map(([name, { expires: _expires, ...identity }]) => [name, identity]))
  return { ...bundle, identities }
}

export function runTests(bundle: Bundle, suites: readonly TestSuite[], now = clockNow()): TestReport {
  const atTime = loadEngine(bundle)
  const timeless = loadEngine(withoutExpiry(bundle))
  const results: CaseResult[] = []
  const exercised = new Set<string>()
  for (const suite of suites) {
    suite.cases.forEach((c, i) => {
      const actual = decideCase(c.time ? atTime : timeless, c, now)
      if (actual.rule) exercised.add(actual.rule)
      if (actual.observed?.rule) exercised.add(actual.observed.rule)
      const failures = compare(c.expect, actual)
      results.push({ suite: suite.name, name: c.name, location: suite.doc.locate(['cases', i, 'name']), passed: failures.length === 0, failures, expected: c.expect, actual })
    })
  }
  const untested = bundle.rules.filter((r) => !exercised.has(r.id)).map((r) => ({ rule: r.id, source: r.source }))
  const coverage = bundle.rules.length === 0 ? 100 : (100 * (bundle.rules.length - untested.length)) / bundle.rules.length
  return { results, exercised, untested, coverage }
}
