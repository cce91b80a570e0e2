// A new embedded store starts from the template the build made, not from
// initdb in the gateway's process; and the archive reader refuses anything
// but plain files and directories inside the target.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { readTar, unpackTemplate } from '../../store/embedded-template.js'
import { createEmbedded, openDatabase } from '../../store/database.js'
import { prng } from '../engine/masks/fixtures.js'

const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-template-'))
after(() => rmSync(work, { recursive: true, force: true }))

/** A ustar archive of the given entries, as PGlite writes them. */
function tar(entries: Array<{ name: string; data?: string; flag?: string }>): Uint8Array {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? '')
    const header = Buffer.alloc(512)
    header.write(entry.name, 0, 100)
    header.write('0000600\0', 100)
    header.write(data.length.toString(8).padStart(11, '0') + '\0', 124)
    header.write(entry.flag ?? '0', 156)
    header.write('ustar\0' + '00', 257)
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

test('a new store is unpacked from the template and opens as a working store', async () => {
  const dir = path.join(work, 'store')
  assert.equal(await unpackTemplate(path.join(work, 'unpacked')), true, 'the build made a template for the installed PGlite (npm run build)')
  assert.ok(existsSync(path.join(work, 'unpacked', 'PG_VERSION')))
  assert.ok(!existsSync(path.join(work, 'unpacked.partial')), 'nothing is left beside the directory')
  const db = await openDatabase(dir)
  try {
    assert.ok(existsSync(path.join(dir, 'pgdata', 'PG_VERSION')))
    const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM gatehouse.audit_events')
    assert.equal(row?.n, 0)
  } finally {
    await db.close()
  }
})

test('the embedded settings keep shared buffers small', async () => {
  const db = await createEmbedded(path.join(work, 'settings'))
  try {
    const result = await db.query<{ setting: string }>("SELECT current_setting('shared_buffers') AS setting")
    assert.equal(result.rows[0]?.setting, '16MB')
  } finally {
    await db.close()
  }
})

test('the reader yields files and directories, with leading slashes removed', () => {
  const entries = [...readTar(tar([{ name: '/base', flag: '5' }, { name: '/base/1', data: 'x'.repeat(700) }, { name: 'PG_VERSION', data: '17\n', flag: '\0' }]))]
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.data.length]),
    [['base', 'directory', 0], ['base/1', 'file', 700], ['PG_VERSION', 'file', 3]],
  )
})

test('names that leave the target and entries other than files and directories are refused', () => {
  for (const name of ['../escape', 'base/../../escape', './x', '/', 'a/./b']) assert.throws(() => [...readTar(tar([{ name }]))], /unsafe name/, name)
  for (const flag of ['1', '2', 'x', 'g', 'L']) assert.throws(() => [...readTar(tar([{ name: 'link', flag }]))], /unsupported entry type/, flag)
  assert.throws(() => [...readTar(tar([{ name: 'big', data: 'y'.repeat(600) }]).subarray(0, 1024))], /bad size/)
})

test('mangled archives give an error or entries inside the target, never anything else', () => {
  const base = tar([{ name: '/global', flag: '5' }, { name: '/global/pg_control', data: 'c'.repeat(900) }, { name: 'PG_VERSION', data: '17\n' }])
  const random = prng(20261206)
  for (let round = 0; round < 2000; round++) {
    const bytes = Uint8Array.from(base)
    for (let edits = 1 + Math.floor(random() * 6); edits > 0; edits--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
    const cut = random() < 0.2 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes
    try {
      for (const entry of readTar(cut)) {
        assert.ok(!path.isAbsolute(entry.name) && !entry.name.split('/').includes('..'), `round ${round}: ${entry.name}`)
        assert.ok(entry.type === 'file' || entry.type === 'directory')
      }
    } catch (err) {
      assert.ok(err instanceof Error && /^template: /.test(err.message), `round ${round}: ${String(err)}`)
    }
  }
})

test('a store whose directory already exists is opened, not replaced', async () => {
  const dir = path.join(work, 'existing')
  const first = await openDatabase(dir)
  await first.exec('CREATE TABLE kept (a int)')
  await first.close()
  const again = await openDatabase(dir)
  try {
    assert.deepEqual(await again.query('SELECT * FROM kept'), [])
    assert.deepEqual(readdirSync(path.join(dir)).sort(), ['gatehouse.lock', 'pgdata'])
  } finally {
    await again.close()
  }
})
