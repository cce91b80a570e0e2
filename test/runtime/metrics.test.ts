// The Prometheus exposition the gateway and the bot serve: one sample per
// label set, label values escaped as the text format requires, and bound
// samples that count into the same series as `inc` with the same labels.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Metrics } from '../../runtime/metrics.js'

test('samples per label set, with label values escaped', () => {
  const metrics = new Metrics()
  const requests = metrics.counter('demo_requests_total', 'Requests.')
  requests.inc()
  requests.inc({ protocol: 'ssh', effect: 'allow' })
  requests.inc({ protocol: 'ssh', effect: 'allow' }, 2)
  requests.inc({ note: 'a "quoted"\\path\nline' })
  assert.equal(
    metrics.render(),
    [
      '# HELP demo_requests_total Requests.',
      '# TYPE demo_requests_total counter',
      'demo_requests_total 1',
      'demo_requests_total{protocol="ssh",effect="allow"} 3',
      'demo_requests_total{note="a \\"quoted\\"\\\\path\\nline"} 1',
      '',
    ].join('\n'),
  )
  assert.equal(metrics.value('demo_requests_total', { protocol: 'ssh', effect: 'allow' }), 3)
})

test('a bound sample counts into the series of its labels', () => {
  const metrics = new Metrics()
  const masked = metrics.counter('demo_masked_total', 'Masked values.')
  const postgres = masked.with({ protocol: 'postgres' })
  postgres.inc(5)
  postgres.inc()
  masked.inc({ protocol: 'postgres' }, 4)
  assert.equal(metrics.value('demo_masked_total', { protocol: 'postgres' }), 10)
  assert.match(metrics.render(), /^demo_masked_total\{protocol="postgres"\} 10$/m)
})
