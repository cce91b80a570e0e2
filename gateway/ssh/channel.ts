// One session channel (RFC 4254 §6): terminal and window requests, then one
// of exec, shell or a subsystem. Each is decided before anything goes
// upstream; a refusal is one line on stderr and exit status 126, the way a
// shell reports a command it may not run. Output comes back through the
// maskers and into the recording; exit status, exit signal, window changes
// and signals pass through. Environment variables are refused: no rule can
// see them, and some (LD_PRELOAD, BASH_ENV) change what a command does.
import { Buffer } from 'node:buffer'
import type { Client, ClientChannel, ExecOptions, PseudoTtyInfo, ServerChannel, Session } from 'ssh2'
import { classifyExec, quoteArgv, type SshChannelRequest } from '../../engine/ssh/index.js'
import { detectorMasks } from '../detector-masks.js'
import type { GatewayContext } from '../gateway.js'
import type { Logger } from '../../runtime/log.js'
import { denialMessage } from '../messages.js'
import { admit, decideRequest, type SshWho } from './judge.js'
import { createMaskedStream } from './output.js'
import { ChannelRecorder } from './recording.js'
import { proxySftp } from './sftp.js'
import { isWhoami, whoamiText } from './whoami.js'
import { upstreamX11 } from './x11.js'

/** What a refused request exits with: "command found but not executable", as sh reports it. */
const REFUSED_STATUS = 126
/** What a request exits with when the gateway cannot run it (upstream unreachable). */
const FAILED_STATUS = 255
/** Environment requests recorded one by one per channel; OpenSSH sends a few (`SendEnv`). */
const MAX_ENV_REQUESTS = 64

/** What a channel needs from its connection. */
export interface ChannelHost {
  ctx: GatewayContext
  who: SshWho
  log: Logger
  /** The connection's upstream, connected on first use. */
  upstream(): Promise<Client>
  /** Aborted when the client connection ends. */
  signal: AbortSignal
  /** Registers a way to end this channel early (the session is closed); returns the unregistration. */
  track(close: (reason: string) => void): () => void
  /** The client lent its agent (a rule allowed it): upstream agent requests may now reach it. */
  lendAgent(): void
  /** How much output a channel may hold for a client that is not reading, and for how long; how long the masker waits. */
  limits: { bufferBytes: number; stallMs: number; maskHoldMs: number }
  /** A channel's client read nothing of what was held for it, over the limit, for too long: the connection ends. */
  stalled(detail: { channel: number; bufferedBytes: number }): void
}

type Exit = { code: number } | { signal: string; coreDumped: boolean; message: string }

/**
 * Writes to the client and records what it wrote. Holding more than the
 * limit for the client with no byte of it going out for `stallMs` is a
 * stall: the upstream is paused long before (backpressure), so what is held
 * stays bounded, and the stall ends the connection so that it is released.
 */
class ClientOutput {
  /** Writes not yet handed to the transport, per stream; `settled` runs when both reach zero. */
  private unsent = 0
  private settled: (() => void) | undefined
  private stall: NodeJS.Timeout | undefined
  private readonly written = () => {
    // Progress: a write went out to the client.
    this.clearStall()
    this.watch()
    if (--this.unsent === 0) this.settled?.()
  }

  constructor(
    private readonly stream: ServerChannel,
    private readonly recorder: ChannelRecorder | undefined,
    private readonly terminal: boolean,
    private readonly limits: ChannelHost['limits'],
    private readonly onStall: (bufferedBytes: number) => void,
    /** Aborted when the channel or its connection ends: a write still pending then never completes. */
    private readonly ended: AbortSignal,
  ) {
    ended.addEventListener('abort', () => this.clearStall(), { once: true })
  }

  /** Returns false when the client is not keeping up. */
  send(kind: 'o' | 'e', bytes: Buffer): boolean {
    this.recorder?.output(kind, bytes)
    this.unsent++
    const more = (kind === 'o' ? this.stream : this.stream.stderr).write(bytes, this.written)
    this.watch()
    return more
  }

  /** Bytes written for the client that have not gone out yet (its window is closed). */
  private get buffered(): number {
    return this.stream.writableLength + this.stream.stderr.writableLength
  }

  private watch(): void {
    if (this.stall || this.buffered <= this.limits.bufferBytes || this.ended.aborted) return
    this.stall = setTimeout(() => {
      this.stall = undefined
      this.onStall(this.buffered)
    }, this.limits.stallMs)
  }

  private clearStall(): void {
    if (this.stall) clearTimeout(this.stall)
    this.stall = undefined
  }

  /** A gateway message on stderr; a terminal in raw mode needs the carriage return. */
  line(text: string): void {
    this.send('e', Buffer.from(`${text}${this.terminal ? '\r\n' : '\n'}`))
  }

