import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { dangerousFunction, listDangerousFunctions } from '../../../engine/sql/dangerous-functions.js'
import { classifySql, loadSqlParser } from '../../../engine/sql/index.js'
import { quoteIdent, relationNames, splitQualifiedName, truncateIdentifier } from '../../../engine/sql/names.js'

before(async () => {
  await loadSqlParser()
})

test('quoteIdent quotes only what is ambiguous', () => {
  assert.equal(quoteIdent('orders'), 'orders')
  assert.equal(quoteIdent('_x$1'), '_x$1')
  assert.equal(quoteIdent('Orders'), '"Orders"')
  assert.equal(quoteIdent('a.b'), '"a.b"')
  assert.equal(quoteIdent('say "hi"'), '"say ""hi"""')
  assert.equal(quoteIdent('1abc'), '"1abc"')
})

test('relation names follow PostgreSQL lookup', () => {
  assert.deepEqual(relationNames({ relname: 't' }, 'app'), ['app.t'])
  assert.deepEqual(relationNames({ schemaname: 's', relname: 't' }, 'app'), ['s.t'])
  assert.deepEqual(relationNames({ relname: 'pg_class' }, 'app'), ['pg_catalog.pg_class'])
  assert.deepEqual(relationNames({ relname: 'pg_mine' }, 'app'), ['pg_catalog.pg_mine', 'app.pg_mine'])
  assert.deepEqual(relationNames({ relname: 'pg_mine' }, 'app', true), ['app.pg_mine'])
  assert.deepEqual(relationNames({ relname: 't', relpersistence: 't' }, 'app', true), ['pg_temp.t'])
  assert.deepEqual(relationNames({ relname: 'Weird Name' }, 'My Schema'), ['"My Schema"."Weird Name"'])
})

test('splitQualifiedName reads regclass text', () => {
  assert.deepEqual(splitQualifiedName('Orders'), ['orders'])
  assert.deepEqual(splitQualifiedName(' public . "Orders" '), ['public', 'Orders'])
  assert.deepEqual(splitQualifiedName('"a""b".c'), ['a"b', 'c'])
  assert.deepEqual(splitQualifiedName('db.s.t'), ['db', 's', 't'])
  assert.equal(splitQualifiedName('16385'), undefined)
  assert.equal(splitQualifiedName(''), undefined)
  assert.equal(splitQualifiedName('a..b'), undefined)
  assert.equal(splitQualifiedName('"unterminated'), undefined)
  assert.equal(splitQualifiedName('a.b.c.d'), undefined)
  assert.equal(splitQualifiedName('a b'), undefined)
})

test('identifiers are truncated to 63 bytes at a character boundary', () => {
  assert.equal(truncateIdentifier('a'.repeat(70)), 'a'.repeat(63))
  assert.equal(truncateIdentifier('é'.repeat(40)), 'é'.repeat(31))
  assert.equal(truncateIdentifier('short'), 'short')
})

test('every dangerous function is classified as an operation when called', () => {
  const entries = listDangerousFunctions()
  assert.ok(entries.length > 60, `${entries.length} entries`)
  for (const { name, fn } of entries) {
    const callName = name.endsWith('*') ? `${name.slice(0, -1)}x` : name
    for (const qualifier of ['', 'pg_catalog.']) {
      const result = classifySql(`SELECT ${qualifier}${callName}(1, 2)`, { defaultSchema: 'public' })
      assert.ok(result.ok, callName)
      const statement = result.statements[0]!
      assert.equal(statement.readOnly, false, `${qualifier}${callName} is not read-only`)
      assert.ok(statement.operations.some((op) => op.action !== 'select'), `${qualifier}${callName}: ${JSON.stringify(statement.operations)}`)
    }
    // Qualified with another schema: a user function, unless it is an extension's.
    const other = classifySql(`SELECT myschema.${callName}(1, 2)`, { defaultSchema: 'public' })
    assert.ok(other.ok)
    assert.equal(other.statements[0]!.readOnly, fn.anySchema !== true, `myschema.${callName}`)
  }
})

test('harmless functions are not dangerous', () => {
  for (const name of ['current_setting', 'upper', 'now', 'count', 'lower', 'version', 'pg_backend_pid', 'pg_get_viewdef', 'nextval', 'format']) {
    assert.equal(dangerousFunction(undefined, name), undefined, name)
  }
})
