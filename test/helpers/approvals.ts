// Waiting for a held request to appear in the store, as an approver would.
import { listApprovals } from '../../store/approvals.js'
import type { Queryable } from '../../store/database.js'

/** The id of the first pending approval request; fails after about ten seconds. */
export async function pendingApprovalId(db: Queryable): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const pending = await listApprovals(db, { status: 'pending' })
    if (pending[0]) return pending[0].id
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('no approval request appeared')
}
