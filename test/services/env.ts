// How the test command (test/run.ts) hands the services it started to the test
// processes: environment variables. A test that needs a service calls
// postgresFromEnv() or sshdFromEnv(), which throw when the variables are
// missing, so a test run without the services fails instead of skipping.
//
//   GATEHOUSE_TEST_PG_HOST        127.0.0.1
//   GATEHOUSE_TEST_PG_PORT        TCP port
//   GATEHOUSE_TEST_PG_USER        superuser name
//   GATEHOUSE_TEST_PG_PASSWORD    superuser password (SCRAM)
//   GATEHOUSE_TEST_PG_CA          CA certificate that signed the server's (for verify-full)
//   GATEHOUSE_TEST_PG_BIN         the server's bin directory (psql, pgbench, pg_dump)
//   GATEHOUSE_TEST_PG_SOCKET_DIR  directory of the Unix socket (root only)
//   GATEHOUSE_TEST_SSH_HOST       127.0.0.1
//   GATEHOUSE_TEST_SSH_PORT       TCP port
//   GATEHOUSE_TEST_SSH_USER       login user (gatehouse-test)
//   GATEHOUSE_TEST_SSH_KEY        private key authorized for that user
//   GATEHOUSE_TEST_SSH_HOST_KEY   the server's public host key line
import { describePostgres, type PostgresClient, type PostgresCoordinates } from './postgres.js'
import { describeSshd, type SshdClient, type SshdCoordinates } from './sshd.js'

export function postgresEnv(server: PostgresCoordinates): Record<string, string> {
  return {
    GATEHOUSE_TEST_PG_HOST: server.host,
    GATEHOUSE_TEST_PG_PORT: String(server.port),
    GATEHOUSE_TEST_PG_USER: server.superuser.user,
    GATEHOUSE_TEST_PG_PASSWORD: server.superuser.password,
    GATEHOUSE_TEST_PG_CA: server.tls.caFile,
    GATEHOUSE_TEST_PG_BIN: server.binDir,
    GATEHOUSE_TEST_PG_SOCKET_DIR: server.socketDir,
  }
}

export function sshdEnv(server: SshdCoordinates): Record<string, string> {
  return {
    GATEHOUSE_TEST_SSH_HOST: server.host,
    GATEHOUSE_TEST_SSH_PORT: String(server.port),
    GATEHOUSE_TEST_SSH_USER: server.user,
    GATEHOUSE_TEST_SSH_KEY: server.clientKeyPath,
    GATEHOUSE_TEST_SSH_HOST_KEY: server.hostKey,
  }
}

/** The PostgreSQL server the test command started; throws when the test runs without it. */
export function postgresFromEnv(env: NodeJS.ProcessEnv = process.env): PostgresClient {
  const read = reader(env, 'PostgreSQL')
  return describePostgres({
    host: read('GATEHOUSE_TEST_PG_HOST'),
    port: readPort(read, 'GATEHOUSE_TEST_PG_PORT'),
    socketDir: read('GATEHOUSE_TEST_PG_SOCKET_DIR'),
    binDir: read('GATEHOUSE_TEST_PG_BIN'),
    superuser: { user: read('GATEHOUSE_TEST_PG_USER'), password: read('GATEHOUSE_TEST_PG_PASSWORD') },
    tls: { caFile: read('GATEHOUSE_TEST_PG_CA') },
  })
}

/** The OpenSSH server the test command started; throws when the test runs without it. */
export function sshdFromEnv(env: NodeJS.ProcessEnv = process.env): SshdClient {
  const read = reader(env, 'OpenSSH')
  return describeSshd({
    host: read('GATEHOUSE_TEST_SSH_HOST'),
    port: readPort(read, 'GATEHOUSE_TEST_SSH_PORT'),
    user: read('GATEHOUSE_TEST_SSH_USER'),
    clientKeyPath: read('GATEHOUSE_TEST_SSH_KEY'),
    hostKey: read('GATEHOUSE_TEST_SSH_HOST_KEY'),
  })
}

function reader(env: NodeJS.ProcessEnv, service: string): (name: string) => string {
  return (name) => {
    const value = env[name]
    if (!value) {
      throw new Error(
        `\`${name}\` is not set: this test needs the ${service} server that the test command starts\n` +
          'help: run it through `npm test -- <file or folder>` (test/run.ts), not `node --test` directly',
      )
    }
    return value
  }
}

function readPort(read: (name: string) => string, name: string): number {
  const port = Number(read(name))
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`\`${name}\` is not a port: \`${read(name)}\``)
  return port
}
