// Who approved is on record: every vote is stored with who, when, through
// what and why, listed with its request, and is an audit event committed
// with it on a hash chain that verifies, however many processes vote at once.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createApproval, getApproval, listApprovals, voteOnApproval, type NewApproval } from '../../store/approvals.js'
import { queryEvents, verifyAudit } from '../../store/audit-read.js'
import { BACKENDS } from './backends.js'

const REQUEST: NewApproval = {
  identity: 'ci-deploy', owner: '@acme/platform', resource: 'orders-db', sessionId: 'pg_s1', bundleRevision: 'r1', organisation: 'acme', rule: 'orders-deploy/schema-changes',
  approvers: ['@acme/payments'], required: 2, ownerMayApprove: false, protocol: 'postgres', requestText: 'ALTER TABLE orders ADD COLUMN x int', requestDigest: 'd1', timeoutSeconds: 600,
}

for (const backend of BACKENDS) {
  describe(`approval votes (${backend.name})`, () => {
    test('each vote is listed with who, when, through what and why, and audited', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const request = await createApproval(db, REQUEST)
        const first = await voteOnApproval(db, request.id, { approver: '@alice', decision: 'approve', source: 'cli', reason: 'reviewed the migration' }, new Date('2026-12-01T10:00:00Z'))
        assert.ok(first.ok)
        assert.deepEqual(first.request.votes.map((v) => v.approver), ['@alice'])
        await voteOnApproval(db, request.id, { approver: '@bob', decision: 'approve', source: 'admin-api', reason: 'ok for the release' }, new Date('2026-12-01T10:01:00Z'))
        const expected = [
          { approver: '@alice', vote: 'approve', time: '2026-12-01T10:00:00.000Z', source: 'cli', reason: 'reviewed the migration' },
          { approver: '@bob', vote: 'approve', time: '2026-12-01T10:01:00.000Z', source: 'admin-api', reason: 'ok for the release' },
        ]
        assert.deepEqual((await getApproval(db, request.id))!.votes, expected)
        const listed = (await listApprovals(db)).find((a) => a.id === request.id)!
        assert.equal(listed.status, 'approved')
        assert.deepEqual(listed.votes, expected)

        const events = await queryEvents(db, { sessionId: 'pg_s1', kinds: ['approval.vote'] })
        assert.deepEqual(
          events.map((e) => [e.time, e.identity, e.data.request, e.data.approver, e.data.vote, e.data.source, e.data.reason, e.data.status]),
          [
            ['2026-12-01T10:00:00.000Z', 'ci-deploy', request.id, '@alice', 'approve', 'cli', 'reviewed the migration', 'pending'],
            ['2026-12-01T10:01:00.000Z', 'ci-deploy', request.id, '@bob', 'approve', 'admin-api', 'ok for the release', 'approved'],
          ],
        )
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })

    test('a refused vote leaves no record; concurrent votes keep the chain whole', async () => {
      const { db, cleanup } = await backend.open()
      try {
        const requests = await Promise.all(Array.from({ length: 8 }, () => createApproval(db, { ...REQUEST, required: 1 })))
        const refused = await voteOnApproval(db, requests[0]!.id, { approver: '@owner', decision: 'approve', source: 'cli', isOwner: true })
        assert.equal(refused.ok, false)
        const results = await Promise.all(requests.map((r, i) => voteOnApproval(db, r.id, { approver: `@voter${i}`, decision: i % 2 ? 'deny' : 'approve', source: 'github', reason: `vote ${i}` })))
        assert.ok(results.every((r) => r.ok))
        const events = await queryEvents(db, { kinds: ['approval.vote'] })
        assert.equal(events.length, 8)
        assert.deepEqual(events.map((e) => e.seq).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8])
        assert.deepEqual((await verifyAudit(db)).problems, [])
      } finally {
        await cleanup()
      }
    })
  })
}
