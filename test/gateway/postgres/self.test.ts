// What may I do, what have I done: gatehouse.permissions and
// gatehouse.activity in SQL, /v1/self over HTTP; observe mode recorded; the
// audit trail verifies and answers queries.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { queryEvents } from '../../../store/audit-read.js'
import { gatehouseAsync } from '../../helpers/cli.js'
import { startShop, type Shop } from '../harness.js'

let shop: Shop
before(async () => {
  process.env.GATEHOUSE_ADMIN_TOKEN = 'admin-secret'
  shop = await startShop()
})
after(() => shop?.stop())
const admin = () => `http://127.0.0.1:${shop.gateway.addresses.admin!.port}`

test('gatehouse.permissions lists this identity\'s rules and masks here, and can be filtered like a table', async () => {
  const all = await shop.psql('reader', 'SELECT effect, rule FROM gatehouse.permissions ORDER BY rule, effect')
  assert.equal(all.status, 0, all.stderr)
  assert.match(all.stdout, /^allow\|read\/read-shop$/m)
  assert.match(all.stdout, /^mask\|read$/m)
  const filtered = await shop.psql('reader', "SELECT target FROM gatehouse.permissions p WHERE p.effect = 'deny' AND mode = 'observe'")
  assert.equal(filtered.stdout.trim(), 'select on public.orders')
  const writer = await shop.psql('writer', 'SELECT count(*) FROM gatehouse.permissions WHERE rule LIKE $$write/%$$')
  assert.equal(writer.stdout.trim(), '2')
})

test('gatehouse.activity shows what this identity did, and nothing of anyone else', async () => {
  await shop.psql('writer', "SELECT 'writer was here' FROM orders LIMIT 1")
  await shop.psql('reader', 'SELECT id FROM orders LIMIT 1')
  await shop.psql('reader', 'DELETE FROM orders')
  await new Promise((r) => setTimeout(r, 100))
  const activity = await shop.psql('reader', "SELECT decision, statement FROM gatehouse.activity WHERE kind = 'statement' ORDER BY time")
  assert.equal(activity.status, 0, activity.stderr)
  assert.match(activity.stdout, /^allow\|SELECT id FROM orders LIMIT 1$/m)
  assert.match(activity.stdout, /^deny\|DELETE FROM orders$/m)
  assert.doesNotMatch(activity.stdout, /writer was here/)
})

test('/v1/self answers for a bearer token and only for a valid one', async () => {
  const response = await fetch(`${admin()}/v1/self`, { headers: { authorization: `Bearer ${shop.tokens.writer}` } })
  assert.equal(response.status, 200)
  const body = (await response.json()) as { identity: { name: string }; resources: Array<{ resource: string; grants: unknown[] }>; activity: unknown[] }
  assert.equal(body.identity.name, 'writer')
  assert.deepEqual(body.resources.map((r) => r.resource), ['shop'])
  assert.equal((await fetch(`${admin()}/v1/self`, { headers: { authorization: 'Bearer gth_nope' } })).status, 401)
  assert.equal((await fetch(`${admin()}/v1/self`)).status, 401)
})

test('observe mode: recorded, not enforced; audit query --observed finds it; verify passes', async () => {
  const read = await shop.psql('reader', 'SELECT count(*) FROM orders')
  assert.equal(read.status, 0, 'observe-mode deny does not block')
  await shop.gateway.context.audit.flush()
  const events = await queryEvents(shop.gateway.context.db, { identity: 'reader', kinds: ['statement'] })
  const observed = events.filter((e) => e.data.observed)
  assert.ok(observed.some((e) => (e.data.observed as { rule: string }).rule === 'read/trial-no-orders-at-night'))
  const cli = await gatehouseAsync(['audit', 'query', '--identity', 'reader', '--observed', '--admin', admin(), '--format', 'json'])
  assert.equal(cli.status, 0, cli.stderr)
  assert.ok((JSON.parse(cli.stdout) as unknown[]).length >= 1)
  const verify = await gatehouseAsync(['audit', 'verify', '--admin', admin()])
  assert.equal(verify.status, 0, verify.stdout + verify.stderr)
  assert.match(verify.stdout, /intact/)
  const sessions = await gatehouseAsync(['sessions', 'list', '--identity', 'reader', '--admin', admin()])
  assert.match(sessions.stdout, /reader on shop/)
  const id = /^(pg_\S+)/m.exec(sessions.stdout)![1]!
  const timeline = await gatehouseAsync(['sessions', 'show', id, '--admin', admin()])
  assert.match(timeline.stdout, /session\.start/)
})
