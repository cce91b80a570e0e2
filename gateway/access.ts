// Who may open a session on which resource, checked once a client has proved
// its identity, and how a failed login is accounted for: the same on every
// front, so a refusal means the same thing whichever protocol asked.
import { now as clockNow } from '../cli/clock.js'
import { identityProblem } from '../engine/decide.js'
import type { BundleResource, ResourceType } from '../engine/types.js'
import type { ActiveBundle } from './bundle/state.js'
import type { GatewayContext } from './gateway.js'
import type { Logger } from '../runtime/log.js'

const TYPE_NAMES: Record<ResourceType, string> = { postgres: 'PostgreSQL', ssh: 'SSH' }

export type TargetCheck = { ok: true; bundle: ActiveBundle; resource: BundleResource } | { ok: false; message: string }

/** The resource an authenticated identity asked for, if it exists, has this type, and the identity may reach it at all. */
export function resolveTarget(bundle: ActiveBundle | undefined, identity: string, resourceName: string, type: ResourceType, now = clockNow()): TargetCheck {
  if (!bundle) return { ok: false, message: 'permission denied by gatehouse: no valid policy bundle is loaded' }
  const problem = identityProblem(bundle.engine, identity, now)
  if (problem) return { ok: false, message: `permission denied by gatehouse: ${problem}` }
  const resource = Object.hasOwn(bundle.bundle.resources, resourceName) ? bundle.bundle.resources[resourceName] : undefined
  if (!resource || resource.type !== type) return { ok: false, message: `permission denied by gatehouse: there is no ${TYPE_NAMES[type]} resource "${resourceName}"` }
  if (!bundle.engine.pair(identity, resource.name)?.hasAccess) return { ok: false, message: `permission denied by gatehouse: "${identity}" has no access to "${resource.name}"` }
  return { ok: true, bundle, resource }
}

/** Counts, logs and audits a refused login. `reason` goes to the log; the audit keeps `audited`. */
export function recordAuthFailure(
  ctx: GatewayContext,
  log: Logger,
  failure: { protocol: 'postgres' | 'ssh'; sessionId: string; identity: string; resource: string; source: string; reason: string; audited: string; workload?: Record<string, string> },
): void {
  ctx.counters.authFailures.inc({ protocol: failure.protocol })
  log.warn('authentication failed', { identity: failure.identity, resource: failure.resource, source: failure.source, reason: failure.reason })
  try {
    ctx.audit.append({ kind: 'auth.failure', sessionId: failure.sessionId, identity: failure.identity, resource: failure.resource, data: { protocol: failure.protocol, source: failure.source, reason: failure.audited, ...(failure.workload ? { workload: failure.workload } : {}) } }, 'async')
  } catch {
    // The store is unavailable: the refusal stands either way.
  }
}
