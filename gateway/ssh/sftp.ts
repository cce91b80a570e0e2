// The sftp subsystem, proxied request by request (draft-ietf-secsh-filexfer-02,
// the version OpenSSH speaks). Every request naming a path is decided on the
// normalised absolute path, and that path is what goes upstream, so the host
// acts on exactly what was decided: opening for reading, listing, stat and
// readlink are reads; opening for writing, remove, rmdir, mkdir, setstat and
// rename (both paths) are writes. Handles are the gateway's own: a client can
// only use a handle it opened here, within what it was opened for. Each open
// and each close (with the bytes read and written) is an audit event. File
// contents are neither masked nor recorded.
//
// Not relayed: creating symbolic links (a link inside an allowed tree could
// point anywhere, and reads through it would be decided on the link's path)
// and extended requests (answered "unsupported" by the protocol layer).
import { Buffer } from 'node:buffer'
import ssh2, { type Attributes, type Client, type FileEntry, type SFTPWrapper } from 'ssh2'
import { sftpOperation } from '../../engine/ssh/index.js'
import type { ChannelHost } from './channel.js'
import { admit } from './judge.js'

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp
/** OpenSSH's sftp-server caps a read at 256 kB; a client asking more gets less, as the protocol allows. */
const MAX_READ = 256 * 1024
const MAX_HANDLES = 1024
/**
 * Reads and writes waiting for the host, per channel (OpenSSH's client keeps
 * 64 in flight), and replies waiting for a client that stopped opening its
 * window: beyond these a request is answered with a failure instead of
 * buffering, so a client cannot make the gateway hold more than
 * MAX_IN_FLIGHT × MAX_READ (plus as many queued replies) per channel.
 */
const MAX_IN_FLIGHT = 128
const MAX_QUEUED_REPLIES = 128

interface OpenHandle {
  upstream: Buffer
  path: string
  kind: 'file' | 'dir'
  read: boolean
  write: boolean
  bytesRead: number
  bytesWritten: number
  event: string | undefined
}

type Callback<T> = (err: (Error & { code?: number }) | null | undefined, value: T) => void

/** ssh2's readdir takes options its type declaration omits. */
type ReaddirFull = (handle: Buffer, options: { full: boolean }, cb: Callback<FileEntry[]>) => void

export function proxySftp(host: ChannelHost, accept: () => SFTPWrapper, reject: (() => void) | undefined, channelNumber: number): void {
  const { ctx, who } = host
  const pair = ctx.state.current?.engine.pair(who.identity, who.resource.name)
  if (!pair?.rules.some((r) => r.rule.sftp && r.rule.effect !== 'deny')) {
    host.log.info('refused the sftp subsystem: no rule allows file transfer', { identity: who.identity })
    reject?.()
    return
  }
  // Accepted at once: OpenSSH's client sends its first packets without waiting for the reply, and a session
  // channel drops data that arrives before its subsystem exists. Requests wait for the upstream instead.
  const sftp = accept()
  const ready = (async () => {
    const upstream = await openSftp(await host.upstream())
    const home = await new Promise<string>((resolve, reject) => upstream.realpath('.', (err, path) => (err ? reject(err) : resolve(path))))
    return { upstream, home }
  })()
  ready.catch((err: Error) => {
    host.log.warn('the sftp subsystem could not be started upstream', { error: err })
    sftp.end()
  })
  serve(host, sftp, ready, channelNumber)
}

function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))))
}

