// Errors are values with a code (and a position for syntax errors), never throws.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { classifySql, createSqlClassifier, loadSqlParser, SQL_ERROR_CODES } from '../../../engine/sql/index.js'
import type { SqlClassification } from '../../../engine/types.js'

before(async () => {
  await loadSqlParser()
  await loadSqlParser() // idempotent
})

function errorCode(result: SqlClassification): string {
  assert.equal(result.ok, false, JSON.stringify(result))
  return result.ok ? '' : result.error.code
}

test('SQL over the default limit of 1 MiB is refused before parsing', () => {
  const big = `SELECT '${'x'.repeat(1024 * 1024)}'`
  assert.equal(errorCode(classifySql(big, { defaultSchema: 'public' })), SQL_ERROR_CODES.tooLarge)
  const fits = `SELECT '${'x'.repeat(1024 * 1024 - 20)}'`
  assert.equal(classifySql(fits, { defaultSchema: 'public' }).ok, true)
})

test('the limit counts UTF-8 bytes, not characters', () => {
  const sql = `SELECT '${'€'.repeat(400)}'` // 409 characters, 1209 bytes
  assert.equal(errorCode(classifySql(sql, { defaultSchema: 'public', maxBytes: 1000 })), SQL_ERROR_CODES.tooLarge)
  assert.equal(classifySql(sql, { defaultSchema: 'public', maxBytes: 1300 }).ok, true)
})

test('the cached classifier applies its own limit', () => {
  const classifier = createSqlClassifier({ maxBytes: 100 })
  assert.equal(errorCode(classifier.classify(`SELECT ${'1,'.repeat(60)}1`, { defaultSchema: 'public' })), SQL_ERROR_CODES.tooLarge)
  assert.equal(classifier.classify('SELECT 1', { defaultSchema: 'public' }).ok, true)
})

test('a lone surrogate is refused: it has no UTF-8 form the server would agree on', () => {
  assert.equal(errorCode(classifySql("SELECT '\ud800'; DELETE FROM t", { defaultSchema: 'public' })), SQL_ERROR_CODES.invalidText)
  assert.equal(classifySql("SELECT '\ud83d\ude00'", { defaultSchema: 'public' }).ok, true)
})

test('a syntax error carries the parser position as a string index', () => {
  const result = classifySql('SELECT 1;\nSELEC 2', { defaultSchema: 'public' })
  assert.equal(errorCode(result), SQL_ERROR_CODES.syntax)
  assert.ok(!result.ok && result.error.position === 10, JSON.stringify(result))
  assert.ok(!result.ok && /syntax error/.test(result.error.message))
})

test('bad arguments are errors, not throws', () => {
  assert.equal(errorCode(classifySql(42 as unknown as string, { defaultSchema: 'public' })), SQL_ERROR_CODES.unclassifiable)
  assert.equal(errorCode(classifySql(null as unknown as string, { defaultSchema: 'public' })), SQL_ERROR_CODES.unclassifiable)
  assert.equal(errorCode(classifySql('SELECT 1', { defaultSchema: '' })), SQL_ERROR_CODES.unclassifiable)
  assert.equal(errorCode(createSqlClassifier().classify('SELECT 1', { defaultSchema: 'a\0b' })), SQL_ERROR_CODES.unclassifiable)
})

test('a tree nested beyond the walker bound is too complex, whatever runs out first', () => {
  for (const sql of [
    `SELECT ${'(SELECT '.repeat(2000)}1${')'.repeat(2000)}`,
    `SELECT 1${'+1'.repeat(5000)}`,
    `SELECT * FROM ${'(SELECT * FROM '.repeat(900)}t${') x'.repeat(900)}`,
  ]) {
    const result = classifySql(sql, { defaultSchema: 'public' })
    assert.equal(result.ok, false)
    assert.ok(!result.ok && ['sql.too_complex', 'sql.syntax', 'sql.unclassifiable'].includes(result.error.code), JSON.stringify(result))
  }
  // Deep but reasonable nesting still classifies.
  const ok = classifySql(`SELECT ${'(SELECT '.repeat(100)}x FROM t${')'.repeat(100)}`, { defaultSchema: 'public' })
  assert.ok(ok.ok && ok.statements[0]!.operations.some((op) => op.object === 'public.t'))
})

test('statement texts are cut at the right places in multi-byte text', () => {
  const result = classifySql("SELECT 'é€😀'; select 2 ;; /* c */ SELECT 'ü' -- tail\n", { defaultSchema: 'public' })
  assert.ok(result.ok)
  assert.deepEqual(
    result.statements.map((s) => s.text),
    ["SELECT 'é€😀'", 'select 2', "SELECT 'ü' -- tail"],
  )
})
