// What operators install: the GitHub App manifest agrees with what the bot
// handles, and the systemd units are valid, hardened, and start the commands
// with options the commands accept.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { routeDelivery } from '../../bot/webhook/route.js'
import { ROOT } from '../helpers/repo.js'

const GATEHOUSE = path.join(ROOT, 'dist', 'bin', 'gatehouse.js')
const UNITS = path.join(ROOT, 'deploy', 'systemd')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-deploy-'))
after(() => rmSync(work, { recursive: true, force: true }))

interface Manifest {
  hook_attributes: { url: string; active: boolean }
  public: boolean
  default_permissions: Record<string, string>
  default_events: string[]
}
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'github-app.json'), 'utf8')) as Manifest

/** Every webhook event GitHub sends, from the recorded examples. */
const ALL_EVENTS = (createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as Array<{ name: string }>).map((e) => e.name)

test('the App subscribes to exactly the events the bot handles', () => {
  assert.ok(ALL_EVENTS.length > 40)
  const handled = ALL_EVENTS.filter((event) => {
    const route = routeDelivery(event, {}, [])
    return route.queue || route.reason !== 'event not handled'
  })
  assert.deepEqual([...manifest.default_events].sort(), handled.sort())
})

test('the App asks for the permissions the bot uses, no more, and posts to the bot\'s webhook path', () => {
  assert.deepEqual(manifest.default_permissions, { administration: 'read', checks: 'write', contents: 'write', issues: 'write', pull_requests: 'write', members: 'read', metadata: 'read' })
  assert.equal(new URL(manifest.hook_attributes.url).pathname, '/webhook')
  assert.equal(new URL(manifest.hook_attributes.url).protocol, 'https:', 'GitHub delivers to the TLS proxy in front of the bot')
  assert.equal(manifest.public, false)
})

function unit(name: string): Map<string, string[]> {
  const settings = new Map<string, string[]>()
  for (const line of readFileSync(path.join(UNITS, name), 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!])
  }
  return settings
}

const HARDENING: Record<string, string> = {
  DynamicUser: 'yes',
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  PrivateDevices: 'yes',
  CapabilityBoundingSet: '',
  RestrictSUIDSGID: 'yes',
  UMask: '0077',
}

for (const name of readdirSync(UNITS)) {
  test(`${name} runs as its own user with no new privileges and a read-only file system`, () => {
    const settings = unit(name)
    for (const [key, value] of Object.entries(HARDENING)) assert.deepEqual(settings.get(key), [value], `${name}: ${key}=${value}`)
    assert.ok(settings.get('User')?.[0]?.startsWith('gatehouse'))
    const writable = settings.get('ReadWritePaths') ?? []
    if (name === 'gatehouse-gateway.service') {
      assert.deepEqual(writable, ['/var/lib/gatehouse'], 'only the data directory is writable')
      assert.match(settings.get('ExecStart')![0]!, /--data-dir \/var\/lib\/gatehouse( |$)/)
      assert.deepEqual(settings.get('StateDirectory'), ['gatehouse'])
    } else assert.deepEqual(writable, [], 'nothing is writable')
  })

  test(`${name} starts a command with options the command accepts`, () => {
    const [program, ...args] = unit(name).get('ExecStart')![0]!.split(/\s+/)
    assert.equal(program, '/usr/local/bin/gatehouse', 'where `npm install --global` with the default prefix puts it')
    // The configuration file does not exist here: the command must get as far as looking for it.
    const run = spawnSync(process.execPath, [GATEHOUSE, ...args.map((arg) => arg.replace(/^\/etc\/gatehouse/, path.join(work, 'etc')))], { encoding: 'utf8', timeout: 60_000 })
    assert.notEqual(run.status, 0)
    const first = run.stderr.split('\n')[0]!
    assert.doesNotMatch(run.stderr, /unknown option|unknown command/i, run.stderr)
    assert.match(first, /cannot read `[^`]*\/etc\/bot\.yaml`|\/etc\/gateway\.yaml: ENOENT/, run.stderr)
  })

  test(`${name} passes systemd-analyze verify`, (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('no systemd-analyze on this machine')
    // verify checks that ExecStart exists: point it at this build.
    const launcher = path.join(work, 'gatehouse')
    writeFileSync(launcher, `#!/bin/sh\nexec "${process.execPath}" "${GATEHOUSE}" "$@"\n`, { mode: 0o755 })
    const copy = path.join(work, name)
    writeFileSync(copy, readFileSync(path.join(UNITS, name), 'utf8').replace('/usr/local/bin/gatehouse', launcher))
    const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
    assert.equal(verify.status, 0, verify.stderr)
    assert.equal(verify.stderr.trim(), '', verify.stderr)
  })
}
