// `gatehouse explain` and the gateway decide every request the same way: the
// example's test cases (and reads of the gateway's own tables) go through
// the explain command and through the gateway's own judges, with the clock
// at each case's time, and their effect, rule and masks are compared. The
// audit names why a read of gatehouse.permissions was allowed.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { setClock } from '../../cli/clock.js'
import { compileRepository } from '../../compiler/compile.js'
import { explainCommand } from '../../compiler/cli/explain.js'
import { loadDirectory } from '../../compiler/load.js'
import type { TestCase } from '../../compiler/resolve.js'
import type { Bundle, Decision } from '../../engine/types.js'
import type { RunningGateway } from '../../gateway/gateway.js'
import { judgeSql } from '../../gateway/postgres/judge.js'
import { decideRequest } from '../../gateway/ssh/judge.js'
import { queryEvents } from '../../store/audit-read.js'
import { EXAMPLE } from '../helpers/repo.js'
import { startShop, type Shop } from './harness.js'
import { startTestGateway } from './start-gateway.js'

let dir: string
let gateway: RunningGateway
let bundle: Bundle
let cases: TestCase[]

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-agree-'))
  const compiled = await compileRepository(await loadDirectory(EXAMPLE))
  bundle = compiled.bundle!
  // Every case the explain command can express: SQL, and SSH exec commands.
  cases = compiled.model!.tests.flatMap((s) => s.cases).filter((c) => c.sql !== undefined || typeof c.ssh === 'string')
  writeFileSync(path.join(dir, 'bundle.json'), compiled.bundleText!)
  gateway = await startTestGateway({ bundle: path.join(dir, 'bundle.json'), dataDir: path.join(dir, 'gateway'), store: path.join(dir, 'gateway', 'store') })
})

after(async () => {
  setClock(undefined)
  await gateway.stop()
  rmSync(dir, { recursive: true, force: true })
})

const SOURCE = '10.1.2.3'

async function explain(c: Pick<TestCase, 'identity' | 'resource' | 'sql' | 'ssh' | 'time'>): Promise<Decision> {
  let out = ''
  const io = { out: (text: string) => void (out += text), err: () => undefined }
  const request = c.sql !== undefined ? ['--sql', c.sql] : ['--ssh', c.ssh as string]
  const status = await explainCommand.run(['--bundle', path.join(dir, 'bundle.json'), '--identity', c.identity, '--resource', c.resource, ...request, '--source', SOURCE, ...(c.time ? ['--time', c.time] : []), '--format', 'json'], io)
  assert.equal(status, 0)
  return (JSON.parse(out) as { decision: Decision }).decision
}

async function judge(c: Pick<TestCase, 'identity' | 'resource' | 'sql' | 'ssh' | 'time'>): Promise<Decision> {
  setClock(c.time)
  try {
    const resource = bundle.resources[c.resource]!
    const owner = bundle.identities[c.identity]!.owner
    if (c.sql !== undefined) {
      const verdict = await judgeSql(gateway.context, { id: 'pg_agree', identity: c.identity, resource, application: '', source: SOURCE }, c.sql, { prepared: new Map() })
      return verdict.decision
    }
    return decideRequest(gateway.context, { id: 'ssh_agree', identity: c.identity, owner, resource, source: SOURCE }, { type: 'exec', command: c.ssh as string }).decision
  } finally {
    setClock(undefined)
  }
}

const summary = (d: Decision) => ({ effect: d.effect, rule: d.rule, masks: d.masks.map((m) => m.id).sort() })

test("explain and the gateway agree on every case of the example's tests", async () => {
  assert.ok(cases.length >= 20, 'the example has cases to compare')
  for (const c of cases) assert.deepEqual(summary(await judge(c)), summary(await explain(c)), c.name)
})

test('explain and the gateway agree on reads of the gateway\'s own tables', async () => {
  const requests = ['SELECT * FROM gatehouse.permissions', 'SELECT effect, rule FROM gatehouse.permissions WHERE effect = $$deny$$', 'SELECT * FROM gatehouse.activity', 'SELECT p.rule, o.id FROM gatehouse.permissions p, orders o', 'SELECT * FROM gatehouse.permissions; DELETE FROM orders']
  for (const identity of ['orders-reporting', 'support-bot', 'ci-deploy', 'backup-bot']) {
    for (const sql of requests) {
      const c = { identity, resource: 'orders-db', sql, time: '2027-01-04T10:00:00Z' }
      const [fromExplain, fromGateway] = [await explain(c), await judge(c)]
      assert.deepEqual(summary(fromGateway), summary(fromExplain), `${identity}: ${sql}`)
      if (sql === 'SELECT * FROM gatehouse.permissions') {
        assert.equal(fromExplain.effect, 'allow', `${identity} may read its own permissions`)
        assert.equal(fromExplain.rule, null, 'no grant decides it')
        assert.match(fromExplain.reasons.join('\n'), /the gateway answers itself/)
      }
    }
  }
})

let shop: Shop | undefined
after(() => shop?.stop())

test('the audit says why a read of gatehouse.permissions was allowed', async () => {
  shop = await startShop()
  const read = await shop.psql('reader', 'SELECT count(*) FROM gatehouse.permissions')
  assert.equal(read.status, 0, read.stderr)
  await shop.gateway.context.audit.flush()
  const events = await queryEvents(shop.gateway.context.db, { identity: 'reader', kinds: ['statement'] })
  const event = events.find((e) => e.data.statement === 'SELECT count(*) FROM gatehouse.permissions')!
  assert.equal(event.data.decision, 'allow')
  assert.equal(event.data.rule, null)
  assert.match((event.data.reasons as string[]).join('\n'), /the gateway answers itself/)
})
