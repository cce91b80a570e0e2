// Approval requests on both backends: decided by enough approvers or one
// denial, used exactly once for exactly what was approved, expiring on time.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { consumeApproval, createApproval, expireApprovals, getApproval, listApprovals, voteOnApproval, type NewApproval } from '../../store/approvals.js'
import { BACKENDS } from './backends.js'

const REQUEST: NewApproval = {
  identity: 'ci-deploy',
  owner: '@acme/platform',
  resource: 'orders-db',
  sessionId: 's1',
  bundleRevision: 'r1',
  organisation: 'acme',
  rule: 'orders-deploy/schema-changes',
  approvers: ['@acme/payments'],
  required: 2,
  ownerMayApprove: false,
  protocol: 'postgres',
  requestText: 'ALTER TABLE orders ADD COLUMN x int',
  requestDigest: 'd1',
  timeoutSeconds: 60,
}
const BINDING = { identity: 'ci-deploy', sessionId: 's1', bundleRevision: 'r1', requestDigest: 'd1' }

for (const backend of BACKENDS) {
  describe(`approvals (${backend.name})`, () => {
    test('two approvals approve; it is used once, only with its own binding', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const request = await createApproval(db, REQUEST)
        assert.equal(request.status, 'pending')
        assert.match(request.id, /^apr_/)
        const vote = (approver: string, decision: 'approve' | 'deny', isOwner = false) => voteOnApproval(db, request.id, { approver, decision, source: 'test', isOwner })
        assert.deepEqual(await vote('@owner', 'approve', true).then((r) => r.ok || r.reason), 'own-request')
        assert.equal((await vote('@alice', 'approve')).ok, true)
        assert.equal(await vote('@alice', 'approve').then((r) => r.ok || r.reason), 'already-voted')
        assert.equal((await getApproval(db, request.id))?.status, 'pending')
        const second = await vote('@bob', 'approve')
        assert.ok(second.ok && second.request.status === 'approved')
        assert.equal(await consumeApproval(db, request.id, { ...BINDING, requestDigest: 'other' }), false, 'another statement cannot use it')
        assert.equal(await consumeApproval(db, request.id, { ...BINDING, sessionId: 's2' }), false, 'another session cannot use it')
        assert.equal(await consumeApproval(db, request.id, BINDING), true)
        assert.equal(await consumeApproval(db, request.id, BINDING), false, 'used once')
        const stored = await getApproval(db, request.id)
        assert.equal(stored?.status, 'used')
        assert.deepEqual(stored?.votes.map((v) => `${v.approver}:${v.vote}`), ['@alice:approve', '@bob:approve'])
      } finally {
        await cleanup()
      }
    })

    test('one denial decides; expired requests cannot be approved', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const denied = await createApproval(db, REQUEST)
        const result = await voteOnApproval(db, denied.id, { approver: '@alice', decision: 'deny', source: 'test', reason: 'not today' })
        assert.ok(result.ok && result.request.status === 'denied')
        assert.equal(await voteOnApproval(db, denied.id, { approver: '@bob', decision: 'approve', source: 'test' }).then((r) => r.ok || r.reason), 'not-pending')

        const old = await createApproval(db, { ...REQUEST, timeoutSeconds: 1 }, new Date(Date.now() - 5000))
        assert.equal(await voteOnApproval(db, old.id, { approver: '@alice', decision: 'approve', source: 'test' }).then((r) => r.ok || r.reason), 'expired')
        const stale = await createApproval(db, { ...REQUEST, timeoutSeconds: 1 }, new Date(Date.now() - 5000))
        assert.deepEqual(await expireApprovals(db), [stale.id])
        assert.deepEqual((await listApprovals(db, { status: 'expired' })).map((a) => a.id).sort(), [old.id, stale.id].sort())
      } finally {
        await cleanup()
      }
    })
  })
}
