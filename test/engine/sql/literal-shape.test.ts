// Statements that differ only in numbers share one cache entry, and keep
// their own text; anything that differs in a string, identifier, comment or
// dollar-quoted body does not.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { createSqlClassifier, loadSqlParser } from '../../../engine/sql/index.js'
import { literalShape } from '../../../engine/sql/literal-shape.js'

before(() => loadSqlParser())

test('numeric literals lose their digits; nothing else changes', () => {
  const cases: Array<[string, string]> = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = 12345;', 'SELECT abalance FROM pgbench_accounts WHERE aid = 00000;'],
    ["SELECT 't1', \"t2\" FROM t3 WHERE x = 1.5e+10 AND y = 0x1F -- 99\n", "SELECT 't1', \"t2\" FROM t3 WHERE x = 0.0e+00 AND y = 0x0F -- 99\n"],
    ['SELECT $$ 123 $$, $a$ 5 $a$, 7, $1', 'SELECT $$ 123 $$, $a$ 5 $a$, 0, $1'],
    ['/* 1 /* 2 */ 3 */ SELECT 4', '/* 1 /* 2 */ 3 */ SELECT 0'],
    ["SELECT 'it''s 5', 6", "SELECT 'it''s 5', 0"],
  ]
  for (const [sql, shape] of cases) {
    assert.equal(literalShape(sql), shape, sql)
    assert.equal(literalShape(sql).length, sql.length)
  }
})

test('what the lexer is not sure about is its own shape', () => {
  for (const sql of ["SELECT E'\\' 5', 6", "SELECT 'unterminated 5", 'SELECT /* open 5', 'SELECT $x$ 5']) assert.equal(literalShape(sql), sql)
})

test('the cache serves one shape to many texts, each with its own statement text', () => {
  const classifier = createSqlClassifier({ cacheSize: 10 })
  const first = classifier.classify('SELECT * FROM t WHERE id = 1; DELETE FROM u WHERE id = 22', { defaultSchema: 'public' })
  const second = classifier.classify('SELECT * FROM t WHERE id = 7; DELETE FROM u WHERE id = 99', { defaultSchema: 'public' })
  assert.equal(classifier.size, 1)
  assert.ok(first.ok && second.ok)
  assert.deepEqual(second.statements.map((s) => s.text), ['SELECT * FROM t WHERE id = 7', 'DELETE FROM u WHERE id = 99'])
  assert.deepEqual(second.statements.map((s) => s.operations), first.statements.map((s) => s.operations))
  const other = classifier.classify("SELECT table_to_xml('t2', true, false, '')", { defaultSchema: 'public' })
  const another = classifier.classify("SELECT table_to_xml('t1', true, false, '')", { defaultSchema: 'public' })
  assert.ok(other.ok && another.ok)
  assert.notDeepEqual(other.statements[0]!.operations, another.statements[0]!.operations, 'digits in strings are not literals')
  assert.equal(classifier.size, 3)
})
