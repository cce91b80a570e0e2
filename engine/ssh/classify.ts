// From an SSH channel request to the operations a policy decides on.
// Anything not explicitly handled is an error, and an error denies.
//
//   exec            → `exec` (argv split as the shell would), except file
//                     transfers run through exec: legacy `scp -t/-f` and
//                     `rsync --server`, which become `sftp-write`/`sftp-read`
//                     on their paths so file rules decide them
//   shell           → `shell`
//   subsystem sftp  → nothing at channel level: each file operation is decided
//                     on its own later (sftpOperation)
//   other subsystem → error
//   forward         → `forward` on the canonical `host:port`
//   listen          → `listen` on the canonical `host:port` (an empty host,
//                     every address, is `0.0.0.0`)
//   agent, x11      → `agent`, `x11`
//
// RFC 4254 §6.5 (shell, exec, subsystem), §7.2 (direct-tcpip), §7.1 (tcpip-forward), §6.3.1 (x11),
// OpenSSH PROTOCOL.agent (auth-agent-req@openssh.com).
import type { SshOperation } from '../types.js'
import { SSH_ERROR_CODES, type SshError } from './errors.js'
import { formatTarget, listenHost, normalizeHost } from './hosts.js'
import { DEFAULT_MAX_PATH_LENGTH, normalizePath, pathProblem } from './paths.js'
import { DEFAULT_MAX_COMMAND_LENGTH, shellWords } from './shell-words.js'

export type SshChannelRequest =
  | { type: 'exec'; command: string }
  | { type: 'shell' }
  | { type: 'subsystem'; name: string }
  /** One file operation inside an sftp session (also how `gatehouse test` cases name one). */
  | { type: 'sftp'; operation: 'read' | 'write'; path: string }
  /** direct-tcpip: the client asks the gateway to connect to host:port. */
  | { type: 'forward'; host: string; port: number }
  /** tcpip-forward: the client asks the host to listen on host:port (0: any free port) and send connections back. */
  | { type: 'listen'; host: string; port: number }
  | { type: 'agent' }
  | { type: 'x11' }

export type SshClassification = { ok: true; operations: SshOperation[] } | { ok: false; error: SshError }

export interface SshClassifyOptions {
  maxCommandLength?: number
  maxPathLength?: number
}

function refuse(code: SshError['code'], message: string, position?: number): { ok: false; error: SshError } {
  return { ok: false, error: position === undefined ? { code, message } : { code, message, position } }
}

/** Classifies one channel request. Never throws: anything unexpected is an `ssh.unclassifiable` error. */
export function classifySsh(request: SshChannelRequest, options: SshClassifyOptions = {}): SshClassification {
  try {
    return classifyRequest(request, options)
  } catch {
    return refuse(SSH_ERROR_CODES.unclassifiable, 'the request could not be classified')
  }
}

function classifyRequest(request: SshChannelRequest, options: SshClassifyOptions): SshClassification {
  // The request comes off the wire through the gateway's protocol layer: its
  // shape is checked here too, not only its type.
  const r = request as { type?: unknown } & Record<string, unknown>
  switch (r.type) {
    case 'exec':
      if (typeof r.command !== 'string') return refuse(SSH_ERROR_CODES.unsupportedRequest, 'an exec request without a command')
      return classifyExec(r.command, options)
    case 'shell':
      return { ok: true, operations: [{ action: 'shell' }] }
    case 'subsystem':
      if (r.name === 'sftp') return { ok: true, operations: [] }
      return refuse(SSH_ERROR_CODES.unsupportedSubsystem, `the subsystem \`${String(r.name).slice(0, 64)}\` is not supported`)
    case 'sftp': {
      if ((r.operation !== 'read' && r.operation !== 'write') || typeof r.path !== 'string') {
        return refuse(SSH_ERROR_CODES.unsupportedRequest, 'an sftp operation needs `read` or `write` and a path')
      }
      const op = sftpOperation(r.operation, r.path, options)
      return op.ok ? { ok: true, operations: [op.operation] } : op
    }
    case 'forward':
    case 'listen': {
      if (typeof r.host !== 'string' || typeof r.port !== 'number') return refuse(SSH_ERROR_CODES.invalidTarget, 'a forwarding request needs a host and a port')
      const host = r.type === 'listen' ? listenHost(r.host) : normalizeHost(r.host)
      if (host === undefined) return refuse(SSH_ERROR_CODES.invalidTarget, `\`${r.host.slice(0, 255)}\` is not a host name or address`)
      const lowest = r.type === 'listen' ? 0 : 1
      if (!Number.isInteger(r.port) || r.port < lowest || r.port > 65535) return refuse(SSH_ERROR_CODES.invalidTarget, `\`${r.port}\` is not a port`)
      return { ok: true, operations: [{ action: r.type, target: formatTarget(host, r.port) }] }
    }
    case 'agent':
      return { ok: true, operations: [{ action: 'agent' }] }
    case 'x11':
      return { ok: true, operations: [{ action: 'x11' }] }
    default:
      return refuse(SSH_ERROR_CODES.unsupportedRequest, `the channel request \`${String(r.type).slice(0, 64)}\` is not supported`)
  }
}

