// The audit trail on both backends: group commit, hash chain, verification
// that catches altered, removed, reordered and truncated events, usage, and
// failing closed while the store is away.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import { canonicalJson } from '../../engine/bundle-integrity.js'
import { AuditUnavailableError, AuditWriter } from '../../store/audit-log.js'
import { listSessions, outcomesByEvent, queryEvents, verifyAudit } from '../../store/audit-read.js'
import { fuzzOptions } from '../helpers/fuzz-options.js'
import { prng } from '../helpers/prng.js'
import { BACKENDS } from './backends.js'

/** Characters that JSON, PostgreSQL text and jsonb each treat specially. */
const CHARACTERS = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u001f', '\u007f', '\u2028', 'é', '€', '😀', '\uD800', '\uDFFF', '\0', '{', ':', ',']

function randomText(random: () => number): string {
  let text = ''
  for (let n = Math.floor(random() * 12); n > 0; n--) text += CHARACTERS[Math.floor(random() * CHARACTERS.length)]
  return text
}

function randomValue(random: () => number, depth: number): unknown {
  const kind = Math.floor(random() * (depth > 0 ? 8 : 6))
  if (kind === 0) return randomText(random)
  if (kind === 1) return Math.floor((random() - 0.5) * 2 ** 53)
  if (kind === 2) return (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)
  if (kind === 3) return random() < 0.5
  if (kind === 4) return null
  if (kind === 5) return Math.floor(random() * 1000)
  if (kind === 6) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth - 1))
  return randomRecord(random, depth - 1)
}

function randomRecord(random: () => number, depth: number): Record<string, unknown> {
  const record: Record<string, unknown> = {}
  for (let n = Math.floor(random() * 5); n > 0; n--) record[randomText(random)] = randomValue(random, depth)
  return record
}