  /** Once everything written has gone out: the exit status or signal, then the end of the channel. */
  async finish(exit: Exit): Promise<void> {
    // invariant: the exit status follows the last byte of output (a write waits for the client's window; exit does not).
    if (this.unsent > 0 && !this.ended.aborted) {
      await new Promise<void>((resolve) => {
        this.settled = resolve
        this.ended.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    try {
      if ('code' in exit) this.stream.exit(exit.code)
      else this.stream.exit(exit.signal, exit.coreDumped, exit.message)
    } catch {
      // The client closed the channel first.
    }
    this.stream.end()
  }
}

function exitText(exit: Exit): string {
  return 'code' in exit ? `exit ${exit.code}` : `signal ${exit.signal}`
}

export function handleSessionChannel(host: ChannelHost, session: Session, number: number): void {
  const { ctx, who } = host
  let pty: PseudoTtyInfo | undefined
  /** Agent and X11 forwarding the client asked for and a rule allowed, requested upstream with the command. */
  const forwarding: Forwarding = {}
  let started = false
  let upstreamChannel: ClientChannel | undefined
  let recorder: ChannelRecorder | undefined
  const ended = new AbortController()
  const onConnectionEnd = () => ended.abort()
  host.signal.addEventListener('abort', onConnectionEnd, { once: true })
  session.once('close', () => host.signal.removeEventListener('abort', onConnectionEnd))

  session.on('pty', (accept, reject, info) => {
    if (started) return reject?.()
    pty = info
    accept?.()
  })
  session.on('window-change', (accept, _reject, info) => {
    if (pty) pty = { ...pty, cols: info.cols, rows: info.rows, width: info.width, height: info.height }
    upstreamChannel?.setWindow(info.rows, info.cols, info.height, info.width)
    recorder?.resize(info.cols, info.rows)
    accept?.()
  })
  session.on('signal', (accept, reject, info) => {
    if (!upstreamChannel) return reject?.()
    upstreamChannel.signal(info.name)
    accept?.()
  })
  let envRefused = 0
  session.on('env', (_accept, reject, info) => {
    // The name is recorded, never the value (it may be a secret); a flood of them is recorded as one event.
    envRefused++
    if (envRefused <= MAX_ENV_REQUESTS) recordRefusal(host, `environment variable \`${String(info.key).slice(0, 128)}\``, 'environment variables are refused')
    else if (envRefused === MAX_ENV_REQUESTS + 1) recordRefusal(host, 'environment variables', `more than ${MAX_ENV_REQUESTS} on one channel: all refused, the rest not recorded one by one`)
    reject?.()
  })
  session.on('auth-agent', (accept, reject) => {
    if (started || !judgeExtra(host, { type: 'agent' }, 'agent forwarding')) return reject?.()
    forwarding.agentForward = true
    host.lendAgent()
    accept?.()
  })
  session.on('x11', (accept, reject, info) => {
    if (started || !judgeExtra(host, { type: 'x11' }, 'X11 forwarding')) return reject?.()
    forwarding.x11 = upstreamX11(info)
    accept?.()
  })
  // Any subsystem other than sftp is refused by the engine; this records the refusal.
  session.on('subsystem', (_accept, reject, info) => (judgeExtra(host, { type: 'subsystem', name: info.name }, `the ${info.name} subsystem`), reject?.()))
  session.on('sftp', (accept, reject) => {
    if (started) return reject?.()
    started = true
    proxySftp(host, accept, reject, number)
  })
  session.on('exec', (accept, reject, info) => {
    if (started) return reject?.()
    started = true
    start(accept(), { type: 'exec', command: info.command })
  })
  session.on('shell', (accept, reject) => {
    if (started) return reject?.()
    started = true
    start(accept(), { type: 'shell' })
  })

  /** Runs the request; a fault ends this channel with status 255 and is logged, never thrown. */
  function start(stream: ServerChannel, request: SshChannelRequest & { type: 'exec' | 'shell' }): void {
    run(stream, request).catch((err: Error) => {
      host.log.error('a channel failed', { error: err })
      try {
        stream.stderr.write('gatehouse: the gateway failed while handling this request\n')
        stream.exit(FAILED_STATUS)
        stream.end()
      } catch {
        // Already closed.
      }
    })
  }

  async function run(stream: ServerChannel, request: SshChannelRequest & { type: 'exec' | 'shell' }): Promise<void> {
    stream.on('error', () => undefined)
    stream.stderr.on('error', () => undefined)
    stream.once('close', () => ended.abort())
    const untrack = host.track((reason) => {
      output.line(`gatehouse: ${reason}`)
      void output.finish({ code: FAILED_STATUS })
    })
    // Transfers (scp -t/-f, rsync --server) run through exec as a binary protocol: decided on their paths, forwarded with
    // the paths as decided, never masked (a masked byte would break the protocol) and recorded as file operations only.
    const classified = request.type === 'exec' ? classifyExec(request.command) : undefined
    const operations = classified?.ok ? classified.operations : []
    const transfer = operations.length > 0 && operations.every((op) => op.action !== 'exec')
    // The host runs what was decided: a plain command goes as its argv re-quoted (a login shell other than sh cannot
    // read it differently); only a command a `shell` rule admitted keeps its text.
    const plain = operations.length === 1 && !operations[0]!.shellSyntax && operations[0]!.argv !== undefined
    const command = request.type === 'exec' ? (transfer || plain ? quoteArgv(operations[0]!.argv!) : request.command) : undefined
    recorder = transfer ? undefined : new ChannelRecorder({ ctx, sessionId: who.id, identity: who.identity, resource: who.resource.name, onFailure: () => abortUnrecorded() })
    const output = new ClientOutput(stream, recorder, pty !== undefined, host.limits, (bufferedBytes) => {
      output.line(`gatehouse: the client read none of ${bufferedBytes} bytes of output for ${Math.round(host.limits.stallMs / 1000)} s; the connection is closed`)
      upstreamChannel?.close()
      host.stalled({ channel: number, bufferedBytes })
    }, ended.signal)
    const startedAt = performance.now()
    let unrecordable = false
    const abortUnrecorded = () => {
      unrecordable = true
      upstreamChannel?.close()
      output.line('gatehouse: the audit store failed, so this session cannot be recorded; it is closed')
    }
    const finish = async (result: Exit, eventId: string | undefined, extra: Record<string, unknown> = {}) => {
      await output.finish(result)
      // invariant: the outcome follows the last batch of output in the trail.
      await recorder?.flush()
      untrack()
      if (!eventId) return
      try {
        ctx.audit.append(
          {
            kind: 'ssh.outcome',
            sessionId: who.id,
            identity: who.identity,
            resource: who.resource.name,
            data: {
              event: eventId,
              outcome: exitText(result),
              ...('code' in result ? { exitStatus: result.code } : { signal: result.signal }),
              durationMs: Math.round(performance.now() - startedAt),
              ...extra,
            },
          },
          'async',
        )
      } catch {
        host.log.warn('an outcome could not be recorded: the audit store is unavailable', { event: eventId })
      }
    }

    const kind = request.type === 'exec' ? 'ssh.exec' : 'ssh.shell'
    const data: Record<string, unknown> = {
      channel: number,
      ...(request.type === 'exec' ? { command: request.command } : {}),
      ...(pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {}),
      ...(transfer ? { transfer: operations.map((op) => ({ direction: op.action === 'sftp-read' ? 'read' : 'write', path: op.path })) } : { recorded: true }),
    }
    if (request.type === 'exec' && classified?.ok && isWhoami(operations[0]?.argv) && !operations[0]?.shellSyntax) {
      return whoami(output, data, finish)
    }
    // The event keeps what the client asked for and what the host is sent: the argv re-quoted, or the text as it came.
    const sent = command === undefined ? {} : { sent: command, ...(transfer || plain ? { argv: operations[0]!.argv } : {}) }
    const admission = await admit(ctx, who, request, { kind, data: { ...data, ...sent }, text: request.type === 'exec' ? request.command : 'interactive shell', notify: (line) => output.line(line), signal: ended.signal })
    if (admission.eventId) recorder?.attach(admission.eventId)
    else recorder?.discard()
    if (!admission.ok) {
      output.line(`gatehouse: ${admission.message.replace(/^gatehouse: /, '')}`)
      return finish({ code: REFUSED_STATUS }, admission.eventId)
    }
    if (ended.signal.aborted) return finish({ code: FAILED_STATUS }, admission.eventId)
    let channel: ClientChannel
    try {
      const upstream = await host.upstream()
      channel = await openUpstream(upstream, command, pty, forwarding)
    } catch (err) {
      host.log.warn('the command could not be started upstream', { error: err as Error })
      output.line(`gatehouse: could not reach ${who.resource.name}`)
      return finish({ code: FAILED_STATUS }, admission.eventId, { error: 'upstream unavailable' })
    }
    upstreamChannel = channel
    channel.on('error', () => undefined)
    // Recording may have failed while the upstream connection was being made: nothing may run unrecorded.
    if (unrecordable) channel.close()
    const rules = transfer ? undefined : detectorMasks(admission.decision.masks, ctx.maskKey)
    // Backpressure: a slow client or a slow store stops the upstream channel (its window closes), not the gateway's memory.
    let holds = 0
    // Both streams share the channel's window: pausing only stdout would let stderr fill memory.
    const hold = (until: Promise<void>) => {
      if (holds++ === 0) (channel.pause(), channel.stderr.pause())
      void until.then(() => --holds === 0 && (channel.resume(), channel.stderr.resume()))
    }
    const relay = (kind: 'o' | 'e', source: NodeJS.ReadableStream) => {
      const masked = createMaskedStream(
        rules,
        host.limits.maskHoldMs,
        (bytes) => {
          if (!output.send(kind, bytes)) hold(new Promise((resolve) => (kind === 'o' ? stream : stream.stderr).once('drain', resolve)))
          if (recorder?.congested) hold(recorder.relieved())
        },
        (values) => ctx.counters.maskedValues.inc({ protocol: 'ssh' }, values),
      )
      source.on('data', (chunk: Buffer) => masked.push(chunk))
      return masked
    }
    const stdout = relay('o', channel)
    const stderr = relay('e', channel.stderr)
    stream.pipe(channel)
    let upstreamExit: Exit | undefined
    channel.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      upstreamExit = code !== null && code !== undefined ? { code } : { signal: signal ?? 'SIGKILL', coreDumped: coreDumped ?? false, message: message ?? '' }
    })
    // ssh2 also passes the exit status or signal with `close`, should `exit` not have been seen.
    channel.once('close', (code?: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      if (!upstreamExit && typeof code === 'number') upstreamExit = { code }
      else if (!upstreamExit && signal) upstreamExit = { signal, coreDumped: coreDumped ?? false, message: message ?? '' }
      stdout.end()
      stderr.end()
      upstreamChannel = undefined
      void finish(upstreamExit ?? { code: FAILED_STATUS }, admission.eventId, recorder ? { bytes: recorder.totals } : {})
    })
    stream.once('close', () => channel.close())
  }

  async function whoami(output: ClientOutput, data: Record<string, unknown>, finish: (exit: Exit, eventId: string | undefined) => Promise<void>): Promise<void> {
    const bundle = ctx.state.current
    let eventId: string | undefined
    try {
      eventId = ctx.audit.append({ kind: 'ssh.exec', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', ...data, decision: 'allow', rule: null, reasons: ['answered by the gateway'], revision: bundle?.revision ?? null } }, 'async').id
      recorder?.attach(eventId)
    } catch {
      recorder?.discard()
    }
    if (!bundle) {
      output.line('gatehouse: no valid policy bundle is loaded')
      return finish({ code: REFUSED_STATUS }, eventId)
    }
    try {
      output.send('o', Buffer.from(await whoamiText(ctx, who, bundle)))
      return finish({ code: 0 }, eventId)
    } catch (err) {
      host.log.error('whoami failed', { error: err as Error })
      output.line('gatehouse: the gateway could not answer; try again shortly')
      return finish({ code: FAILED_STATUS }, eventId)
    }
  }
}

/** ssh2 reads `agentForward` per channel too; its type definitions only know it per connection. */
type Forwarding = ExecOptions & { agentForward?: true }

function openUpstream(upstream: Client, command: string | undefined, pty: PseudoTtyInfo | undefined, forwarding: Forwarding): Promise<ClientChannel> {
  const terminal = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes } : undefined
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, channel: ClientChannel) => (err ? reject(err) : resolve(channel))
    if (command !== undefined) upstream.exec(command, { ...(terminal ? { pty: terminal } : {}), ...forwarding }, done)
    else upstream.shell(terminal ?? false, forwarding, done)
  })
}

