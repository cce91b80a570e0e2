// A refused bundle leaves a tamper-evident trace: a `bundle.rejected` event
// in the hash-chained trail and a metric, whatever the reason (a rollback to
// the bundle that was in force before, garbage).
import assert from 'node:assert/strict'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { verifyAudit } from '../../../store/audit-read.js'
import { editYaml, startShop, type Shop } from '../harness.js'
import { until } from '../../helpers/until.js'

let shop: Shop
before(async () => {
  shop = await startShop({ store: 'postgres' })
})
after(() => shop?.stop())


test('a rollback to the previous bundle and a corrupt bundle are audited and counted', async () => {
  const ctx = shop.gateway.context
  const previous = readFileSync(shop.bundlePath, 'utf8')
  const before = ctx.state.current!.digest
  await shop.recompile((repo) => editYaml(path.join(repo, 'resources', 'db.yaml'), (doc) => doc.set('description', 'newer')))
  await until('the newer bundle is in force', () => ctx.state.current!.digest !== before)
  const rejected = async (code: string) => {
    await ctx.audit.flush()
    return ctx.db.query("SELECT 1 FROM gatehouse.audit_trail WHERE kind = 'bundle.rejected' AND data->>'code' = $1", [code])
  }
  writeFileSync(`${shop.bundlePath}.tmp`, previous)
  renameSync(`${shop.bundlePath}.tmp`, shop.bundlePath)
  await until('the rollback is refused and audited', async () => (await rejected('bundle.rollback')).length === 1)
  writeFileSync(`${shop.bundlePath}.tmp`, '{"not": "a bundle"')
  renameSync(`${shop.bundlePath}.tmp`, shop.bundlePath)
  await until('the corrupt bundle is refused and audited', async () => ctx.state.lastRejection?.code !== 'bundle.rollback' && (await rejected(ctx.state.lastRejection!.code)).length === 1)
  const metrics = ctx.metrics.render()
  assert.match(metrics, /gatehouse_bundle_rejections_total\{code="bundle\.rollback"\} 1/)
  assert.notEqual(ctx.state.current!.digest, before, 'the newer bundle stays in force')
  assert.deepEqual((await verifyAudit(ctx.db)).problems, [])
})
