// Deciding one SSH request (a command, a shell, a file operation, a
// forwarding) with the bundle in force now, recording it, and holding it for
// approval when a rule says so. Nothing reaches the upstream host before its
// event is recorded, and durably so when the resource's audit mode is `sync`.
import { now } from '../../cli/clock.js'
import { decideSsh } from '../../engine/requests.js'
import type { SshChannelRequest } from '../../engine/ssh/index.js'
import type { BundleResource, Decision } from '../../engine/types.js'
import { AuditUnavailableError } from '../../store/audit-log.js'
import { holdForApproval, requestDigest } from '../approvals.js'
import type { ActiveBundle } from '../bundle/state.js'
import type { GatewayContext } from '../gateway.js'
import { approveHint, denialMessage, holdDetail, holdOutcomeMessage } from '../messages.js'

export interface SshWho {
  id: string
  identity: string
  owner: string
  resource: BundleResource
  source: string
}

export type Admission = { ok: true; eventId: string; decision: Decision } | { ok: false; message: string; eventId?: string }

export interface AdmitOptions {
  /** The audit event kind: `ssh.exec`, `ssh.shell`, `ssh.file`, `ssh.forward`. */
  kind: string
  /** What the event says besides the decision (command, path, terminal, ...). */
  data: Record<string, unknown>
  /** The request as people read it: approvals show it and bind to its digest. */
  text: string
  /** Tells the client something while it waits (a held request). */
  notify(line: string): void
  /** Aborted when the client goes away. */
  signal?: AbortSignal
}

const AUDIT_DOWN = 'gatehouse: the audit store is unavailable, so nothing is let through; try again shortly'

function refused(reason: string): Decision {
  return { effect: 'deny', rule: null, reasons: [reason], errors: [], masks: [] }
}

/** The decision for one request, never throwing: anything unexpected denies. */
export function decideRequest(ctx: GatewayContext, who: SshWho, request: SshChannelRequest): { decision: Decision; bundle: ActiveBundle | undefined } {
  const bundle = ctx.state.current
  if (!bundle) return { decision: refused('no valid policy bundle is loaded'), bundle }
  try {
    const decision = decideSsh(bundle.engine, { identity: who.identity, resource: who.resource.name, request, context: { time: now(), source: who.source, session: { id: who.id } } })
    return { decision, bundle }
  } catch (err) {
    ctx.log.error('request could not be decided; denied', { session: who.id, error: err as Error })
    return { decision: refused('the gateway could not decide this request'), bundle }
  }
}

/** Decides, records, and holds when needed; resolves once the request may go upstream, or with the refusal to show. */
export async function admit(ctx: GatewayContext, who: SshWho, request: SshChannelRequest, options: AdmitOptions): Promise<Admission> {
  const { decision, bundle } = decideRequest(ctx, who, request)
  ctx.counters.statements.inc({ protocol: 'ssh' })
  ctx.counters.decisions.inc({ protocol: 'ssh', effect: decision.effect, observed: decision.observed ? 'differs' : 'same' })
  const record = (extra: Record<string, unknown>, durability: 'sync' | 'async') =>
    ctx.audit.append(
      {
        kind: options.kind,
        sessionId: who.id,
        identity: who.identity,
        resource: who.resource.name,
        data: {
          protocol: 'ssh',
          ...options.data,
          decision: decision.effect,
          rule: decision.rule,
          reasons: decision.reasons,
          masks: decision.masks.map((m) => m.id),
          revision: bundle?.revision ?? null,
          ...(decision.observed ? { observed: { effect: decision.observed.effect, rule: decision.observed.rule } } : {}),
          ...extra,
        },
        ...(decision.effect !== 'deny' ? { usage: decision.rule ? { rule: decision.rule } : {} } : {}),
      },
      durability,
    )
  const release = async (extra: Record<string, unknown>): Promise<Admission> => {
    // The bundle that decided also says how durable the record must be (a reload may have made the resource `sync`).
    const mode = bundle?.bundle.resources[who.resource.name]?.audit.mode ?? 'sync'
    try {
      const event = record(extra, mode)
      if (mode === 'sync') await event.durable
      return { ok: true, eventId: event.id, decision }
    } catch (err) {
      if (err instanceof AuditUnavailableError) return { ok: false, message: AUDIT_DOWN }
      throw err
    }
  }
  const deny = (message: string, extra: Record<string, unknown> = {}): Admission => {
    try {
      return { ok: false, message, eventId: record(extra, 'async').id }
    } catch {
      // The refusal stands whether or not it could be recorded.
      return { ok: false, message }
    }
  }
  if (decision.effect === 'deny' || !bundle) return deny(denialMessage(decision))
  if (decision.effect === 'allow') return release({})

  // approve: stored, shown to the client, waited for.
  const approval = decision.approval!
  const controller = new AbortController()
  const onClientGone = () => controller.abort(new Error('cancelled'))
  options.signal?.addEventListener('abort', onClientGone, { once: true })
  const unsubscribe = ctx.state.onChange(() => controller.abort(new Error('policy-changed')))
  ctx.approvalsWaiting.count++
  try {
    const { outcome, request: held } = await holdForApproval(
      ctx.db,
      {
        identity: who.identity,
        owner: who.owner,
        resource: who.resource.name,
        sessionId: who.id,
        revision: bundle.revision,
        rule: decision.rule ?? '',
        organisation: bundle.bundle.settings.organisation,
        approval,
        ownerMayApprove: bundle.bundle.settings.approvals.ownerMayApprove,
        protocol: 'ssh',
        text: options.text,
        digest: requestDigest(options.text),
      },
      {
        signal: controller.signal,
        onCreated: (created) => {
          options.notify(`gatehouse: this request is held until it is approved (request ${created.id})`)
          options.notify(`gatehouse: ${holdDetail(decision.rule, approval)}`)
          options.notify(`gatehouse: ${approveHint(created.id, ctx.config.approvalsUrl)}`)
        },
      },
    )
    if (outcome === 'approved') return await release({ approval: held.id })
    const reason = String((controller.signal.reason as Error | undefined)?.message ?? '')
    return deny(holdOutcomeMessage(outcome, held, reason, 'command'), { approval: held.id, approvalOutcome: outcome })
  } catch (err) {
    ctx.log.error('a held request could not be stored', { session: who.id, error: err as Error })
    return deny('gatehouse: the request could not be held for approval; try again shortly')
  } finally {
    ctx.approvalsWaiting.count--
    unsubscribe()
    options.signal?.removeEventListener('abort', onClientGone)
  }
}