/** A request the gateway refuses whatever the policies say, on record. */
export function recordRefusal(host: Pick<ChannelHost, 'ctx' | 'who'>, request: string, outcome: string): void {
  const { ctx, who } = host
  try {
    ctx.audit.append({ kind: 'ssh.request', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', request, decision: 'deny', rule: null, outcome } }, 'async')
  } catch {
    // The refusal stands whether or not it could be recorded.
  }
}

/**
 * Agent and X11 forwarding and subsystems other than sftp: decided and
 * recorded, and let through only on a plain `allow` (such a request cannot
 * wait for an approval). Returns whether it is let through; an unrecorded
 * request is not.
 */
function judgeExtra(host: ChannelHost, request: SshChannelRequest, what: string): boolean {
  const { ctx, who } = host
  const { decision, bundle } = decideRequest(ctx, who, request)
  const allowed = decision.effect === 'allow'
  ctx.counters.decisions.inc({ protocol: 'ssh', effect: allowed ? 'allow' : 'deny', observed: 'same' })
  const outcome = allowed ? 'allowed' : decision.effect === 'deny' ? denialMessage(decision) : 'cannot be held for approval'
  try {
    ctx.audit.append({ kind: 'ssh.request', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', request: what, decision: allowed ? 'allow' : 'deny', rule: decision.rule, policyEffect: decision.effect, revision: bundle?.revision ?? null, outcome }, ...(allowed ? { usage: decision.rule ? { rule: decision.rule } : {} } : {}) }, 'async')
    return allowed
  } catch {
    // Unrecorded, nothing is let through; a refusal stands either way.
    return false
  }
}
