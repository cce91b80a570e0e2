// SSH logins with a workload identity token instead of a key: the token is
// the password (`password` method) or the answer to one prompt
// (`keyboard-interactive`, RFC 4256), verified with its issuer; the identity
// is the one whose binding the token's claims select, and the login user
// names the resource, as with keys. Offered only while some identity in the
// bundle has a binding, so key-only deployments keep answering `publickey`.
import type { AuthContext, KeyboardAuthContext, PasswordAuthContext } from 'ssh2'
import type { Bundle } from '../../engine/types.js'
import { recordAuthFailure, resolveTarget } from '../access.js'
import type { GatewayContext } from '../gateway.js'
import type { WorkloadClaims } from '../oidc/verify.js'
import type { RateLimiter } from '../rate-limit.js'
import type { SshWho } from './judge.js'
import { partPrompt, TOKEN_PARTS } from './token-prompts.js'

type AuthMethod = 'publickey' | 'password' | 'keyboard-interactive'

/** The methods a client may try next. */
export function loginMethods(bundle: Bundle | undefined): AuthMethod[] {
  const tokens = bundle && Object.values(bundle.identities).some((i) => (i.credentials.oidc?.length ?? 0) > 0)
  return tokens ? ['publickey', 'keyboard-interactive', 'password'] : ['publickey']
}

export function isTokenLogin(auth: AuthContext): auth is PasswordAuthContext | KeyboardAuthContext {
  return auth.method === 'password' || auth.method === 'keyboard-interactive'
}

/** Clients without OpenSSH's limit put the whole token in the first answer and leave the others empty. */
function askForToken(auth: PasswordAuthContext | KeyboardAuthContext): Promise<string> {
  if (auth.method === 'password') return Promise.resolve(auth.password)
  const prompts = Array.from({ length: TOKEN_PARTS }, (_, i) => ({ prompt: partPrompt(i + 1), echo: false }))
  return new Promise((resolve) => auth.prompt(prompts, 'gatehouse', '', (answers) => resolve(answers.join(''))))
}

/** Answers one token login attempt; returns who logged in, with the workload's claims, or undefined after rejecting. */
export async function tokenLogin(
  ctx: GatewayContext,
  limiter: RateLimiter,
  auth: PasswordAuthContext | KeyboardAuthContext,
  source: string,
  id: string,
): Promise<{ who: SshWho; workload: WorkloadClaims } | undefined> {
  const resourceName = auth.username
  const log = ctx.log.child({ session: id })
  const keys = [`source:${source}`]
  const fail = (identity: string, reason: string, workload?: WorkloadClaims) => {
    limiter.failed(identity ? [...keys, `identity:${identity}`] : keys)
    recordAuthFailure(ctx, log, { protocol: 'ssh', sessionId: id, identity, resource: resourceName, source, reason, audited: reason, ...(workload ? { workload } : {}) })
    auth.reject(loginMethods(ctx.state.current?.bundle))
    return undefined
  }
  if (!limiter.allowed(keys)) return fail('', 'too many failed logins; try again later')
  if (!ctx.state.current) return fail('', 'no valid policy bundle is loaded')
  const check = await ctx.workloadTokens.verify(ctx.state.current.bundle, await askForToken(auth))
  if (!check.ok) return fail('', check.reason, check.claims)
  if (!limiter.allowed([`identity:${check.identity}`])) return fail(check.identity, 'too many failed logins; try again later', check.claims)
  // The bundle in force now: it may have changed while the issuer was asked.
  const bundle = ctx.state.current
  const target = resolveTarget(bundle, check.identity, resourceName, 'ssh')
  if (!target.ok) return fail(check.identity, target.message.replace(/^permission denied by gatehouse: /, ''), check.claims)
  limiter.succeeded([`identity:${check.identity}`])
  return { who: { id, identity: check.identity, owner: target.bundle.bundle.identities[check.identity]!.owner, resource: target.resource, source }, workload: check.claims }
}
