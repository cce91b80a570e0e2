// Backpressure between a PostgreSQL client and its upstream, and a fair share
// of the event loop: what keeps one session's memory bounded and one session's
// pipeline from starving the others.
//
// Upstream → client: after each relay the session asks `relayed()`; when the
// client's socket holds more than the session's cap unsent (or all sessions
// together more than the total cap), the upstream socket is paused until the
// client's socket drains. The server then blocks on its own socket, so rows
// wait in PostgreSQL, not here. A client that stays congested past the stall
// timeout is closed (its session reports why).
//
// Client → upstream: `upstreamRoom()` waits while the upstream socket holds
// more than the session's cap unsent (a server that stopped reading because
// its answers are not read), so the client's pipeline waits in its socket.
//
// Fairness: `turnSpent()` says when a session has handled enough client
// messages in this turn of the event loop; it then yields (setImmediate) so
// every other socket gets its turn before the next batch.
import type { Socket } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { GatewayLimits } from '../limits.js'

/** What all sessions of a front hold unsent towards their clients. */
export class BufferBudget {
  held = 0
  /** The limits are the front's: the session reads its other caps here too. */
  constructor(readonly limits: GatewayLimits) {}
}

export interface Stall {
  unsentBytes: number
  seconds: number
}

export class FlowControl {
  private counted = 0
  private congestedSince: number | undefined
  private stallTimer: NodeJS.Timeout | undefined
  private handled = 0
  private stopped = false
  private readonly onDrain = () => this.clientDrained()

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly budget: BufferBudget,
    private readonly onStall: (stall: Stall) => void,
    /** Whether the session may take more from the upstream now (it pauses it itself while busy). */
    private readonly mayResume: () => boolean,
  ) {
    client.on('drain', this.onDrain)
  }

  private get limits(): GatewayLimits {
    return this.budget.limits
  }

  /** Whether the client is not keeping up: the upstream stays paused. */
  get congested(): boolean {
    return this.congestedSince !== undefined
  }

  /** After writing to the client: counts what waits unsent, and pauses the upstream when over a cap. */
  relayed(): void {
    if (this.stopped) return
    this.account()
    const unsent = this.client.writableLength
    if (unsent === 0) return
    if (unsent <= this.limits.sessionBufferBytes && this.budget.held <= this.limits.totalBufferBytes) return
    this.upstream.pause()
    if (this.congestedSince !== undefined) return
    this.congestedSince = performance.now()
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      if (this.congestedSince === undefined || this.stopped) return
      this.onStall({ unsentBytes: this.client.writableLength, seconds: Math.round((performance.now() - this.congestedSince) / 1000) })
    }, this.limits.stallTimeoutMs)
    this.stallTimer.unref()
  }

  /** Resumes the upstream unless the client is congested (its drain resumes it then). */
  resumeUpstream(): void {
    if (!this.congested && !this.stopped && this.mayResume()) this.upstream.resume()
  }

  /** Resolves when the upstream socket has room for more of the client's messages. */
  upstreamRoom(): Promise<void> | undefined {
    if (this.upstream.writableLength <= this.limits.sessionBufferBytes || this.stopped) return undefined
    return new Promise((resolve) => {
      const done = () => (this.upstream.off('drain', done), this.upstream.off('close', done), resolve())
      this.upstream.once('drain', done)
      this.upstream.once('close', done)
    })
  }

  /** Counts one handled client message; true when the session should yield the event loop now. */
  turnSpent(): boolean {
    if (++this.handled < this.limits.messagesPerTurn) return false
    this.handled = 0
    return true
  }

  /** Yields until every other ready socket has had its turn. */
  yieldTurn(): Promise<void> {
    return nextTurn()
  }

  /** The session ended: what it held leaves the budget. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.budget.held -= this.counted
    this.counted = 0
    if (this.stallTimer) clearTimeout(this.stallTimer)
    this.client.off('drain', this.onDrain)
  }

  private account(): void {
    const now = this.client.writableLength
    this.budget.held += now - this.counted
    this.counted = now
  }

  private clientDrained(): void {
    if (this.stopped) return
    this.account()
    if (this.congestedSince === undefined) return
    this.congestedSince = undefined
    if (this.stallTimer) clearTimeout(this.stallTimer)
    this.stallTimer = undefined
    this.resumeUpstream()
  }
}
