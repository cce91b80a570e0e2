// Sealing a batch of recorded output (its SHA-256 and its deflated form)
// costs about a tenth of the CPU it takes to relay that output. One worker
// thread seals every batch, so the thread that relays all the sessions does
// not: under a streaming load that thread is the bottleneck, and the worker
// runs on a core it leaves idle.
import { Buffer } from 'node:buffer'
import { Worker } from 'node:worker_threads'

export interface SealedChunk {
  digest: string
  deflated: Buffer
}

// CommonJS run by `eval`, so the worker needs no file of its own next to the
// compiled or the source modules. Level 1: most of the saving for a fraction
// of the time of the default. Output that does not compress (compressed or
// encrypted files) costs level 1 twenty times more per byte than text, for
// nothing: when a sample of the batch does not shrink, it is stored as is
// (level 0, still deflate's format).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { deflateRawSync } = require('node:zlib')
const slots = []
parentPort.on('message', ({ id, slot, shared, length }) => {
  try {
    if (shared && slot >= 0) slots[slot] = shared
    const bytes = new Uint8Array(shared ?? slots[slot], 0, length)
    const digest = createHash('sha256').update(bytes).digest('hex')
    const sample = bytes.subarray(0, 16384)
    const level = deflateRawSync(sample, { level: 1 }).length < sample.length * 0.95 ? 1 : 0
    const deflated = new Uint8Array(deflateRawSync(bytes, { level }))
    parentPort.postMessage({ id, digest, deflated }, [deflated.buffer])
  } catch (err) {
    parentPort.postMessage({ id, error: String(err) })
  }
})
`

interface Reply {
  id: number
  digest?: string
  deflated?: Uint8Array
  error?: string
}

interface Job {
  slot: number
  resolve(sealed: SealedChunk): void
  reject(err: Error): void
}

let worker: Worker | undefined
const jobs = new Map<number, Job>()
let nextId = 0

// A batch is copied into shared memory for the worker, never moved there:
// moving (detaching) any ArrayBuffer makes V8 check every typed-array access
// of this thread from then on, which slows the masking scanners by half. The
// worker keeps the shared buffers (slots), which are posted once each:
// posting one costs about as much as copying its bytes. A slot is reused
// once the worker has answered for it.
/** Enough for the batches a busy channel has in flight (gateway/ssh/recording.ts), not for every channel's. */
const SLOTS = 6
/** Slot sizes are rounded up to this, so that one fits the next batches too. */
const SLOT_STEP = 256 * 1024
let slots: SharedArrayBuffer[] = []
let freeSlots: number[] = []

interface Slot {
  /** -1: a buffer for one batch, which the worker does not keep. */
  slot: number
  shared: SharedArrayBuffer
  /** The worker does not know this buffer yet: it goes with the batch. */
  fresh: boolean
}

function takeSlot(length: number): Slot {
  const fits = freeSlots.findIndex((slot) => slots[slot]!.byteLength >= length)
  if (fits >= 0) {
    const slot = freeSlots.splice(fits, 1)[0]!
    return { slot, shared: slots[slot]!, fresh: false }
  }
  // A new slot while there are fewer than SLOTS, else a larger buffer in place of a free one;
  // with every slot busy (the worker is behind), a buffer for this batch alone.
  const slot = slots.length < SLOTS ? slots.length : (freeSlots.shift() ?? -1)
  const shared = new SharedArrayBuffer(Math.ceil(length / SLOT_STEP) * SLOT_STEP)
  if (slot >= 0) slots[slot] = shared
  return { slot, shared, fresh: true }
}

/** Every job waiting on `w` fails; the next chunk starts a new worker. */
function failAll(w: Worker, err: Error): void {
  if (worker !== w) return
  worker = undefined
  slots = []
  freeSlots = []
  for (const job of jobs.values()) job.reject(err)
  jobs.clear()
}

function start(): Worker {
  const w = new Worker(WORKER_SOURCE, { eval: true })
  w.on('message', (reply: Reply) => {
    const job = jobs.get(reply.id)
    if (!job) return
    jobs.delete(reply.id)
    // invariant: an idle worker never keeps the process alive; a busy one does, until its replies are in.
    if (jobs.size === 0) w.unref()
    if (job.slot >= 0) freeSlots.push(job.slot)
    if (reply.digest === undefined || !reply.deflated) job.reject(new Error(`recorded output could not be sealed: ${reply.error ?? 'no reply'}`))
    else job.resolve({ digest: reply.digest, deflated: Buffer.from(reply.deflated.buffer, reply.deflated.byteOffset, reply.deflated.byteLength) })
  })
  w.on('error', (err) => failAll(w, new Error(`the recording worker failed: ${err.message}`)))
  w.on('exit', () => failAll(w, new Error('the recording worker stopped')))
  w.unref()
  return w
}

/** The digest and deflated form of the bytes of `pieces` joined, computed off this thread. */
export function sealRecordingChunk(pieces: readonly Uint8Array[]): Promise<SealedChunk> {
  const w = (worker ??= start())
  const id = nextId++
  let length = 0
  for (const piece of pieces) length += piece.length
  const { slot, shared, fresh } = takeSlot(length)
  const bytes = new Uint8Array(shared, 0, length)
  let offset = 0
  for (const piece of pieces) {
    bytes.set(piece, offset)
    offset += piece.length
  }
  return new Promise<SealedChunk>((resolve, reject) => {
    jobs.set(id, { slot, resolve, reject })
    w.ref()
    w.postMessage(fresh ? { id, slot, length, shared } : { id, slot, length })
  })
}
