// ParameterStatus as the client should see it: the session is the identity's,
// not the upstream account's. PostgreSQL reports `session_authorization` and
// `is_superuser` at startup and whenever they change ("Asynchronous
// Operations"); passed on as they are, they would name the shared upstream
// account and tell every client whether it is a superuser.
import { decodeParameterStatus } from './protocol/backend.js'
import { buildParameterStatus } from './protocol/serialize.js'

/** The message to pass on for one ParameterStatus from upstream. */
export function clientParameterStatus(raw: Buffer, identity: string): Buffer {
  const { name, value } = decodeParameterStatus(raw)
  if (name === 'session_authorization') return value === identity ? raw : buildParameterStatus(name, identity)
  if (name === 'is_superuser') return value === 'off' ? raw : buildParameterStatus(name, 'off')
  return raw
}

/** Whether the upstream account is a superuser, from the startup ParameterStatus messages. */
export function upstreamIsSuperuser(statuses: readonly Buffer[]): boolean {
  return statuses.some((raw) => {
    const { name, value } = decodeParameterStatus(raw)
    return name === 'is_superuser' && value === 'on'
  })
}
