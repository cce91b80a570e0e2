// The session's model of the server's named objects: what each SQL statement
// does to them, how names are followed to the statement behind a result, and
// what a transaction end or a refused creation leaves.
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { loadSqlParser } from '../../../engine/sql/index.js'
import { NamedObjects, objectEffects, type NamedStatement } from '../../../gateway/postgres/named-objects.js'

interface S extends NamedStatement {
  id: string
}
interface P {
  statement: S
}

before(() => loadSqlParser())

const statement = (id: string, sql = ''): S => ({ id, effects: sql ? objectEffects(sql) : [] })
const created = (id: string) => {
  const s = statement(id)
  return { statement: s, cursor: { statement: s } }
}

describe('objectEffects', () => {
  test('every statement that touches named objects, by position', () => {
    assert.deepEqual(objectEffects('BEGIN; DECLARE k BINARY CURSOR WITH HOLD FOR SELECT 1; FETCH 3 FROM k; MOVE 1 IN k; CLOSE k; CLOSE ALL; COMMIT'), [
      undefined,
      { kind: 'declare', name: 'k', text: 'DECLARE k BINARY CURSOR WITH HOLD FOR SELECT 1', holdable: true, binary: true },
      { kind: 'fetch', name: 'k', move: false },
      { kind: 'fetch', name: 'k', move: true },
      { kind: 'close', name: 'k' },
      { kind: 'close', name: undefined },
      undefined,
    ])
    assert.deepEqual(objectEffects('PREPARE "S 1" AS SELECT 1; EXECUTE "S 1"; DEALLOCATE PREPARE "S 1"; DEALLOCATE ALL; DISCARD ALL; DISCARD PLANS'), [
      { kind: 'prepare', name: 'S 1', text: 'PREPARE "S 1" AS SELECT 1' },
      { kind: 'execute', name: 'S 1' },
      { kind: 'deallocate', name: 'S 1' },
      { kind: 'deallocate', name: undefined },
      { kind: 'discard-all' },
      undefined,
    ])
    assert.deepEqual(objectEffects('DECLARE c NO SCROLL CURSOR FOR SELECT 1'), [{ kind: 'declare', name: 'c', text: 'DECLARE c NO SCROLL CURSOR FOR SELECT 1', holdable: false, binary: false }])
  })

  test('the words inside other statements are not effects', () => {
    assert.deepEqual(objectEffects("SELECT 'fetch all from k' AS declare"), [])
    assert.deepEqual(objectEffects('EXPLAIN EXECUTE s1'), [])
    assert.deepEqual(objectEffects('SELECT 1'), [])
  })
})

describe('NamedObjects', () => {
  test('FETCH and EXECUTE are followed to the statement that produces the rows', () => {
    const objects = new NamedObjects<S, P>(true)
    const prepared = statement('prepared')
    objects.prepare('s1', prepared)
    const declared = statement('declared')
    objects.open('k', { statement: declared })
    assert.equal(objects.rowSource(undefined), 'self')
    assert.equal(objects.rowSource({ kind: 'fetch', name: 'k', move: false }), declared)
    assert.equal(objects.rowSource({ kind: 'fetch', name: 'k', move: true }), 'self', 'MOVE returns no rows')
    assert.equal(objects.rowSource({ kind: 'execute', name: 's1' }), prepared)
    assert.equal(objects.rowSource({ kind: 'fetch', name: 'nowhere', move: false }), undefined)
    // A protocol portal running `FETCH ALL FROM k`, itself read by SQL FETCH: two names to follow.
    objects.open('p', { statement: statement('fetcher', 'FETCH ALL FROM k') })
    assert.equal(objects.rowSource({ kind: 'fetch', name: 'p', move: false }), declared)
    // A chain that loops never resolves.
    objects.open('loop', { statement: statement('loop', 'FETCH ALL FROM loop') })
    assert.equal(objects.rowSource({ kind: 'fetch', name: 'loop', move: false }), undefined)
  })

  test('predicting, a named object in use is not replaced (the server refuses); confirmed, it is', () => {
    const predicted = new NamedObjects<S, P>(false)
    const confirmed = new NamedObjects<S, P>(true)
    for (const objects of [predicted, confirmed]) {
      objects.prepare('s', statement('old'))
      objects.prepare('s', statement('new'))
      objects.prepare('', statement('old'))
      objects.prepare('', statement('new'))
      objects.open('k', { statement: statement('old') })
      objects.open('k', { statement: statement('new') })
    }
    assert.equal(predicted.statement('s')?.id, 'old')
    assert.equal(predicted.portal('k')?.statement.id, 'old')
    assert.equal(predicted.statement('')?.id, 'new', 'the unnamed statement is always replaced')
    assert.equal(confirmed.statement('s')?.id, 'new')
    assert.equal(confirmed.portal('k')?.statement.id, 'new')
  })

  test('a transaction end drops portals but WITH HOLD cursors of a committed transaction', () => {
    const objects = new NamedObjects<S, P>(true)
    objects.open('plain', { statement: statement('plain') })
    objects.open('held', { statement: statement('held') }, true)
    objects.endTransaction(true)
    assert.equal(objects.portal('plain'), undefined)
    assert.equal(objects.portal('held')?.statement.id, 'held')
    objects.open('fresh', { statement: statement('fresh') }, true)
    objects.endTransaction(false)
    assert.equal(objects.portal('fresh'), undefined, 'created in the transaction that rolled back')
    assert.equal(objects.portal('held')?.statement.id, 'held', 'held from an earlier, committed transaction')
  })

  test('SQL effects: PREPARE, DECLARE, DEALLOCATE, CLOSE, DISCARD ALL; a simple Query forgets the unnamed objects', () => {
    const objects = new NamedObjects<S, P>(true)
    const effects = objectEffects('PREPARE a AS SELECT 1; PREPARE b AS SELECT 2; DECLARE c CURSOR FOR SELECT 3; DECLARE d CURSOR FOR SELECT 4')
    effects.forEach((effect, i) => objects.apply(effect, created(`#${i}`)))
    assert.deepEqual([objects.statement('a')?.id, objects.statement('b')?.id, objects.portal('c')?.statement.id, objects.portal('d')?.statement.id], ['#0', '#1', '#2', '#3'])
    for (const effect of objectEffects('DEALLOCATE a; CLOSE c')) objects.apply(effect)
    assert.equal(objects.statement('a'), undefined)
    assert.equal(objects.portal('c'), undefined)
    assert.ok(objects.statement('b') && objects.portal('d'))
    objects.prepare('', statement('unnamed'))
    objects.open('', { statement: statement('unnamed') })
    objects.forgetUnnamed()
    assert.equal(objects.statementCount + objects.portalCount, 2)
    objects.apply({ kind: 'discard-all' })
    assert.equal(objects.statementCount + objects.portalCount, 0)
  })

  test('copyFrom shares the entries but not the maps', () => {
    const a = new NamedObjects<S, P>(true)
    const b = new NamedObjects<S, P>(false)
    const s = statement('s')
    a.prepare('s', s)
    b.copyFrom(a)
    assert.equal(b.statement('s'), s)
    b.deallocate('s')
    assert.equal(a.statement('s'), s)
  })
})
