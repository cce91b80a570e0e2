// The test command (`npm test`, through test/run.sh): type-checks and builds,
// starts the services the end-to-end tests need, runs the tests against them,
// and stops the services whatever happens (failure, Ctrl-C, SIGTERM).
//
//   npm test                          every test/**/*.test.ts
//   npm test -- test/gateway          the test files under these folders or files
//   npm test -- --test-name-pattern=x options for `node --test` (use the `=` form)
//   npm test -- FILE --seed=7 --count=5000
//                                     a longer fuzzer run by hand (GATEHOUSE_FUZZ_SEED/_COUNT)
//
// Steps: the system tools are installed from Debian's archive when missing
// (test/services/packages.ts); a PostgreSQL server and an OpenSSH server are
// started on free ports on 127.0.0.1, while `tsc` type-checks and builds; then
// `node --test` runs the files, two at a time, with the services described by
// these environment variables (read them with test/services/env.ts, whose
// postgresFromEnv()/sshdFromEnv() throw when they are missing):
//
//   GATEHOUSE_TEST_PG_HOST        127.0.0.1
//   GATEHOUSE_TEST_PG_PORT        TCP port
//   GATEHOUSE_TEST_PG_USER        superuser name
//   GATEHOUSE_TEST_PG_PASSWORD    superuser password (SCRAM)
//   GATEHOUSE_TEST_PG_CA          CA certificate that signed the server's (TLS verify-full)
//   GATEHOUSE_TEST_PG_BIN         the server's bin directory (psql, pgbench, pg_dump)
//   GATEHOUSE_TEST_PG_SOCKET_DIR  directory of the Unix socket (root only)
//   GATEHOUSE_TEST_SSH_HOST       127.0.0.1
//   GATEHOUSE_TEST_SSH_PORT       TCP port
//   GATEHOUSE_TEST_SSH_USER       login user (gatehouse-test)
//   GATEHOUSE_TEST_SSH_KEY        private key authorized for that user
//   GATEHOUSE_TEST_SSH_HOST_KEY   the server's public host key line
//
// The exit status is the tests' (or tsc's, or 1 when the services could not start).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { registerCleanup } from './services/cleanup.js'
import { postgresEnv, sshdEnv } from './services/env.js'
import { ensureCommands } from './services/packages.js'
import { startPostgres, type PostgresServer } from './services/postgres.js'
import { startSshd, type SshdServer } from './services/sshd.js'

const ROOT = path.resolve(import.meta.dirname, '..')

interface Selection {
  files: string[]
  testOptions: string[]
  fuzz: Record<string, string>
}

/**
 * A test that hangs fails with its name after this long instead of holding
 * the run until CI's own limit kills it unnamed: generous enough for the
 * slowest legitimate test on a loaded 2-core machine. A later
 * `--test-timeout=N` on the command line overrides it.
 */
const TEST_TIMEOUT_MS = 10 * 60_000

/** `--seed=N` and `--count=N` are for the fuzzers (test/helpers/fuzz-options.ts), not for `node --test`. */
const FUZZ_OPTION = /^--(seed|count)=(\d+)$/

function selectTests(args: string[]): Selection {
  const fuzz: Record<string, string> = {}
  for (const arg of args) {
    const m = FUZZ_OPTION.exec(arg)
    if (m) fuzz[`GATEHOUSE_FUZZ_${m[1]!.toUpperCase()}`] = m[2]!
  }
  args = args.filter((arg) => !FUZZ_OPTION.test(arg))
  const testOptions = args.filter((arg) => arg.startsWith('-'))
  const paths = args.filter((arg) => !arg.startsWith('-'))
  const files = new Set<string>()
  for (const target of paths.length > 0 ? paths : ['test']) {
    const full = path.resolve(ROOT, target)
    if (!existsSync(full)) throw new Error(`no test file or folder \`${target}\``)
    if (statSync(full).isFile()) {
      files.add(path.relative(ROOT, full))
      continue
    }
    for (const entry of readdirSync(full, { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.test.ts') && !entry.split(path.sep).includes('node_modules')) files.add(path.relative(ROOT, path.join(full, entry)))
    }
  }
  if (files.size === 0) throw new Error(`no *.test.ts files under ${paths.map((p) => `\`${p}\``).join(', ') || '`test`'}`)
  return { files: [...files].sort(), testOptions, fuzz }
}

/** Resolves to the exit status; streams the output. */
function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; ownGroup?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    // The test runner gets its own process group so that stopping it also
    // stops every process the tests spawned (gateways, clients).
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env: options.env ?? process.env, detached: options.ownGroup ?? false })
    const unregister = registerCleanup(() => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
      try {
        process.kill(options.ownGroup ? -child.pid : child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
    })
    child.on('error', (error) => (unregister(), reject(new Error(`could not run \`${command}\`: ${error.message}`))))
    child.on('exit', (code, signal) => {
      unregister()
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))
    })
  })
}

async function typecheckAndBuild(): Promise<number> {
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc')
  for (const project of ['tsconfig.json', 'tsconfig.build.json']) {
    const status = await run(tsc, ['-p', project])
    if (status !== 0) {
      console.error(`tsc -p ${project} failed (status ${status})`)
      return status
    }
  }
  // The embedded store's template (a no-op when the build already made it).
  const template = await run(process.execPath, ['--import', 'tsx', path.join('build', 'embedded-store-template.ts')])
  if (template !== 0) console.error(`build/embedded-store-template.ts failed (status ${template})`)
  return template
}

interface Services {
  postgres: PostgresServer
  sshd: SshdServer
}

async function provision(): Promise<Services> {
  await ensureCommands()
  const started = Date.now()
  const [postgres, sshd] = await Promise.allSettled([startPostgres(), startSshd()])
  if (postgres.status === 'rejected' || sshd.status === 'rejected') {
    if (postgres.status === 'fulfilled') await postgres.value.stop()
    if (sshd.status === 'fulfilled') await sshd.value.stop()
    throw postgres.status === 'rejected' ? postgres.reason : (sshd as PromiseRejectedResult).reason
  }
  console.log(
    `provision: postgresql ${path.basename(path.dirname(postgres.value.binDir))} on 127.0.0.1:${postgres.value.port}, ` +
      `sshd on 127.0.0.1:${sshd.value.port} (${((Date.now() - started) / 1000).toFixed(1)}s)`,
  )
  return { postgres: postgres.value, sshd: sshd.value }
}

async function main(): Promise<number> {
  const { files, testOptions, fuzz } = selectTests(process.argv.slice(2))
  const provisioning = provision()
  provisioning.catch(() => undefined) // handled below, after tsc
  const checked = await typecheckAndBuild()
  let services: Services
  try {
    services = await provisioning
  } catch (error) {
    console.error(`provision: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
  try {
    if (checked !== 0) return checked
    const env = { ...process.env, ...postgresEnv(services.postgres), ...sshdEnv(services.sshd), ...fuzz }
    return await run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', ...testOptions, ...files], { env, ownGroup: true })
  } finally {
    await services.postgres.stop()
    await services.sshd.stop()
  }
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(1)
  },
)
