// The gateway's settings, from a YAML file and command-line flags (flags win).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { load } from 'js-yaml'
import { didYouMeanSuffix } from '../cli/suggest.js'
import { parseLimits, type GatewayLimits } from './limits.js'
import { parseSshSettings, type SshSettings } from './ssh/settings.js'

export interface ListenAddress {
  host: string
  port: number
}

export interface GatewayConfig {
  /** A bundle file (watched) or an HTTP(S) URL (polled). */
  bundle: string
  /** Ed25519 public key (PEM file) bundles must be signed with. */
  publicKey?: string
  /** The gateway's own state: the last good bundle, the embedded store, the SSH host key. */
  dataDir: string
  /** `postgres://…`, or a directory for the embedded store. */
  store: string
  postgresListen?: ListenAddress
  sshListen?: ListenAddress
  adminListen?: ListenAddress
  /** File holding the operators' admin token (or $GATEHOUSE_ADMIN_TOKEN). */
  adminTokenFile?: string
  /** TLS certificate and key offered to PostgreSQL clients. */
  tls?: { cert: string; key: string }
  /** Refuse PostgreSQL clients that do not use TLS. */
  requireTls: boolean
  /** Ask TLS clients for the token in cleartext (for clients without SCRAM); SCRAM otherwise. */
  cleartextOverTls?: boolean
  /** Accept a workload identity token as a cleartext password without TLS, on connections to a loopback address only. */
  cleartextOnLoopback?: boolean
  /** Certificate authority (PEM file) trusted for OIDC issuers besides the system's. */
  oidcCa?: string
  /** Seconds after its `iat` that a workload identity token is refused, whatever its `exp` says (default an hour). */
  oidcMaxTokenAge?: number
  /** How async-mode audit events wait at most before they are flushed. */
  auditFlushMs: number
  /** How often `/readyz` probes the store and the upstreams. */
  readinessIntervalMs?: number
  /** Accept a bundle that is not newer than the one in force (to roll back on purpose). */
  allowBundleRollback?: boolean
  /** Caps on what clients can make the gateway hold (gateway/limits.ts); defaults for what is not set. */
  limits?: Partial<GatewayLimits>
  /** Shown to a client whose request is held: where people approve it. */
  approvalsUrl?: string
  logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** The SSH front's timeouts and buffer limits (defaults when absent). */
  ssh?: SshSettings
}

export class ConfigError extends Error {}

export function parseListen(text: string, option: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (!match || !(port >= 0 && port <= 65535)) throw new ConfigError(`${option} must be HOST:PORT, not \`${text}\``)
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port }
}

const KEYS = ['bundle', 'publicKey', 'dataDir', 'store', 'postgresListen', 'sshListen', 'adminListen', 'adminTokenFile', 'tls', 'requireTls', 'cleartextOverTls', 'cleartextOnLoopback', 'oidcCa', 'oidcMaxTokenAge', 'auditFlushMs', 'readinessIntervalMs', 'limits', 'allowBundleRollback', 'approvalsUrl', 'logLevel', 'ssh'] as const

