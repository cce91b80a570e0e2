// Caps on what a client can make the gateway hold or wait for, with defaults
// that fit 500 PostgreSQL sessions in a few hundred megabytes and leave file
// descriptors for the admin listener and the store. Set under `limits:` in the
// gateway's config file.
import { readFileSync } from 'node:fs'
import { ConfigError } from './config.js'

export interface GatewayLimits {
  /** Longest SQL text a Query or Parse may carry; longer is refused before it is read (and the classifier refuses it too). */
  maxStatementBytes: number
  /** Longest statement text kept whole in an audit event; longer keeps this much and the SHA-256 of the whole. */
  auditStatementBytes: number
  /** Bytes one PostgreSQL session may hold unsent towards its client (or its upstream) before the other side is paused. */
  sessionBufferBytes: number
  /** Bytes all PostgreSQL sessions together may hold unsent towards their clients. */
  totalBufferBytes: number
  /** A PostgreSQL client that does not read its results for this long is disconnected. */
  stallTimeoutMs: number
  /** Client messages one session handles before the others get a turn of the event loop. */
  messagesPerTurn: number
  /** Time from connection to an authenticated session (PostgreSQL). */
  startupTimeoutMs: number
  /** A PostgreSQL session with no message from its client for this long is closed (0: never). */
  idleTimeoutMs: number
  /** Client connections open at once, both fronts together. */
  maxConnections: number
  /** Client connections open at once from one address. */
  maxConnectionsPerAddress: number
}

/** File descriptors this process may open (Linux), for the default connection cap. */
function openFileLimit(): number {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return line ? Number(line[1]) : 1024
  } catch {
    return 1024
  }
}

export function defaultLimits(): GatewayLimits {
  return {
    maxStatementBytes: 1024 * 1024,
    auditStatementBytes: 64 * 1024,
    sessionBufferBytes: 256 * 1024,
    totalBufferBytes: 64 * 1024 * 1024,
    stallTimeoutMs: 60_000,
    messagesPerTurn: 32,
    startupTimeoutMs: 15_000,
    idleTimeoutMs: 0,
    // A session holds two descriptors (client and upstream); keep a hundred for the rest.
    maxConnections: Math.max(16, Math.min(10_000, Math.floor((openFileLimit() - 100) / 2))),
    maxConnectionsPerAddress: 256,
  }
}

/** The limits in force: the defaults, with what the config file sets over them. */
export function resolveLimits(given: Partial<GatewayLimits> | undefined): GatewayLimits {
  return { ...defaultLimits(), ...given }
}

/** Reads `limits:` from the config file: known keys, non-negative integers. */
export function parseLimits(value: unknown): Partial<GatewayLimits> {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('`limits` must be a mapping')
  const known = Object.keys(defaultLimits())
  const out: Partial<Record<keyof GatewayLimits, number>> = {}
  for (const [key, n] of Object.entries(value)) {
    if (!known.includes(key)) throw new ConfigError(`\`limits\`: unknown key \`${key}\`; known: ${known.join(', ')}`)
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw new ConfigError(`\`limits.${key}\` must be a non-negative integer`)
    out[key as keyof GatewayLimits] = n as number
  }
  for (const key of ['maxStatementBytes', 'sessionBufferBytes', 'totalBufferBytes', 'messagesPerTurn', 'maxConnections', 'maxConnectionsPerAddress'] as const) {
    if (out[key] === 0) throw new ConfigError(`\`limits.${key}\` must be at least 1`)
  }
  return out
}