function serve(host: ChannelHost, sftp: SFTPWrapper, ready: Promise<{ upstream: SFTPWrapper; home: string }>, channelNumber: number): void {
  const { ctx, who } = host
  let upstream!: SFTPWrapper
  let home = '/'
  void ready.then((connected) => {
    ;({ upstream, home } = connected)
    upstream.on('error', () => undefined)
    upstream.once('close', () => sftp.end())
  }, () => undefined)
  /**
   * Registers a request handler that runs once the upstream is ready, requests keeping their order. A fault
   * answers that request with a failure and is logged; it never escapes.
   */
  const on = <A extends unknown[]>(event: string, handler: (id: number, ...args: A) => void | Promise<unknown>) =>
    sftp.on(event as 'OPEN', ((id: number, ...args: A) =>
      void ready
        .then(
          () => handler(id, ...args),
          () => sftp.status(id, STATUS_CODE.NO_CONNECTION),
        )
        .catch((err: Error) => {
          host.log.error('an sftp request failed', { error: err })
          try {
            sftp.status(id, STATUS_CODE.FAILURE, 'gatehouse: the gateway failed while handling this request')
          } catch {
            // The channel is gone.
          }
        })) as never)
  const handles = new Map<string, OpenHandle>()
  let nextHandle = 0
  sftp.on('error', () => undefined)
  // The client is done (EOF): close the channel with exit status 0, as sftp-server exits on end of input (scp
  // counts a missing status as failure). ssh2's server-side SFTP object has no exit(); its protocol layer does.
  sftp.once('end', () => {
    const channel = sftp as unknown as { _protocol: { exitStatus(id: number, status: number): void }; outgoing: { id: number; state: string } }
    if (channel.outgoing.state === 'open') channel._protocol.exitStatus(channel.outgoing.id, 0)
    sftp.end()
  })
  const untrack = host.track(() => sftp.end())
  sftp.once('close', () => {
    for (const handle of handles.values()) closed(handle)
    handles.clear()
    untrack()
    void ready.then(() => upstream.end(), () => undefined)
  })

  const status = (id: number, err: (Error & { code?: number }) | null | undefined) =>
    err ? sftp.status(id, typeof err.code === 'number' ? err.code : STATUS_CODE.FAILURE, err.message) : sftp.status(id, STATUS_CODE.OK)
  const relay = <T>(id: number, answer: (value: T) => void): Callback<T> => (err, value) => (err ? status(id, err) : answer(value))

  /** Decides each file operation in turn; resolves with the normalised path, or answers the refusal itself. */
  const decide = async (id: number, operation: string, checks: Array<{ kind: 'read' | 'write'; path: string }>): Promise<{ paths: string[]; event: string | undefined } | undefined> => {
    const paths: string[] = []
    let event: string | undefined
    for (const { kind, path } of checks) {
      const op = sftpOperation(kind, path.startsWith('/') ? path : `${home}/${path}`)
      if (!op.ok) {
        sftp.status(id, STATUS_CODE.PERMISSION_DENIED, `gatehouse: ${op.error.message}`)
        return undefined
      }
      const target = op.operation.path!
      const admission = await admit(ctx, who, { type: 'sftp', operation: kind, path: target }, {
        kind: 'ssh.file',
        data: { channel: channelNumber, operation, direction: kind, path: target },
        text: `sftp ${operation} ${target}`,
        notify: () => undefined,
        signal: host.signal,
      })
      if (!admission.ok) {
        sftp.status(id, STATUS_CODE.PERMISSION_DENIED, admission.message)
        return undefined
      }
      paths.push(target)
      event ??= admission.eventId
    }
    return { paths, event }
  }

  const handleOf = (id: number, raw: Buffer, need?: 'read' | 'write'): OpenHandle | undefined => {
    const handle = handles.get(raw.toString('hex'))
    if (!handle) sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
    else if (need && !handle[need]) sftp.status(id, STATUS_CODE.PERMISSION_DENIED, `gatehouse: ${handle.path} was not opened for ${need === 'read' ? 'reading' : 'writing'}`)
    else return handle
    return undefined
  }

  const issue = (id: number, handle: OpenHandle) => {
    if (handles.size >= MAX_HANDLES) {
      upstream.close(handle.upstream, () => undefined)
      return sftp.status(id, STATUS_CODE.FAILURE, `gatehouse: more than ${MAX_HANDLES} open handles`)
    }
    const raw = Buffer.alloc(4)
    raw.writeUInt32BE(nextHandle++ >>> 0)
    handles.set(raw.toString('hex'), handle)
    sftp.handle(id, raw)
  }

  const closed = (handle: OpenHandle) => {
    try {
      ctx.audit.append({ kind: 'ssh.file', sessionId: who.id, identity: who.identity, resource: who.resource.name, data: { protocol: 'ssh', channel: channelNumber, operation: 'close', path: handle.path, event: handle.event ?? null, bytesRead: handle.bytesRead, bytesWritten: handle.bytesWritten } }, 'async')
    } catch {
      host.log.warn('a file transfer could not be recorded: the audit store is unavailable', { path: handle.path })
    }
  }

  on('OPEN', (id, filename: string, flags: number, attrs: Attributes) => {
    const read = (flags & OPEN_MODE.READ) !== 0
    const write = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0
    const checks = [...(read ? [{ kind: 'read' as const, path: filename }] : []), ...(write ? [{ kind: 'write' as const, path: filename }] : [])]
    return decide(id, 'open', checks.length ? checks : [{ kind: 'read', path: filename }]).then((decided) => {
      if (!decided) return
      const path = decided.paths[0]!
      upstream.open(path, flags, attrs, relay(id, (raw: Buffer) => issue(id, { upstream: raw, path, kind: 'file', read, write, bytesRead: 0, bytesWritten: 0, event: decided.event })))
    })
  })
  let inFlight = 0
  /** Whether another read or write may start; answers the refusal itself when not. */
  const admitIo = (id: number): boolean => {
    const queued = (sftp as unknown as { _buffer: unknown[] })._buffer.length
    if (inFlight < MAX_IN_FLIGHT && queued < MAX_QUEUED_REPLIES) return true
    sftp.status(id, STATUS_CODE.FAILURE, 'gatehouse: too many requests in flight')
    return false
  }
  on('READ', (id, raw: Buffer, offset: number, length: number) => {
    const handle = handleOf(id, raw, 'read')
    if (!handle || !admitIo(id)) return
    inFlight++
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(length, MAX_READ)))
    upstream.read(handle.upstream, buffer, 0, buffer.length, offset, (err, bytes) => {
      inFlight--
      if (err) return status(id, err)
      if (bytes === 0) return sftp.status(id, STATUS_CODE.EOF)
      handle.bytesRead += bytes
      sftp.data(id, buffer.subarray(0, bytes))
    })
  })
  on('WRITE', (id, raw: Buffer, offset: number, data: Buffer) => {
    const handle = handleOf(id, raw, 'write')
    if (!handle || !admitIo(id)) return
    inFlight++
    upstream.write(handle.upstream, data, 0, data.length, offset, (err) => {
      inFlight--
      if (!err) handle.bytesWritten += data.length
      status(id, err)
    })
  })
  on('FSTAT', (id, raw: Buffer) => {
    const handle = handleOf(id, raw)
    if (handle) upstream.fstat(handle.upstream, relay(id, (attrs) => sftp.attrs(id, attrs)))
  })
  on('FSETSTAT', (id, raw: Buffer, attrs: Attributes) => {
    const handle = handleOf(id, raw, 'write')
    if (handle) upstream.fsetstat(handle.upstream, attrs, (err) => status(id, err))
  })
  on('CLOSE', (id, raw: Buffer) => {
    const handle = handleOf(id, raw)
    if (!handle) return
    handles.delete(raw.toString('hex'))
    if (handle.kind === 'file') closed(handle)
    upstream.close(handle.upstream, (err) => status(id, err))
  })
  on('OPENDIR', (id, path: string) => {
    return decide(id, 'opendir', [{ kind: 'read', path }]).then((decided) => {
      if (!decided) return
      const target = decided.paths[0]!
      upstream.opendir(target, relay(id, (raw: Buffer) => issue(id, { upstream: raw, path: target, kind: 'dir', read: true, write: false, bytesRead: 0, bytesWritten: 0, event: decided.event })))
    })
  })
  on('READDIR', (id, raw: Buffer) => {
    const handle = handleOf(id, raw, 'read')
    // `full`: `.` and `..` pass as the host lists them.
    if (handle) (upstream.readdir as unknown as ReaddirFull).call(upstream, handle.upstream, { full: true }, relay(id, (list: FileEntry[]) => sftp.name(id, list)))
  })
  const pathRequest = (event: 'STAT' | 'LSTAT' | 'READLINK' | 'REMOVE' | 'RMDIR', kind: 'read' | 'write', run: (path: string, id: number) => void) =>
    on(event, (id, path: string) => decide(id, event.toLowerCase(), [{ kind, path }]).then((decided) => decided && run(decided.paths[0]!, id)))
  pathRequest('STAT', 'read', (path, id) => upstream.stat(path, relay(id, (attrs) => sftp.attrs(id, attrs))))
  pathRequest('LSTAT', 'read', (path, id) => upstream.lstat(path, relay(id, (attrs) => sftp.attrs(id, attrs))))
  pathRequest('READLINK', 'read', (path, id) => upstream.readlink(path, relay(id, (target: string) => sftp.name(id, [{ filename: target, longname: target, attrs: {} as never }]))))
  pathRequest('REMOVE', 'write', (path, id) => upstream.unlink(path, (err) => status(id, err)))
  pathRequest('RMDIR', 'write', (path, id) => upstream.rmdir(path, (err) => status(id, err)))
  on('SETSTAT', (id, path: string, attrs: Attributes) => decide(id, 'setstat', [{ kind: 'write', path }]).then((d) => d && upstream.setstat(d.paths[0]!, attrs, (err) => status(id, err))))
  on('MKDIR', (id, path: string, attrs: Attributes) => decide(id, 'mkdir', [{ kind: 'write', path }]).then((d) => d && upstream.mkdir(d.paths[0]!, attrs, (err) => status(id, err))))
  on('RENAME', (id, from: string, to: string) =>
    decide(id, 'rename', [{ kind: 'write', path: from }, { kind: 'write', path: to }]).then((d) => d && upstream.rename(d.paths[0]!, d.paths[1]!, (err) => status(id, err))),
  )
  // Resolving a name reveals no content: answered without a decision, like `cd` needs.
  on('REALPATH', (id, path: string) => upstream.realpath(path, relay(id, (target: string) => sftp.name(id, [{ filename: target, longname: target, attrs: {} as never }]))))
  on('SYMLINK', (id) => sftp.status(id, STATUS_CODE.PERMISSION_DENIED, 'gatehouse: creating symbolic links is not allowed through the gateway'))
}
