import { parseArgs } from 'node:util'
import { EXIT, UsageError, type Command } from '../../cli/command.js'
import { ConfigError, loadConfig } from '../config.js'
import { startGateway } from '../gateway.js'

export const gatewayCommand: Command = {
  name: 'gateway',
  summary: 'run the enforcement gateway',
  usage: `usage: gatehouse gateway --bundle PATH|URL [--postgres-listen HOST:PORT] [--ssh-listen HOST:PORT]
                         [--admin-listen HOST:PORT] [--store URL|DIR] [--data-dir DIR] [--config FILE] ...

Loads the bundle (a file is watched, a URL is polled), and sits between
automation and its resources: authenticates each identity, decides every
statement and command, masks results, holds what needs approval, and records
everything in the audit store before it runs.

options (each may also be set in the --config YAML file, in camelCase):
  --bundle PATH|URL          the compiled bundle
  --public-key FILE          require bundles signed with this Ed25519 key
  --allow-bundle-rollback    accept a bundle that is not newer than the one in force
  --postgres-listen H:P      the PostgreSQL front
  --ssh-listen H:P           the SSH front
  --admin-listen H:P         health, readiness, status, metrics, /v1/self, operator API
  --admin-token-file FILE    operators' token for the admin API (or $GATEHOUSE_ADMIN_TOKEN)
  --store URL|DIR            postgres://… or an embedded store directory (default DATA-DIR/store)
  --data-dir DIR             last good bundle, embedded store, keys (default .gatehouse)
  --tls-cert FILE --tls-key FILE   TLS offered to PostgreSQL clients
  --require-tls              refuse PostgreSQL clients without TLS
  --audit-flush-ms N         longest wait of an async-mode audit event (default 100)
  --approvals-url URL        where people approve held requests (shown to the client)
  --log-level LEVEL          debug, info (default), warn, error`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        bundle: { type: 'string' },
        'public-key': { type: 'string' },
        'allow-bundle-rollback': { type: 'boolean' },
        'postgres-listen': { type: 'string' },
        'ssh-listen': { type: 'string' },
        'admin-listen': { type: 'string' },
        'admin-token-file': { type: 'string' },
        store: { type: 'string' },
        'data-dir': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'require-tls': { type: 'boolean' },
        'audit-flush-ms': { type: 'string' },
        'approvals-url': { type: 'string' },
        'log-level': { type: 'string' },
      },
    })
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together')
    let config
    try {
      config = await loadConfig(values.config, {
        ...(values.bundle ? { bundle: values.bundle } : {}),
        ...(values['public-key'] ? { publicKey: values['public-key'] } : {}),
        ...(values['postgres-listen'] ? { postgresListen: values['postgres-listen'] } : {}),
        ...(values['ssh-listen'] ? { sshListen: values['ssh-listen'] } : {}),
        ...(values['admin-listen'] ? { adminListen: values['admin-listen'] } : {}),
        ...(values['admin-token-file'] ? { adminTokenFile: values['admin-token-file'] } : {}),
        ...(values.store ? { store: values.store } : {}),
        ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
        ...(values['require-tls'] ? { requireTls: true } : {}),
        ...(values['allow-bundle-rollback'] ? { allowBundleRollback: true } : {}),
        ...(values['audit-flush-ms'] ? { auditFlushMs: values['audit-flush-ms'] } : {}),
        ...(values['approvals-url'] ? { approvalsUrl: values['approvals-url'] } : {}),
        ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
      })
      if (values['tls-cert'] && values['tls-key']) config.tls = { cert: values['tls-cert'], key: values['tls-key'] }
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message)
      throw err
    }
    const gateway = await startGateway(config)
    io.err(`gatehouse gateway running (bundle ${gateway.context.state.current?.revision ?? 'none: denying everything'})`)
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    io.err('stopping: flushing the audit trail')
    await gateway.stop()
    return EXIT.ok
  },
}