/**
 * One file operation, on the normalised path. The sftp front calls this for
 * every request that touches a path (open for reading → read; open for
 * writing, remove, rename, mkdir, setstat, symlink → write; a rename or a link
 * is two operations, one per path).
 */
export function sftpOperation(
  kind: 'read' | 'write',
  path: string,
  options: SshClassifyOptions = {},
): { ok: true; operation: SshOperation } | { ok: false; error: SshError } {
  const problem = pathProblem(path, options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH)
  if (problem) return refuse(SSH_ERROR_CODES.invalidPath, problem)
  return { ok: true, operation: { action: kind === 'read' ? 'sftp-read' : 'sftp-write', path: normalizePath(path) } }
}

/** An exec command line: a file transfer when it is one, else `exec`. */
export function classifyExec(command: string, options: SshClassifyOptions = {}): SshClassification {
  const words = shellWords(command, { maxLength: options.maxCommandLength ?? DEFAULT_MAX_COMMAND_LENGTH })
  if (!words.ok) return { ok: false, error: words.error }
  if (!words.shellSyntax) {
    const transfer = recognizeTransfer(words.argv)
    if (transfer) {
      const operations: SshOperation[] = []
      for (const { kind, path } of transfer.paths) {
        const op = sftpOperation(kind, path, options)
        if (!op.ok) return op
        operations.push({ ...op.operation, command, argv: transfer.argv })
      }
      return { ok: true, operations }
    }
  }
  return { ok: true, operations: [{ action: 'exec', command, argv: words.argv, shellSyntax: words.shellSyntax }] }
}

// ---------------------------------------------------------------------------
// File transfers through exec. Only the exact shapes the clients send are
// recognised; anything else stays an `exec` (which no file rule can allow),
// so an unusual option can never smuggle a transfer past the file rules.

export interface Transfer {
  /** The argv to forward: each path replaced by its normalised form (a trailing `/` kept, rsync cares). */
  argv: string[]
  paths: Array<{ kind: 'read' | 'write'; path: string }>
}

/**
 * Paths the remote program might expand or reinterpret are not recognised:
 * wildcards and backslashes (glob(3) in some rsync server modes; `.[.]` can
 * match `..`), braces, a leading `~` or `-`, and the empty path.
 */
function plainPath(path: string): boolean {
  return path.length > 0 && !/[*?[\]{}\\]/.test(path) && !path.startsWith('~') && !path.startsWith('-')
}

function rewritten(path: string): string {
  const normal = normalizePath(path)
  return path.endsWith('/') && normal !== '/' ? `${normal}/` : normal
}

/** `scp -t`/`scp -f` and `rsync --server`, or undefined. */
export function recognizeTransfer(argv: readonly string[]): Transfer | undefined {
  if (argv[0] === 'scp') return recognizeScp(argv)
  if (argv[0] === 'rsync' && argv[1] === '--server') return recognizeRsync(argv)
  return undefined
}

/** Flags OpenSSH's scp sends to the remote scp: -v -r -p -d, -t (sink) or -f (source), then `--` before a path starting with `-`. */
const SCP_FLAGS = new Set(['d', 'p', 'r', 'v', 'q', 't', 'f'])

function recognizeScp(argv: readonly string[]): Transfer | undefined {
  let mode: 't' | 'f' | undefined
  let i = 1
  for (; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      i++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    for (const flag of arg.slice(1)) {
      if (!SCP_FLAGS.has(flag)) return undefined
      if (flag === 't' || flag === 'f') {
        if (mode !== undefined && mode !== flag) return undefined
        mode = flag
      }
    }
  }
  const paths = argv.slice(i)
  if (!mode || paths.length === 0 || !paths.every(plainPath)) return undefined
  // The sink writes to exactly one target; the source reads each path in turn.
  if (mode === 't' && paths.length !== 1) return undefined
  return {
    argv: [...argv.slice(0, i), ...paths.map(rewritten)],
    paths: paths.map((path) => ({ kind: mode === 't' ? 'write' : 'read', path })),
  }
}

