// Every open client session, by protocol: for metrics, for the status page,
// and so a bundle that removes an identity can close that identity's
// sessions. Sessions of identities that merely lost permissions stay open:
// their next statement is decided by the new bundle.
export interface LiveSession {
  id: string
  protocol: 'postgres' | 'ssh'
  identity: string
  resource: string
  startedAt: Date
  /** Ends the session, telling the client why where the protocol allows it. */
  close(reason: string): void
}

export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>()

  add(session: LiveSession): () => void {
    this.sessions.set(session.id, session)
    return () => this.sessions.delete(session.id)
  }

  count(protocol?: LiveSession['protocol']): number {
    if (!protocol) return this.sessions.size
    let n = 0
    for (const s of this.sessions.values()) if (s.protocol === protocol) n++
    return n
  }

  /** Closes every session of one protocol (the front is shutting down). */
  closeAll(protocol: LiveSession['protocol'], reason: string): void {
    for (const session of [...this.sessions.values()]) if (session.protocol === protocol) session.close(reason)
  }

  /** Closes the sessions of identities that no longer exist; returns how many. */
  closeRemoved(exists: (identity: string) => boolean): number {
    let closed = 0
    for (const session of [...this.sessions.values()]) {
      if (exists(session.identity)) continue
      session.close(`identity \`${session.identity}\` was removed from the policy bundle`)
      closed++
    }
    return closed
  }
}
