// Caps on open client connections, shared by both fronts: in all and per
// source address. A connection over a cap is refused politely (the front
// sends its protocol's error) instead of the process running out of file
// descriptors, which would also take the admin listener and the store down.
import type { Socket } from 'node:net'
import type { Counter } from '../runtime/metrics.js'

export interface ConnectionCaps {
  maxConnections: number
  maxConnectionsPerAddress: number
}

export class ConnectionLimiter {
  private open = 0
  private readonly byAddress = new Map<string, number>()

  constructor(
    private readonly caps: ConnectionCaps,
    private readonly refusals?: Counter,
  ) {}

  get count(): number {
    return this.open
  }

  /**
   * Counts `socket` until it closes, or returns why it is refused (then it is
   * not counted and the caller ends it).
   */
  admit(socket: Socket, protocol: 'postgres' | 'ssh'): string | undefined {
    const address = socket.remoteAddress ?? 'unknown'
    const fromAddress = this.byAddress.get(address) ?? 0
    let refusal: string | undefined
    if (this.open >= this.caps.maxConnections) refusal = `the gateway has reached its limit of ${this.caps.maxConnections} connections`
    else if (fromAddress >= this.caps.maxConnectionsPerAddress) refusal = `too many connections from ${address} (limit ${this.caps.maxConnectionsPerAddress})`
    if (refusal) {
      this.refusals?.inc({ protocol, cap: this.open >= this.caps.maxConnections ? 'total' : 'address' })
      return refusal
    }
    this.open++
    this.byAddress.set(address, fromAddress + 1)
    socket.once('close', () => {
      this.open--
      const left = (this.byAddress.get(address) ?? 1) - 1
      if (left > 0) this.byAddress.set(address, left)
      else this.byAddress.delete(address)
    })
    return undefined
  }
}