/** Reads the config file (if any) and applies flags over it. Relative paths in the file are relative to the file. */
export async function loadConfig(file: string | undefined, flags: Partial<Record<(typeof KEYS)[number], string | boolean>>): Promise<GatewayConfig> {
  let fromFile: Record<string, unknown> = {}
  const base = file ? path.dirname(path.resolve(file)) : process.cwd()
  if (file) {
    let parsed: unknown
    try {
      parsed = load(await readFile(file, 'utf8'))
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message.split('\n')[0]}`)
    }
    if (parsed && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new ConfigError(`${file}: must be a mapping`)
    fromFile = (parsed ?? {}) as Record<string, unknown>
    for (const key of Object.keys(fromFile)) if (!(KEYS as readonly string[]).includes(key)) throw new ConfigError(`${file}: unknown key \`${key}\`${didYouMeanSuffix(key, KEYS)}`)
  }
  const pick = (key: (typeof KEYS)[number]): unknown => flags[key] ?? fromFile[key]
  const string = (key: (typeof KEYS)[number]): string | undefined => {
    const value = pick(key)
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' || value === '') throw new ConfigError(`\`${key}\` must be a string`)
    return value
  }
  const resolvePath = (value: string | undefined, fromFlag: boolean) => (value === undefined || fromFlag || /^[a-z]+:\/\//.test(value) ? value : path.resolve(base, value))
  const filePath = (key: (typeof KEYS)[number]) => resolvePath(string(key), flags[key] !== undefined)
  const bundle = filePath('bundle')
  if (!bundle) throw new ConfigError('a bundle is required (--bundle PATH|URL)')
  const dataDir = filePath('dataDir') ?? path.resolve('.gatehouse')
  const listen = (key: 'postgresListen' | 'sshListen' | 'adminListen') => {
    const value = string(key)
    return value === undefined ? undefined : parseListen(value, key)
  }
  const tlsValue = pick('tls') as { cert?: unknown; key?: unknown } | string | undefined
  let tls: GatewayConfig['tls']
  if (tlsValue !== undefined) {
    if (typeof tlsValue !== 'object' || typeof tlsValue.cert !== 'string' || typeof tlsValue.key !== 'string') throw new ConfigError('`tls` must be {cert: PATH, key: PATH}')
    tls = { cert: path.resolve(base, tlsValue.cert), key: path.resolve(base, tlsValue.key) }
  }
  const flushMs = Number(pick('auditFlushMs') ?? 100)
  if (!(flushMs >= 1 && flushMs <= 60_000)) throw new ConfigError('`auditFlushMs` must be 1 to 60000')
  const readinessMs = Number(pick('readinessIntervalMs') ?? 2000)
  if (!(readinessMs >= 100 && readinessMs <= 600_000)) throw new ConfigError('`readinessIntervalMs` must be 100 to 600000')
  const maxTokenAge = Number(pick('oidcMaxTokenAge') ?? 3600)
  if (!(Number.isInteger(maxTokenAge) && maxTokenAge >= 1 && maxTokenAge <= 86_400)) throw new ConfigError('`oidcMaxTokenAge` must be 1 to 86400 seconds')
  const level = string('logLevel') ?? 'info'
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError('`logLevel` must be debug, info, warn or error')
  const config: GatewayConfig = {
    bundle,
    dataDir,
    store: filePath('store') ?? path.join(dataDir, 'store'),
    requireTls: pick('requireTls') === true || pick('requireTls') === 'true',
    cleartextOverTls: pick('cleartextOverTls') === true || pick('cleartextOverTls') === 'true',
    cleartextOnLoopback: pick('cleartextOnLoopback') === true || pick('cleartextOnLoopback') === 'true',
    oidcMaxTokenAge: maxTokenAge,
    auditFlushMs: flushMs,
    readinessIntervalMs: readinessMs,
    limits: parseLimits(fromFile.limits),
    allowBundleRollback: pick('allowBundleRollback') === true || pick('allowBundleRollback') === 'true',
    logLevel: level as GatewayConfig['logLevel'],
    ssh: parseSshSettings(fromFile.ssh, (message) => new ConfigError(message)),
  }
  const optional = { publicKey: filePath('publicKey'), adminTokenFile: filePath('adminTokenFile'), oidcCa: filePath('oidcCa'), approvalsUrl: string('approvalsUrl'), postgresListen: listen('postgresListen'), sshListen: listen('sshListen'), adminListen: listen('adminListen'), tls }
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(config, { [key]: value })
  if (config.requireTls && !config.tls) throw new ConfigError('`requireTls` needs `tls` (a certificate and key)')
  if (!config.postgresListen && !config.sshListen) throw new ConfigError('nothing to serve: give --postgres-listen and/or --ssh-listen')
  return config
}
