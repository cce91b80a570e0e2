// `gatehouse whoami`, a command the gateway answers itself: the connected
// identity, its rules and masks on this resource, and its recent activity.
// Nothing reaches the upstream host.
import type { ActiveBundle } from '../bundle/state.js'
import type { GatewayContext } from '../gateway.js'
import { activityRows, permissionRows } from '../self-reflection.js'
import type { SshWho } from './judge.js'

/** The reserved command, as argv. */
export function isWhoami(argv: readonly string[] | undefined): boolean {
  return argv?.length === 2 && argv[0] === 'gatehouse' && argv[1] === 'whoami'
}

const RECENT = 20

export async function whoamiText(ctx: GatewayContext, who: SshWho, bundle: ActiveBundle): Promise<string> {
  const identity = bundle.bundle.identities[who.identity]
  const lines = [
    `identity  ${who.identity}`,
    `owner     ${identity?.owner ?? '-'}`,
    `expires   ${identity?.expires ?? 'never'}`,
    `roles     ${identity?.roles.join(', ') || '-'}`,
    `resource  ${who.resource.name} (bundle ${bundle.revision})`,
    `session   ${who.id}`,
    '',
    'permissions here:',
  ]
  const permissions = permissionRows(bundle.engine, who.identity, who.resource.name)
  for (const [, effect, rule, target, when, mode, approval] of permissions) {
    lines.push(`  ${effect!.padEnd(7)} ${rule}: ${target}${when ? ` when ${when}` : ''}${mode === 'observe' ? ' (observe only)' : ''}${approval ? ` (approval: ${approval})` : ''}`)
  }
  if (permissions.length === 0) lines.push('  none')
  lines.push('', `recent activity (newest first, at most ${RECENT}):`)
  const activity = await activityRows(ctx.db, who.identity, RECENT)
  for (const [time, session, kind, what, decision, rule, outcome] of activity) {
    lines.push(`  ${time}  ${session}  ${kind}${decision ? ` ${decision}` : ''}${rule ? ` by ${rule}` : ''}${outcome ? ` → ${outcome}` : ''}${what ? `  ${what.replace(/\s+/g, ' ').slice(0, 120)}` : ''}`)
  }
  if (activity.length === 0) lines.push('  none')
  return lines.join('\n') + '\n'
}
