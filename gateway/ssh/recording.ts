// Recordings of SSH channels, kept in the audit trail (hash-chained, masked:
// only what the client was sent is recorded, after masking).
//
// A channel's command or shell is one audit event (`ssh.exec`, `ssh.shell`);
// what the client then sees follows in `ssh.output` events, each a batch:
// the layout of its chunks `[milliseconds since the start, stream, length]`
// where the stream is `o` (stdout), `e` (stderr) or `r` (a terminal resize,
// `COLSxROWS`), and the SHA-256 of their bytes, which are stored by that
// digest (store/recordings.ts). The chain vouches for the digest and the
// digest for the bytes, so a replay gives back exactly the bytes the client
// got, whatever their encoding and wherever a chunk cut a character.
// `ssh.outcome` closes the recording with the exit status or signal.
import { Buffer } from 'node:buffer'
import { StringDecoder } from 'node:string_decoder'
import type { StoredEvent } from '../../store/audit-log.js'
import { sealRecordingChunk } from '../../store/recording-sealer.js'
import { saveRecordingChunk } from '../../store/recordings.js'
import type { GatewayContext } from '../gateway.js'

/** A batch is written once it holds this many bytes, or after FLUSH_MS. */
const BATCH_BYTES = 1024 * 1024
const FLUSH_MS = 200
/** Bytes being written at most before the channel is told to slow down (its upstream is paused). */
const MAX_UNWRITTEN = 8 * 1024 * 1024

export type ChunkStream = 'o' | 'e' | 'r'
type ChunkLayout = [number, ChunkStream, number]

export interface RecorderOptions {
  ctx: GatewayContext
  sessionId: string
  identity: string
  resource: string
  /** Called when a batch cannot be recorded: the channel must not go on unrecorded. */
  onFailure(): void
}

export class ChannelRecorder {
  private readonly started = performance.now()
  private layout: ChunkLayout[] = []
  private pieces: Buffer[] = []
  private pending = 0
  private unwritten = 0
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private failed = false
  /** The `ssh.exec`/`ssh.shell` event the output belongs to: known once the request is recorded. */
  private event: string | undefined
  readonly totals = { stdout: 0, stderr: 0 }

  constructor(private readonly options: RecorderOptions) {}

  /** What the client saw before the request was recorded (a hold notice) is kept until then. */
  attach(event: string): void {
    this.event = event
  }

  /** The request was never recorded: nothing can be attached to it. */
  discard(): void {
    if (this.timer) clearTimeout(this.timer)
    this.failed = true
    this.layout = []
    this.pieces = []
  }

  private relievers: Array<() => void> = []

  /** True while more than MAX_UNWRITTEN bytes wait for the store: the producer should pause until `relieved()`. */
  get congested(): boolean {
    return this.unwritten > MAX_UNWRITTEN
  }

  relieved(): Promise<void> {
    if (!this.congested) return Promise.resolve()
    return new Promise((resolve) => this.relievers.push(resolve))
  }

  output(stream: 'o' | 'e', bytes: Buffer): void {
    if (bytes.length === 0) return
    if (stream === 'o') this.totals.stdout += bytes.length
    else this.totals.stderr += bytes.length
    this.add(stream, bytes)
  }

  resize(cols: number, rows: number): void {
    this.add('r', Buffer.from(`${cols}x${rows}`))
  }

  /** Writes what is pending now; resolves once everything recorded so far is in the store. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.layout.length === 0 || this.failed) return this.writing
    if (!this.event) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS)
      return this.writing
    }
    const event = this.event
    const chunks = this.layout
    const length = this.pending
    // Sealing starts now, while earlier batches are being stored; the pieces are copied and can go.
    const sealed = sealRecordingChunk(this.pieces)
    sealed.catch(() => undefined) // handled in the chain below
    this.layout = []
    this.pieces = []
    this.pending = 0
    this.unwritten += length
    const o = this.options
    // invariant: batches reach the store, and the trail, in the order they were seen (one chain of writes).
    this.writing = this.writing.then(async () => {
      if (this.failed) return
      try {
        const digest = await saveRecordingChunk(o.ctx.db, await sealed)
        o.ctx.audit.append({ kind: 'ssh.output', sessionId: o.sessionId, identity: o.identity, resource: o.resource, data: { event, chunks, sha256: digest, bytes: length } }, 'async')
      } catch {
        this.failed = true
        o.onFailure()
      } finally {
        this.unwritten -= length
        if (!this.congested || this.failed) for (const relieve of this.relievers.splice(0)) relieve()
      }
    })
    return this.writing
  }

  private now(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000
  }

  private add(stream: ChunkStream, bytes: Buffer): void {
    if (this.failed) return
    this.layout.push([this.now(), stream, bytes.length])
    this.pieces.push(bytes)
    this.pending += bytes.length
    if (this.pending >= BATCH_BYTES) void this.flush()
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS)
  }
}

// ---------------------------------------------------------------------------
// Reading recordings back

export interface Recording {
  /** The event id of the command or shell. */
  id: string
  sessionId: string | null
  kind: 'exec' | 'shell'
  time: string
  command?: string
  terminal?: { term: string; cols: number; rows: number }
  chunks: Array<{ t: number; stream: ChunkStream; data: Buffer }>
  outcome?: { exitStatus?: number; signal?: string; text: string }
}

