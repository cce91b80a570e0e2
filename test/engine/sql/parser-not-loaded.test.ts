// Before loadSqlParser() completes, classification is an error value, not a throw,
// and the cached classifier does not remember that error. (Own file: node:test runs
// each file in its own process, so the parser is really not loaded here.)
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classifySql, createSqlClassifier, isSqlParserLoaded, loadSqlParser, SQL_ERROR_CODES } from '../../../engine/sql/index.js'

test('classifying before the parser is loaded is an error, and recovers once it is', async () => {
  assert.equal(isSqlParserLoaded(), false)
  const result = classifySql('SELECT 1', { defaultSchema: 'public' })
  assert.ok(!result.ok && result.error.code === SQL_ERROR_CODES.notLoaded, JSON.stringify(result))
  const classifier = createSqlClassifier()
  const cachedResult = classifier.classify('SELECT 1', { defaultSchema: 'public' })
  assert.ok(!cachedResult.ok && cachedResult.error.code === SQL_ERROR_CODES.notLoaded)
  assert.equal(classifier.size, 0)
  await Promise.all([loadSqlParser(), loadSqlParser()])
  assert.equal(isSqlParserLoaded(), true)
  assert.ok(classifier.classify('SELECT 1', { defaultSchema: 'public' }).ok)
  assert.ok(classifySql('SELECT 1', { defaultSchema: 'public' }).ok)
})
