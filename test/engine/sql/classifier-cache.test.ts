// The cached classifier: same answers as classifySql, bounded, frozen, and
// never answering EXECUTE (or recording PREPARE) from the cache without the session.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { classifySql, createSqlClassifier, createSqlSession, loadSqlParser } from '../../../engine/sql/index.js'
import type { SqlClassification } from '../../../engine/types.js'

before(async () => {
  await loadSqlParser()
})

const ops = (result: SqlClassification): string[][] => {
  assert.ok(result.ok, JSON.stringify(result))
  return result.statements.map((s) => s.operations.map((op) => (op.object ? `${op.action} ${op.object}` : op.action)))
}

test('repeated classification returns equal results, the same as classifySql', () => {
  const classifier = createSqlClassifier({ cacheSize: 10 })
  const sql = "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d, pg_sleep(1); SELECT 'x' FROM u"
  const first = classifier.classify(sql, { defaultSchema: 'public' })
  const second = classifier.classify(sql, { defaultSchema: 'public' })
  assert.deepEqual(second, first)
  assert.equal(second, first, 'a session-independent hit returns the cached value itself')
  const { shape, ...classified } = first as Extract<SqlClassification, { ok: true }>
  assert.deepEqual(classified, classifySql(sql, { defaultSchema: 'public' }))
  assert.equal(typeof shape, 'string', 'a session-independent result names its shape, the key decisions are cached by')
  assert.equal(classifier.size, 1)
})

test('the default schema is part of the key', () => {
  const classifier = createSqlClassifier()
  assert.deepEqual(ops(classifier.classify('SELECT * FROM t', { defaultSchema: 'a' })), [['select a.t']])
  assert.deepEqual(ops(classifier.classify('SELECT * FROM t', { defaultSchema: 'b' })), [['select b.t']])
  assert.equal(classifier.size, 2)
})

test('cached results are frozen, so one caller cannot change another caller\'s answer', () => {
  const classifier = createSqlClassifier()
  const result = classifier.classify('DELETE FROM t', { defaultSchema: 'public' })
  assert.ok(result.ok)
  assert.throws(() => result.statements[0]!.operations.pop(), TypeError)
  assert.throws(() => {
    ;(result.statements[0]!.operations[0] as { action: string }).action = 'select'
  }, TypeError)
  assert.throws(() => {
    ;(result.statements[0] as { readOnly: boolean }).readOnly = true
  }, TypeError)
  assert.deepEqual(ops(classifier.classify('DELETE FROM t', { defaultSchema: 'public' })), [['delete public.t']])
})

test('the cache is bounded and evicts the least recently used entry', () => {
  const classifier = createSqlClassifier({ cacheSize: 3 })
  const c = (sql: string): SqlClassification => classifier.classify(sql, { defaultSchema: 'public' })
  const a = c('SELECT * FROM a')
  c('SELECT * FROM b')
  c('SELECT * FROM c')
  assert.equal(c('SELECT * FROM a'), a, 'a hit refreshes a')
  c('SELECT * FROM d') // evicts b, the least recently used
  assert.equal(classifier.size, 3)
  assert.equal(c('SELECT * FROM a'), a, 'a survived')
  const b1 = c('SELECT * FROM b')
  assert.notEqual(b1, undefined)
  assert.equal(c('SELECT * FROM b'), b1)
  for (let i = 0; i < 100; i++) c(`SELECT ${i}`)
  assert.equal(classifier.size, 3)
  classifier.clear()
  assert.equal(classifier.size, 0)
})

test('long texts are classified but not cached', () => {
  const classifier = createSqlClassifier({ maxCachedLength: 50 })
  const long = `SELECT * FROM t WHERE a IN (${Array.from({ length: 30 }, (_, i) => i).join(',')})`
  assert.deepEqual(ops(classifier.classify(long, { defaultSchema: 'public' })), [['select public.t']])
  assert.equal(classifier.size, 0)
})

test('a cache size of 0 disables caching', () => {
  const classifier = createSqlClassifier({ cacheSize: 0 })
  assert.deepEqual(ops(classifier.classify('SELECT 1', { defaultSchema: 'public' })), [['select']])
  assert.equal(classifier.size, 0)
})

test('syntax errors are cached as errors', () => {
  const classifier = createSqlClassifier()
  const first = classifier.classify('SELEC 1', { defaultSchema: 'public' })
  assert.ok(!first.ok && first.error.code === 'sql.syntax')
  assert.equal(classifier.classify('SELEC 1', { defaultSchema: 'public' }), first)
})

test('EXECUTE is resolved against each caller\'s session, even from the cache', () => {
  const classifier = createSqlClassifier()
  const reader = createSqlSession()
  const writer = createSqlSession()
  classifier.classify('PREPARE p AS SELECT * FROM orders', { defaultSchema: 'public', session: reader })
  classifier.classify('PREPARE p AS DELETE FROM orders', { defaultSchema: 'public', session: writer })
  // Same text, same cache entry, different sessions.
  assert.deepEqual(ops(classifier.classify('EXECUTE p', { defaultSchema: 'public', session: reader })), [['select public.orders']])
  assert.deepEqual(ops(classifier.classify('EXECUTE p', { defaultSchema: 'public', session: writer })), [['delete public.orders']])
  assert.deepEqual(ops(classifier.classify('EXECUTE p', { defaultSchema: 'public', session: createSqlSession() }))[0]!, ['other'])
  assert.deepEqual(ops(classifier.classify('EXECUTE p', { defaultSchema: 'public' }))[0]!, ['other'])
})

test('PREPARE records into the session on a cache hit too', () => {
  const classifier = createSqlClassifier()
  const first = createSqlSession()
  const second = createSqlSession()
  const sql = 'PREPARE ins AS INSERT INTO t VALUES (1)'
  classifier.classify(sql, { defaultSchema: 'public', session: first })
  classifier.classify(sql, { defaultSchema: 'public', session: second })
  assert.equal(classifier.size, 1)
  for (const session of [first, second]) {
    const recorded = session.prepared.get('ins')
    assert.ok(recorded, 'recorded')
    assert.equal(recorded.kind, 'InsertStmt')
    assert.deepEqual(recorded.operations, [{ action: 'insert', object: 'public.t' }])
    assert.equal(recorded.readOnly, false)
  }
})

test('DEALLOCATE served from the cache still forgets in the session', () => {
  const classifier = createSqlClassifier()
  const session = createSqlSession()
  for (let i = 0; i < 2; i++) {
    classifier.classify('PREPARE q AS SELECT 1', { defaultSchema: 'public', session })
    assert.ok(session.prepared.has('q'))
    classifier.classify('DEALLOCATE q', { defaultSchema: 'public', session })
    assert.equal(session.prepared.has('q'), false)
  }
})

test('a hit on a PREPARE/EXECUTE string gives fresh statements for EXECUTE each time', () => {
  const classifier = createSqlClassifier()
  const sql = 'PREPARE z AS UPDATE t SET a = 1; EXECUTE z'
  const one = classifier.classify(sql, { defaultSchema: 'public', session: createSqlSession() })
  const two = classifier.classify(sql, { defaultSchema: 'public', session: createSqlSession() })
  assert.deepEqual(one, two)
  assert.deepEqual(ops(two), [['update public.t'], ['update public.t']])
})
