// Masking the fields of an ErrorResponse or NoticeResponse: detectors on
// every text field; quoted values, key values, failing rows, context and the
// text of a RAISE when the statement touches masked data; identifiers and
// codes kept.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileMaskRules } from '../../../engine/masks/index.js'
import { maskNotice } from '../../../gateway/postgres/notice-masking.js'
import { decodeErrorOrNotice, type NoticeFields } from '../../../gateway/postgres/protocol/backend.js'
import { buildErrorResponse, buildNoticeResponse, type NoticeInput } from '../../../gateway/postgres/protocol/serialize.js'

const detectors = compileMaskRules([{ detector: 'credit-card', strategy: 'redact' }, { detector: 'email', strategy: 'redact' }], { hashKey: Buffer.alloc(32, 1) })
const masked = (fields: NoticeInput, quotesData: boolean, notice = false): NoticeFields =>
  decodeErrorOrNotice(maskNotice((notice ? buildNoticeResponse : buildErrorResponse)(fields), { detectors: quotesData ? undefined : detectors, quotesData })).fields

describe('values the server quotes, for a statement on masked data', () => {
  test('quoted values and what follows the last colon of the message', () => {
    assert.equal(masked({ severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type integer: "ada@example.com"' }, true).message, 'invalid input syntax for type integer: "***"')
    assert.equal(masked({ severity: 'ERROR', code: '22003', message: 'value "4111111111111111" is out of range for type integer' }, true).message, 'value "***" is out of range for type integer')
    assert.equal(masked({ severity: 'ERROR', code: '22021', message: 'invalid byte sequence for encoding "UTF8": 0xe9 0x80' }, true).message, 'invalid byte sequence for encoding "***": ***')
  })

  test('key values and failing rows in the detail, any other detail whole; identifiers kept', () => {
    const key = masked({ severity: 'ERROR', code: '23505', message: 'duplicate key value violates unique constraint "customers_email_key"', detail: 'Key (email)=(ada@example.com) already exists.', table: 'customers', constraint: 'customers_email_key' }, true)
    assert.equal(key.detail, 'Key (email)=(***) already exists.')
    assert.equal(key.constraint, 'customers_email_key')
    assert.equal(key.table, 'customers')
    assert.equal(masked({ severity: 'ERROR', code: '23502', message: 'null value in column "name" violates not-null constraint', detail: 'Failing row contains (1, null, ada@example.com).' }, true).detail, 'Failing row contains (***).')
    assert.equal(masked({ severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type json', detail: 'Token "ada" is invalid.', where: 'JSON data, line 1: ada...' }, true).detail, '***')
    assert.equal(masked({ severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type json', where: 'JSON data, line 1: ada...' }, true).where, 'JSON data, line 1: ***')
  })

  test('the text of a RAISE (a notice, or an error of class P0) is masked whole', () => {
    assert.equal(masked({ severity: 'NOTICE', code: '00000', message: 'saw ada@example.com', where: 'PL/pgSQL function shout(text) line 1 at RAISE' }, true, true).message, '***')
    assert.equal(masked({ severity: 'ERROR', code: 'P0001', message: 'ada@example.com', hint: 'ada' }, true).hint, '***')
  })

  test('for a statement on nothing masked, errors pass unchanged', () => {
    const raw = buildErrorResponse({ severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type integer: "abc"' })
    assert.equal(maskNotice(raw, { detectors: undefined, quotesData: false }), raw)
    assert.equal(maskNotice(raw, { detectors, quotesData: false }), raw)
  })
})

test('detectors run on every text field of errors and notices', () => {
  const fields = masked({ severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type integer: "4111 1111 1111 1111"', detail: 'mail ada@example.com', hint: 'card 4111111111111111', where: 'x 4111-1111-1111-1111' }, false)
  for (const value of [fields.message, fields.detail, fields.hint, fields.where]) assert.doesNotMatch(value ?? '', /4111|ada@example/, value)
  const notice = decodeErrorOrNotice(maskNotice(buildNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'mail ada@example.com' }), { detectors, quotesData: false })).fields
  assert.doesNotMatch(notice.message ?? '', /ada@example/)
})
