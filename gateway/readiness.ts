// Readiness that probes instead of waiting for a statement to fail: at a
// short interval, a round trip to the store (`SELECT 1`) and a TCP connection
// to every upstream the bundle names. `/readyz` and the metrics report the
// last results, so a load balancer stops sending clients to a gateway whose
// store is down even when no traffic has noticed yet.
import { connect } from 'node:net'
import type { Queryable } from '../store/database.js'
import type { BundleState } from './bundle/state.js'

export interface ProbeResult {
  ok: boolean
  /** Why it failed (never contains a secret: host and port at most). */
  error?: string
  checkedAt: Date
}

export interface ReadinessProbe {
  store: ProbeResult | undefined
  /** By resource name. */
  upstreams: Map<string, ProbeResult & { address: string }>
  /** Probes now; resolves when every check has an answer. */
  probe(): Promise<void>
  stop(): void
}

export interface ReadinessOptions {
  db: Queryable
  state: BundleState
  intervalMs?: number | undefined
  timeoutMs?: number | undefined
  onStoreChange?: (ok: boolean, error?: string) => void
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

function reachable(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)))
    socket.once('connect', () => (socket.destroy(), resolve()))
    socket.once('error', (err) => reject(err))
  })
}

export function createReadinessProbe(options: ReadinessOptions): ReadinessProbe {
  const intervalMs = options.intervalMs ?? 2000
  const timeoutMs = options.timeoutMs ?? 2000
  let running: Promise<void> | undefined
  const result: ReadinessProbe = {
    store: undefined,
    upstreams: new Map(),
    probe() {
      running ??= checkAll().finally(() => (running = undefined))
      return running
    },
    stop: () => clearInterval(timer),
  }

  async function checkStore(): Promise<void> {
    const before = result.store?.ok
    try {
      await withTimeout(options.db.query('SELECT 1'), timeoutMs, 'the store')
      result.store = { ok: true, checkedAt: new Date() }
    } catch (err) {
      result.store = { ok: false, error: (err as Error).message, checkedAt: new Date() }
    }
    if (before !== result.store.ok) options.onStoreChange?.(result.store.ok, result.store.error)
  }

  async function checkUpstreams(): Promise<void> {
    const resources = Object.values(options.state.current?.bundle.resources ?? {})
    const seen = new Map<string, ProbeResult & { address: string }>()
    await Promise.all(
      resources.map(async (resource) => {
        const target = resource.postgres ?? resource.ssh
        if (!target) return
        const address = `${target.host}:${target.port}`
        try {
          await reachable(target.host, target.port, timeoutMs)
          seen.set(resource.name, { ok: true, address, checkedAt: new Date() })
        } catch (err) {
          seen.set(resource.name, { ok: false, address, error: (err as Error).message, checkedAt: new Date() })
        }
      }),
    )
    result.upstreams = seen
  }

  const checkAll = () => Promise.all([checkStore(), checkUpstreams()]).then(() => undefined)
  const timer = setInterval(() => void result.probe(), intervalMs)
  timer.unref()
  return result
}
