// What an identity may do, and what it has done: answered by the gateway
// from the bundle and the store, for the connected identity only. Serves
// `gatehouse.permissions` / `gatehouse.activity` in SQL and `/v1/self` over HTTP.
import type { Engine } from '../engine/engine.js'
import { permissionsOf, resourcePermissions } from '../engine/permissions.js'
import { outcomesByEvent, queryEvents } from '../store/audit-read.js'
import type { Queryable } from '../store/database.js'

/** Rows of `gatehouse.permissions` (columns as in engine/sql/virtual-tables.ts). */
export function permissionRows(engine: Engine, identity: string, resource: string): string[][] {
  const pair = engine.pair(identity, resource)
  if (!pair) return []
  const permissions = resourcePermissions(pair)
  const rows = permissions.grants.map((g) => [
    resource,
    g.effect,
    g.rule,
    g.target,
    g.when ?? '',
    g.mode,
    g.approval ? `${g.approval.count} of ${g.approval.approvers.join(', ')} within ${g.approval.timeout}s` : '',
    g.source,
  ])
  for (const m of permissions.masks) rows.push([resource, 'mask', m.policy, `${m.id} (${m.strategy})`, '', m.mode, '', ''])
  return rows
}

const ACTIVITY_KINDS = ['statement', 'statement.outcome', 'ssh.exec', 'ssh.shell', 'ssh.file', 'ssh.outcome', 'approval.requested', 'session.start', 'session.end']

/** Rows of `gatehouse.activity`: the identity's recent events, newest first. */
export async function activityRows(db: Queryable, identity: string, limit = 100): Promise<string[][]> {
  const since = new Date(Date.now() - 7 * 86_400_000)
  const events = await queryEvents(db, { identity, since, kinds: ACTIVITY_KINDS, limit: 10_000 })
  const outcomes = outcomesByEvent(events)
  return events
    .slice(-limit)
    .reverse()
    .map((e) => {
      const d = e.data as { statement?: string; command?: string; decision?: string; rule?: string | null; outcome?: string; path?: string }
      return [e.time, e.sessionId ?? '', e.kind, d.statement ?? d.command ?? d.path ?? '', d.decision ?? '', d.rule ?? '', d.outcome ?? outcomes.get(e.id) ?? '']
    })
}

export function selfDocument(engine: Engine, identity: string) {
  const permissions = permissionsOf(engine, identity)
  return permissions
    ? { identity: { name: permissions.identity.name, owner: permissions.identity.owner, expires: permissions.identity.expires ?? null, roles: permissions.identity.roles }, resources: permissions.resources }
    : undefined
}
