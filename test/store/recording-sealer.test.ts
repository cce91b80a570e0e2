// Recorded output is sealed (hashed and compressed) on a worker thread: the
// digest and the deflated bytes must be those of the pieces joined, whatever
// their content, however many batches are in flight at once, and the bytes
// handed over must stay usable on this thread.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { inflateRawSync } from 'node:zlib'
import { sealRecordingChunk } from '../../store/recording-sealer.js'
import { chunkDigest } from '../../store/recordings.js'

async function roundTrip(pieces: Buffer[]): Promise<{ joined: Buffer; deflated: Buffer }> {
  const joined = Buffer.concat(pieces)
  const sealed = await sealRecordingChunk(pieces)
  assert.equal(sealed.digest, chunkDigest(joined))
  assert.deepEqual(inflateRawSync(sealed.deflated), joined)
  return { joined, deflated: sealed.deflated }
}

test('text is compressed, incompressible bytes are stored as they are, and both read back exactly', async () => {
  const text = Buffer.from('Oct 12 10:00:01 web-1 orders[311]: order 4711 shipped to warehouse 3\n'.repeat(4000))
  const compressed = await roundTrip([text.subarray(0, 1000), text.subarray(1000)])
  assert.ok(compressed.deflated.length < compressed.joined.length / 10, 'repetitive text shrinks')
  const random = await roundTrip([randomBytes(300_000), randomBytes(5)])
  assert.ok(random.deflated.length < random.joined.length * 1.01, 'stored blocks add next to nothing')
  await roundTrip([])
  await roundTrip([Buffer.from('x')])
})

test('many batches in flight at once, of growing sizes, each sealed as its own', async () => {
  const batches = Array.from({ length: 20 }, (_, i) => [randomBytes(1000 * (i + 1) ** 2), Buffer.from(`batch ${i}\n`.repeat(i * 50))])
  const sealed = await Promise.all(batches.map((pieces) => sealRecordingChunk(pieces)))
  sealed.forEach((s, i) => {
    const joined = Buffer.concat(batches[i]!)
    assert.equal(s.digest, chunkDigest(joined), `batch ${i}`)
    assert.deepEqual(inflateRawSync(s.deflated), joined, `batch ${i}`)
  })
  // Slots are reused once answered: a second wave of the same sizes reads back just as well.
  for (const pieces of batches.slice(0, 8)) await roundTrip(pieces)
})

test('the pieces handed over are copied, not taken: they keep their bytes', async () => {
  const small = Buffer.from('a pooled buffer') // a slice of Node's shared pool
  const large = Buffer.alloc(200_000, 7)
  await roundTrip([small, large])
  assert.equal(small.toString(), 'a pooled buffer')
  assert.equal(large.length, 200_000)
  assert.equal(large[199_999], 7)
  assert.equal(Buffer.from('another pooled buffer').toString(), 'another pooled buffer')
})