for (const backend of BACKENDS) {
  describe(`audit log (${backend.name})`, () => {
    test('events are committed in groups, chained, and verify', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const commits: Array<{ events: number; seconds: number; sync: boolean }> = []
        const writer = await AuditWriter.open(db, { chain: 'test-chain', flushIntervalMs: 20, onCommit: (commit) => commits.push(commit) })
        const appended = Array.from({ length: 250 }, (_, i) =>
          writer.append({ kind: 'statement', sessionId: `s${i % 3}`, identity: 'ci', resource: 'db', data: { statement: `SELECT ${i}`, nul: 'a\0b', lone: 'x\uD800y' }, usage: { rule: 'p/r' } }, i % 10 === 0 ? 'sync' : 'async'),
        )
        await Promise.all(appended.map((a) => a.durable))
        assert.equal(commits.reduce((sum, c) => sum + c.events, 0), 250, 'every event is reported committed once')
        assert.ok(commits.length < 250, 'events share commits')
        assert.ok(commits.some((c) => c.sync) && commits.every((c) => c.seconds > 0))
        const report = await verifyAudit(db)
        assert.deepEqual(report.problems, [])
        assert.equal(report.events, 250)
        const events = await queryEvents(db, { identity: 'ci', limit: 1000 })
        assert.equal(events.length, 250)
        assert.equal(events[0]!.data.nul, 'a\uFFFDb', 'NUL cannot be stored; it is replaced, not lost')
        assert.equal(events[0]!.data.lone, 'x\uFFFDy', 'a lone surrogate cannot be stored either')
        const usage = await db.query<{ requests: string }>('SELECT requests::text FROM gatehouse.identity_usage WHERE identity = $1', ['ci'])
        assert.equal(usage[0]?.requests, '250')
        const rules = await db.query<{ uses: string }>('SELECT uses::text FROM gatehouse.rule_usage WHERE rule = $1 AND identity = $2', ['p/r', 'ci'])
        assert.equal(rules[0]?.uses, '250')
        assert.equal((await listSessions(db, {})).length, 3)
        await writer.close()
        // A writer reopened on the same chain continues it.
        const again = await AuditWriter.open(db, { chain: 'test-chain' })
        await again.append({ kind: 'statement', data: {} }, 'sync').durable
        await again.close()
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('an event still queued takes its outcome in; one already written does not', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'amend', flushIntervalMs: 60_000 })
        const queued = writer.append({ kind: 'statement', identity: 'ci', data: { statement: 'SELECT 1' } }, 'async')
        assert.equal(writer.amend(queued.id, { outcome: 'SELECT 1', rows: 1 }), true)
        const written = writer.append({ kind: 'statement', identity: 'ci', data: { statement: 'UPDATE t SET x = 1' } }, 'sync')
        await written.durable
        assert.equal(writer.amend(written.id, { outcome: 'UPDATE 1' }), false, 'a written event is final')
        assert.equal(writer.amend('evt_unknown', { outcome: 'x' }), false)
        await writer.close()
        const events = await queryEvents(db, { identity: 'ci', limit: 10 })
        assert.deepEqual(events.map((e) => e.data), [{ statement: 'SELECT 1', outcome: 'SELECT 1', rows: 1 }, { statement: 'UPDATE t SET x = 1' }])
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('verification detects altered, removed, reordered and truncated events', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'c' })
        for (let i = 0; i < 10; i++) await writer.append({ kind: 'statement', identity: 'ci', data: { i } }, 'sync').durable
        await writer.close()
        const problems = async () => (await verifyAudit(db)).problems.map((p) => `${p.seq}: ${p.problem}`)
        assert.deepEqual(await problems(), [])

        // The stored text is what was hashed: any other byte is an alteration, even one that means the same.
        await db.query(`UPDATE gatehouse.audit_events SET body = '{"i":99}' WHERE seq = 3`)
        assert.match((await problems()).join('\n'), /^3: content does not match its hash/m)
        await db.query(`UPDATE gatehouse.audit_events SET body = '{"i": 2}' WHERE seq = 3`)
        assert.match((await problems()).join('\n'), /^3: content does not match its hash/m)
        await db.query(`UPDATE gatehouse.audit_events SET body = '{"i":2' WHERE seq = 3`)
        assert.match((await problems()).join('\n'), /^3: content does not match its hash/m)
        assert.match(String((await queryEvents(db, { identity: 'ci' }))[2]!.data.unreadable), /altered/)
        await db.query(`UPDATE gatehouse.audit_events SET body = '{"i":2}' WHERE seq = 3`)
        assert.deepEqual(await problems(), [])
        // An event as stores before version 9 held it (jsonb data, no text) verifies the same, and is caught the same.
        await db.query('UPDATE gatehouse.audit_events SET data = body::jsonb, body = NULL WHERE seq = 4')
        assert.deepEqual(await problems(), [])
        await db.query(`UPDATE gatehouse.audit_events SET data = '{"i": 98}' WHERE seq = 4`)
        assert.match((await problems()).join('\n'), /^4: content does not match its hash/m)
        await db.query(`UPDATE gatehouse.audit_events SET data = '{"i": 3}' WHERE seq = 4`)
        assert.deepEqual(await problems(), [])

        await db.query('DELETE FROM gatehouse.audit_events WHERE seq = 5')
        assert.match((await problems()).join('\n'), /events 5\.\.5 are missing/)
        // Put it back by rewriting the chain would need every later hash: reordering is detected too.
        await db.query('UPDATE gatehouse.audit_events SET seq = 5 WHERE seq = 6')
        assert.match((await problems()).join('\n'), /does not link to the previous event/)
        await db.query('UPDATE gatehouse.audit_events SET seq = 6 WHERE seq = 5')

        await db.query('DELETE FROM gatehouse.audit_events WHERE seq >= 9')
        assert.match((await problems()).join('\n'), /chain head says 10 events, found 8/)
      } finally {
        await cleanup()
      }
    })

    test('seeded: whatever an event holds, the text stored is the text hashed, and reads back as the jsonb of older stores does', async () => {
      const { seed, count } = fuzzOptions({ seed: 2026_12_06, count: 150 })
      const random = prng(seed)
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'random' })
        for (let i = 0; i < count; i++) writer.append({ kind: 'statement', identity: randomText(random), data: randomRecord(random, 3) }, 'async')
        await writer.close()
        const read = async () => (await queryEvents(db, { limit: count })).map((e) => e.data)
        assert.deepEqual((await verifyAudit(db)).problems, [], `seed ${seed}`)
        const asText = await read()
        // The hash is still the one stores have always held: sha256 of the previous hash and the event's canonical JSON.
        for (const { prevHash, hash, ...event } of await queryEvents(db, { limit: count })) {
          assert.equal(hash, createHash('sha256').update(`${prevHash}\n${canonicalJson(event)}`).digest('hex'), `seed ${seed}`)
        }
        await db.query('UPDATE gatehouse.audit_events SET data = body::jsonb, body = NULL')
        assert.deepEqual((await verifyAudit(db)).problems, [], `seed ${seed}: stored as jsonb`)
        assert.deepEqual(await read(), asText, `seed ${seed}`)
      } finally {
        await cleanup()
      }
    })

    test('fields shared by many events are stored once, read back in place, and verified by their digest', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'shared' })
        const allow = { decision: 'allow', rule: 'app/read', reasons: ['rule `app/read` allows select on `public.orders`'], masks: ['email'], revision: 'r1' }
        const deny = { decision: 'deny', rule: null, reasons: ['no rule allows delete'], masks: [], revision: 'r1' }
        for (let i = 0; i < 30; i++) writer.append({ kind: 'statement', identity: 'ci', data: { statement: `SELECT ${i}` }, shared: i % 3 === 0 ? deny : allow }, 'async')
        // An equal object that is not the same one names the same stored fields.
        await writer.append({ kind: 'statement', identity: 'ci', data: { statement: 'SELECT 30' }, shared: { ...allow } }, 'sync').durable
        await writer.close()
        const stored = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM gatehouse.audit_shared')
        assert.equal(stored[0]!.n, 2)
        const events = await queryEvents(db, { identity: 'ci', limit: 100 })
        assert.deepEqual(events[1]!.data, { ...allow, statement: 'SELECT 1', shared: events[1]!.data.shared })
        assert.equal(events[3]!.data.decision, 'deny')
        const viewed = await db.query<{ rule: string }>("SELECT data->>'rule' AS rule FROM gatehouse.audit_trail WHERE data->>'statement' = 'SELECT 30'")
        assert.deepEqual(viewed, [{ rule: 'app/read' }])
        const problems = async () => (await verifyAudit(db)).problems.map((p) => `${p.chain} ${p.seq}: ${p.problem}`).join('\n')
        assert.equal(await problems(), '')
        // The chain covers the name, the name covers the fields.
        await db.query(`UPDATE gatehouse.audit_shared SET body = replace(body, 'app/read', 'app/write') WHERE body LIKE '%app/read%'`)
        assert.match(await problems(), /shared fields [0-9a-f]{64} do not match their digest[\s\S]*shared 2: names shared fields the store does not hold intact/)
        await db.query(`DELETE FROM gatehouse.audit_shared WHERE body LIKE '%app/write%'`)
        assert.match(await problems(), /^shared 2: names shared fields the store does not hold intact/)
        assert.match(String((await queryEvents(db, { identity: 'ci', limit: 2 }))[1]!.data.unreadable), /shared fields .* missing/)
      } finally {
        await cleanup()
      }
    })

    test("a written event's outcome rides on its session's next event, or becomes an event of its own when none comes in time", async () => {
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'carry', flushIntervalMs: 40 })
        const event = (sessionId: string, statement: string) => ({ kind: 'statement', sessionId, identity: 'ci', data: { statement } })
        const first = writer.append(event('s1', 'UPDATE t SET x = 1'), 'sync')
        await first.durable
        writer.settleOutcome(first.id, { outcome: 'UPDATE 1' }, { sessionId: 's1', identity: 'ci' })
        // Another session's event does not take it; the same session's next one does.
        await writer.append(event('s2', 'SELECT 2'), 'sync').durable
        const second = writer.append(event('s1', 'UPDATE t SET x = 2'), 'sync')
        await second.durable
        writer.settleOutcome(second.id, { outcome: 'UPDATE 3' }, { sessionId: 's1', identity: 'ci' })
        // s1 goes quiet: its last outcome is written on its own after the interval.
        await new Promise((r) => setTimeout(r, 200))
        await writer.flush()
        const third = writer.append(event('s3', 'DELETE FROM t'), 'sync')
        await third.durable
        writer.settleOutcome(third.id, { outcome: 'DELETE 0' }, { sessionId: 's3', identity: 'ci' })
        // A writer that closes writes what it still carries.
        await writer.close()
        const events = await queryEvents(db, { identity: 'ci', limit: 100 })
        assert.deepEqual(
          events.map((e) => [e.kind, e.sessionId, e.data.statement ?? null, e.data.outcomes ?? null, e.data.event ?? null]),
          [
            ['statement', 's1', 'UPDATE t SET x = 1', null, null],
            ['statement', 's2', 'SELECT 2', null, null],
            ['statement', 's1', 'UPDATE t SET x = 2', [{ event: first.id, outcome: 'UPDATE 1' }], null],
            ['statement.outcome', 's1', null, null, second.id],
            ['statement', 's3', 'DELETE FROM t', null, null],
            ['statement.outcome', 's3', null, null, third.id],
          ],
        )
        assert.deepEqual([...outcomesByEvent(events)], [[first.id, 'UPDATE 1'], [second.id, 'UPDATE 3'], [third.id, 'DELETE 0']])
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('verification while a writer commits sees one consistent snapshot, not a chain moving under it', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const writer = await AuditWriter.open(db, { chain: 'live', flushIntervalMs: 1 })
        let done = false
        const load = (async () => {
          for (let i = 0; i < 300; i++) await writer.append({ kind: 'statement', data: { i } }, 'sync').durable
        })().finally(() => (done = true))
        const reports = []
        while (!done) {
          reports.push(await verifyAudit(db))
          await new Promise((r) => setTimeout(r, 5)) // the embedded store answers without leaving the microtask queue: let the writer in
        }
        await load
        await writer.close()
        assert.ok(reports.length > 1, 'verified while the writer was committing')
        assert.deepEqual(reports.flatMap((r) => r.problems), [])
      } finally {
        await cleanup()
      }
    })

    test('a failing store refuses new events, keeps what it holds, and recovers', async () => {
      const { db, cleanup } = await backend.open()
      try {
        let healthChanges: boolean[] = []
        const writer = await AuditWriter.open(db, { chain: 'outage', flushIntervalMs: 10, onHealthChange: (h) => healthChanges.push(h) })
        await writer.append({ kind: 'statement', data: { n: 1 } }, 'sync').durable
        // Make every insert fail, as an unreachable store would.
        await db.query('ALTER TABLE gatehouse.audit_events RENAME TO audit_events_away')
        const failing = writer.append({ kind: 'statement', data: { n: 2 } }, 'sync')
        await assert.rejects(failing.durable, AuditUnavailableError)
        assert.equal(writer.healthy, false)
        assert.throws(() => writer.append({ kind: 'statement', data: { n: 3 } }, 'async'), AuditUnavailableError)
        await db.query('ALTER TABLE gatehouse.audit_events_away RENAME TO audit_events')
        for (let i = 0; i < 100 && !writer.healthy; i++) await new Promise((r) => setTimeout(r, 100))
        assert.equal(writer.healthy, true)
        assert.deepEqual(healthChanges, [false, true])
        await writer.append({ kind: 'statement', data: { n: 4 } }, 'sync').durable
        await writer.close()
        const events = await queryEvents(db, {})
        assert.deepEqual(events.map((e) => e.data.n), [1, 2, 4], 'the event that failed once was kept and written')
        assert.deepEqual((await verifyAudit(db)).problems, [])
        healthChanges = []
      } finally {
        await cleanup()
      }
    })
  })
}
