// The gateway as the end-to-end tests run it: in this process, admin API on
// a free port, quick audit flushes, quiet logs (GATEHOUSE_TEST_LOG=1 shows
// them); and its bundle, compiled from a test repository.
import { renameSync, writeFileSync } from 'node:fs'
import { compileRepository } from '../../compiler/compile.js'
import { loadDirectory } from '../../compiler/load.js'
import type { GatewayConfig } from '../../gateway/config.js'
import { startGateway, type RunningGateway } from '../../gateway/gateway.js'
import { createLogger } from '../../runtime/log.js'

export function startTestGateway(config: Pick<GatewayConfig, 'bundle' | 'dataDir' | 'store'> & Partial<GatewayConfig>): Promise<RunningGateway> {
  return startGateway(
    { adminListen: { host: '127.0.0.1', port: 0 }, requireTls: false, auditFlushMs: 20, logLevel: 'error', ...config },
    createLogger({ level: process.env.GATEHOUSE_TEST_LOG === '1' ? 'debug' : 'error' }),
  )
}

/** Compiles the test repository and replaces the bundle in one rename, as a deployment would (the gateway reloads it). */
let sequence = Date.now()

/** Each compilation gets a higher sequence, as a deployment would: gateways refuse a bundle that is not newer. */
export async function compileBundle(repo: string, bundlePath: string): Promise<void> {
  const compiled = await compileRepository(await loadDirectory(repo), { sequence: ++sequence })
  if (!compiled.bundleText) throw new Error(`the test repository does not compile:\n${compiled.diagnostics.map((d) => `${d.file}:${d.line}: ${d.message}`).join('\n')}`)
  writeFileSync(`${bundlePath}.tmp`, compiled.bundleText)
  renameSync(`${bundlePath}.tmp`, bundlePath)
}
