// Cancel keys: the gateway gives each client its own BackendKeyData and
// keeps the map to the session, so a CancelRequest reaches the right
// upstream backend (or aborts a statement held for approval) and a client
// cannot cancel anything of another session's by guessing the server's keys.
import { randomBytes, timingSafeEqual } from 'node:crypto'

export interface Cancellable {
  cancel(): void
}

export class CancelKeys {
  private readonly sessions = new Map<number, { secret: Buffer; session: Cancellable }>()

  issue(session: Cancellable): { processId: number; secretKey: Buffer } {
    let processId: number
    do processId = randomBytes(4).readInt32BE(0) & 0x7fffffff
    while (processId === 0 || this.sessions.has(processId))
    const secret = randomBytes(4)
    this.sessions.set(processId, { secret, session })
    return { processId, secretKey: secret }
  }

  release(processId: number): void {
    this.sessions.delete(processId)
  }

  find(processId: number, secretKey: Buffer): Cancellable | undefined {
    const entry = this.sessions.get(processId)
    if (!entry || entry.secret.length !== secretKey.length || !timingSafeEqual(entry.secret, secretKey)) return undefined
    return entry.session
  }
}
