// The gateway as the end-to-end tests run it: in this process, admin API on
// a free port, quick audit flushes, quiet logs (GATEHOUSE_TEST_LOG=1 shows them).
import type { GatewayConfig } from '../../gateway/config.js'
import { startGateway, type RunningGateway } from '../../gateway/gateway.js'
import { createLogger } from '../../runtime/log.js'

export function startTestGateway(config: Pick<GatewayConfig, 'bundle' | 'dataDir' | 'store'> & Partial<GatewayConfig>): Promise<RunningGateway> {
  return startGateway(
    { adminListen: { host: '127.0.0.1', port: 0 }, requireTls: false, auditFlushMs: 20, logLevel: 'error', ...config },
    createLogger({ level: process.env.GATEHOUSE_TEST_LOG === '1' ? 'debug' : 'error' }),
  )
}
