// The shared logger never writes a secret, whatever a caller hands it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../../runtime/log.js'

function capture(): { lines: Array<Record<string, unknown>>; write: (line: string) => void } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }
}

test('secrets are redacted by key, by shape, inside errors, and objects are never logged whole', () => {
  const out = capture()
  const log = createLogger({ write: out.write }).child({ session: 's1', adminToken: 'x' })
  log.info('login', {
    password: 'hunter2',
    note: 'client sent gth_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG as its token',
    header: 'Authorization: Bearer abc.def.ghi',
    error: new Error('GitHub said ghp_0123456789abcdefghij is bad'),
    config: { token: 'nested' },
    count: 3,
  })
  const [line] = out.lines
  assert.equal(line!.session, 's1')
  assert.equal(line!.adminToken, '[redacted]')
  assert.equal(line!.password, '[redacted]')
  assert.equal(line!.config, '[object]')
  assert.equal(line!.count, 3)
  const text = JSON.stringify(out.lines)
  for (const secret of ['hunter2', 'gth_abc', 'abc.def.ghi', 'ghp_0123', 'nested']) assert.ok(!text.includes(secret), `${secret} leaked`)
})

test('levels below the minimum are dropped and long strings are cut', () => {
  const out = capture()
  const log = createLogger({ level: 'warn', write: out.write })
  log.info('quiet')
  log.warn('loud', { text: 'x'.repeat(1000) })
  assert.equal(out.lines.length, 1)
  assert.ok(String(out.lines[0]!.text).length < 400)
})
