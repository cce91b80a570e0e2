// Rotation without downtime: after `gatehouse identity rotate`, the old token
// and the new one both log in (SCRAM and the admin bearer alike) until the
// old one's notAfter; after it, only the new one does, and the refusal is
// audited.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { queryEvents } from '../../store/audit-read.js'
import { gatehouseAsync } from '../helpers/cli.js'
import { startShop, type Shop } from './harness.js'
import { recompileAndWait } from './reload-wait.js'

let shop: Shop
before(async () => (shop = await startShop({ store: 'postgres' })))
after(() => shop?.stop())

async function login(password: string): Promise<'in' | 'refused'> {
  const client = new pg.Client({ host: '127.0.0.1', port: shop.port, user: 'reader', password, database: 'shop' })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return 'in'
  } catch (err) {
    assert.match((err as Error).message, /password authentication failed/)
    return 'refused'
  } finally {
    await client.end().catch(() => undefined)
  }
}

const self = async (token: string) => (await fetch(`http://127.0.0.1:${shop.gateway.addresses.admin!.port}/v1/self`, { headers: { authorization: `Bearer ${token}` } })).status

test('both tokens work during the grace period, only the new one after it', async () => {
  const repo = path.join(shop.dir, 'repo')
  const old = shop.tokens.reader!
  const rotated = await gatehouseAsync(['identity', 'rotate', 'reader', '--grace', '7d', '--repo', repo])
  assert.equal(rotated.status, 0, rotated.stderr)
  const fresh = rotated.stdout.trim()
  assert.match(fresh, /^gth_[A-Za-z0-9_-]{43}$/)
  assert.match(rotated.stderr, /identities\/all\.yaml: reader has a new token .* the old one works until \d{4}-\d\d-\d\dT/)
  await recompileAndWait(shop, () => undefined)
  assert.deepEqual([await login(old), await login(fresh)], ['in', 'in'])
  assert.deepEqual([await self(old), await self(fresh)], [200, 200])

  // The grace period is over: the repository as it is then (the old verifier's notAfter passed).
  await recompileAndWait(shop, () => {
    const file = path.join(repo, 'identities', 'all.yaml')
    writeFileSync(file, readFileSync(file, 'utf8').replace(/notAfter: "[^"]+"/, `notAfter: "${new Date(Date.now() - 1000).toISOString()}"`))
  })
  assert.deepEqual([await login(old), await login(fresh)], ['refused', 'in'])
  assert.deepEqual([await self(old), await self(fresh)], [401, 200])
  await shop.gateway.context.audit.flush()
  const failures = await queryEvents(shop.gateway.context.db, { identity: 'reader', kinds: ['auth.failure'], limit: 100 })
  assert.equal(failures.length, 1)
})