// The rsync server options allowed, modelled on rsync's own rrsync (the
// restricted-rsync helper): no option naming another file or directory
// (--log-file, --temp-dir, --backup-dir, --*-dest, --files-from,
// --partial-dir, --write-batch...), no -s (paths would travel inside the
// protocol, out of sight), no --daemon.
const RSYNC_SHORT = new Set('ACDEHIJKLNORSUWXbcdgiklmnopqrtuvxyz')
const RSYNC_LONG = new Set([
  'append', 'append-verify', 'checksum', 'copy-unsafe-links', 'delay-updates', 'delete', 'delete-after', 'delete-before',
  'delete-delay', 'delete-during', 'delete-excluded', 'delete-missing-args', 'existing', 'fake-super', 'force', 'fsync',
  'fuzzy', 'hard-links', 'ignore-errors', 'ignore-existing', 'ignore-missing-args', 'ignore-times', 'inplace', 'links',
  'mkpath', 'msgs2stderr', 'munge-links', 'new-compress', 'no-W', 'no-implied-dirs', 'no-msgs2stderr', 'no-r',
  'no-relative', 'numeric-ids', 'old-compress', 'one-file-system', 'open-noatime', 'partial', 'preallocate',
  'safe-links', 'size-only', 'stats', 'times', 'use-qsort',
])
/** Long options with a plain value (numbers, names, comma lists: no paths). */
const RSYNC_LONG_VALUE = new Set([
  'block-size', 'bwlimit', 'checksum-choice', 'checksum-seed', 'compress-choice', 'compress-level', 'debug', 'info',
  'max-alloc', 'max-delete', 'max-size', 'min-size', 'modify-window', 'timeout',
])
/** Deletes what the sender sent: a read that also writes. */
const RSYNC_REMOVE_SOURCE = new Set(['remove-source-files', 'remove-sent-files'])

/**
 * Options that let links escape the decided paths: a receiver keeping
 * symlinks (`-l`, `-K`) or device files (`-D`) would let the next transfer
 * reach through them anywhere on the host; a sender following them (`-L`,
 * `-k`, `--copy-unsafe-links`) reads outside the tree it was allowed.
 */
const RSYNC_RECEIVER_UNSAFE = /[lKD]/
const RSYNC_SENDER_UNSAFE = /[Lk]/
const RSYNC_RECEIVER_UNSAFE_LONG = new Set(['links'])
const RSYNC_SENDER_UNSAFE_LONG = new Set(['copy-unsafe-links'])

function recognizeRsync(argv: readonly string[]): Transfer | undefined {
  let sender = false
  let removeSource = false
  let shortOptions = ''
  const longOptions = new Set<string>()
  let i = 2
  for (; i < argv.length; i++) {
    const arg = argv[i]!
    // rsync's client always passes `.` before the paths (main.c do_cmd).
    if (arg === '.') break
    if (arg === '--sender') sender = true
    else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      longOptions.add(name)
      if (eq < 0 && RSYNC_REMOVE_SOURCE.has(name)) removeSource = true
      else if (eq < 0 ? !RSYNC_LONG.has(name) : !(RSYNC_LONG_VALUE.has(name) && /^[A-Za-z0-9.,:+_-]*$/.test(arg.slice(eq + 1)))) return undefined
    } else if (arg.startsWith('-') && arg.length > 1) {
      const cluster = arg.slice(1)
      // `-e.iLsfxC` in server mode carries the protocol's capability letters, not a remote shell.
      const e = cluster.indexOf('e')
      const letters = e < 0 ? cluster : cluster.slice(0, e)
      if (e >= 0 && !/^\.[A-Za-z]*$/.test(cluster.slice(e + 1))) return undefined
      for (const letter of letters) if (!RSYNC_SHORT.has(letter)) return undefined
      shortOptions += letters
    } else return undefined
  }
  const [unsafe, unsafeLong] = sender ? [RSYNC_SENDER_UNSAFE, RSYNC_SENDER_UNSAFE_LONG] : [RSYNC_RECEIVER_UNSAFE, RSYNC_RECEIVER_UNSAFE_LONG]
  if (unsafe.test(shortOptions) || [...longOptions].some((name) => unsafeLong.has(name))) return undefined
  const paths = argv.slice(i + 1)
  if (i >= argv.length || paths.length === 0 || !paths.every(plainPath)) return undefined
  if (!sender && (paths.length !== 1 || removeSource)) return undefined
  const kinds: Array<'read' | 'write'> = sender ? (removeSource ? ['read', 'write'] : ['read']) : ['write']
  return {
    argv: [...argv.slice(0, i + 1), ...paths.map(rewritten)],
    paths: paths.flatMap((path) => kinds.map((kind) => ({ kind, path }))),
  }
}
