// The plain-text audit query says what JSON says: the deciding rule, or that
// no rule allowed it, and every reason.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatEvent } from '../../../gateway/cli/audit.js'
import type { StoredEvent } from '../../../store/audit-log.js'

const event = (data: Record<string, unknown>): StoredEvent => ({
  chain: 'c', seq: 1, id: 'e1', time: '2026-12-01T10:00:00.000Z', kind: 'statement', sessionId: 'pg_1', identity: 'orders-reporting', resource: 'orders-db', data, prevHash: '', hash: '',
})

test('a default denial names no rule and says why', () => {
  const text = formatEvent(event({ statement: "UPDATE orders SET status = 'x'", decision: 'deny', rule: null, reasons: ['no rule allows update on public.orders'], outcome: 'error 42501' }))
  assert.match(text, /DENY \(no rule allows it\) → error 42501/)
  assert.match(text, /^    why: no rule allows update on public\.orders$/m)
})

test('a denial by a rule names the rule and its reason', () => {
  const text = formatEvent(event({ statement: 'DROP TABLE orders', decision: 'deny', rule: 'orders-deploy/no-destructive-changes', reasons: ['denied by orders-deploy/no-destructive-changes'] }))
  assert.match(text, /DENY by orders-deploy\/no-destructive-changes/)
  assert.match(text, /why: denied by orders-deploy\/no-destructive-changes/)
})

test('an allow answered by the gateway itself is not called a default deny', () => {
  const text = formatEvent(event({ command: 'whoami', decision: 'allow', rule: null, reasons: ['answered by the gateway'] }))
  assert.match(text, / ALLOW\n/)
  assert.match(text, /why: answered by the gateway/)
})

test("an event carrying earlier statements' outcomes shows each with the statement it belongs to", () => {
  const text = formatEvent(event({ statement: 'SELECT 2', decision: 'allow', rule: 'app/read', reasons: [], outcomes: [{ event: 'evt_a.1', outcome: 'UPDATE 3', rows: 3 }] }))
  assert.match(text, /^    earlier evt_a\.1 → UPDATE 3$/m)
})