/**
 * The recordings among a session's events, in order, with their bytes from
 * `load` (store/recordings.ts: loadRecordingChunks, which checks each digest).
 */
export async function readRecordings(events: readonly StoredEvent[], load: (digests: string[]) => Promise<Map<string, Buffer>>): Promise<Recording[]> {
  const byId = new Map<string, Recording>()
  const batches: Array<{ recording: Recording; layout: ChunkLayout[]; digest: string }> = []
  for (const e of events) {
    const d = e.data as Record<string, unknown>
    if ((e.kind === 'ssh.exec' || e.kind === 'ssh.shell') && d.recorded === true) {
      const pty = d.pty as { term: string; cols: number; rows: number } | undefined
      byId.set(e.id, {
        id: e.id,
        sessionId: e.sessionId,
        kind: e.kind === 'ssh.exec' ? 'exec' : 'shell',
        time: e.time,
        ...(typeof d.command === 'string' ? { command: d.command } : {}),
        ...(pty ? { terminal: pty } : {}),
        chunks: [],
      })
      continue
    }
    const recording = typeof d.event === 'string' ? byId.get(d.event) : undefined
    if (!recording) continue
    if (e.kind === 'ssh.output' && Array.isArray(d.chunks) && typeof d.sha256 === 'string') {
      batches.push({ recording, layout: d.chunks as ChunkLayout[], digest: d.sha256 })
    } else if (e.kind === 'ssh.outcome') {
      recording.outcome = {
        ...(typeof d.exitStatus === 'number' ? { exitStatus: d.exitStatus } : {}),
        ...(typeof d.signal === 'string' ? { signal: d.signal } : {}),
        text: String(d.outcome ?? ''),
      }
    }
  }
  const bytes = await load(batches.map((b) => b.digest))
  for (const { recording, layout, digest } of batches) {
    const all = bytes.get(digest)!
    let offset = 0
    for (const [t, stream, length] of layout) {
      recording.chunks.push({ t, stream, data: all.subarray(offset, offset + length) })
      offset += length
    }
  }
  return [...byId.values()]
}

/** asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then one event per line. */
export function toAsciicast(recording: Recording): string {
  const size = recording.terminal ?? { term: 'xterm', cols: 80, rows: 24 }
  const header = {
    version: 2,
    width: size.cols,
    height: size.rows,
    timestamp: Math.floor(new Date(recording.time).getTime() / 1000),
    ...(recording.command ? { command: recording.command } : {}),
    env: { TERM: size.term },
  }
  const lines = [JSON.stringify(header)]
  // One decoder per stream: a character cut between two chunks is whole in the event that completes it.
  const decoders = { o: new StringDecoder('utf8'), e: new StringDecoder('utf8') }
  for (const chunk of recording.chunks) {
    const seconds = Math.round(chunk.t * 1000) / 1e6
    if (chunk.stream === 'r') lines.push(JSON.stringify([seconds, 'r', chunk.data.toString()]))
    else {
      const text = decoders[chunk.stream].write(chunk.data)
      if (text) lines.push(JSON.stringify([seconds, 'o', text]))
    }
  }
  return lines.join('\n') + '\n'
}

/** A readable transcript: the command, both streams as they came, and how it ended. */
export function toTranscript(recording: Recording): string {
  const head = recording.kind === 'exec' ? `$ ${recording.command ?? ''}` : `# interactive shell (${recording.terminal ? `${recording.terminal.term} ${recording.terminal.cols}x${recording.terminal.rows}` : 'no terminal'})`
  const out: string[] = [`${recording.time}  ${head}`]
  let text = ''
  let last: ChunkStream | undefined
  for (const chunk of recording.chunks) {
    if (chunk.stream === 'r') continue
    if (chunk.stream !== last) {
      if (text) out.push(text.endsWith('\n') ? text.slice(0, -1) : text)
      text = chunk.stream === 'e' ? '[stderr] ' : ''
      last = chunk.stream
    }
    text += chunk.data.toString('utf8')
  }
  if (text) out.push(text.endsWith('\n') ? text.slice(0, -1) : text)
  out.push(`[${recording.outcome?.text || 'no outcome recorded'}]`)
  return out.join('\n')
}
