// Where a proxy process spends its CPU, by kind of work, from `perf script`
// output of a `perf record -g` of that process (Node.js started with
// `--perf-basic-prof`, so JavaScript frames have names). Every sample goes to
// one kind: kernel work by the system call it serves, garbage collection and
// JIT compilation by their V8 frames, and JavaScript by the innermost frame of
// Gatehouse's own code (or of Node.js itself when Node's stream machinery sits
// between that frame and the sample).
export const KINDS = [
  'kernel: socket writes, with delivery to the reader',
  'kernel: socket reads',
  'kernel: waiting for events (epoll)',
  'kernel: other system calls, interrupts, scheduling',
  'Node.js streams, timers and event loop',
  'protocol framing and decoding',
  'SQL classification and decision (cached)',
  'session logic (expectations, named objects, outcomes)',
  'masking checks',
  'audit: building each event',
  'audit: chaining, hashing and writing batches',
  'garbage collection (main thread)',
  'background threads: garbage collection',
  'background threads: JIT compilation',
  'other',
] as const
export type Kind = (typeof KINDS)[number]

/** Gatehouse's own modules (as paths under dist/), by the kind of work they do. */
const OWN: Array<[RegExp, Kind]> = [
  [/gateway\/postgres\/protocol\//, 'protocol framing and decoding'],
  [/gateway\/postgres\/(masking|notice-masking)|gateway\/detector-masks|engine\/masks\//, 'masking checks'],
  [/store\/audit-log|engine\/bundle-integrity|gateway\/decision-fields|gateway\/audited-statement/, 'audit: building each event'],
  [/gateway\/postgres\/(judge|decision-cache)|engine\//, 'SQL classification and decision (cached)'],
]

/** Samples of each kind; `mainThread` is the thread id of the event loop. */
export function cpuBreakdown(perfScript: string, mainThread: number): Map<Kind, number> {
  const counts = new Map<Kind, number>(KINDS.map((k) => [k, 0]))
  for (const block of perfScript.split('\n\n')) {
    const [header, ...lines] = block.trim().split('\n')
    if (!header) continue
    const frames = lines.map((l) => l.trim().replace(/^[0-9a-f]+ /, ''))
    const kind = frames.length > 0 ? kindOf(frames, Number(header.trim().split(/\s+/)[1]) === mainThread) : 'other'
    counts.set(kind, counts.get(kind)! + 1)
  }
  return counts
}

function kindOf(frames: string[], main: boolean): Kind {
  const stack = frames.join('\n')
  if (!main) return /Heap|Scaveng|MarkCompact|Marking|Sweep|Evacuat/.test(stack) ? 'background threads: garbage collection' : /compiler::|Compile|Turbofan/.test(stack) ? 'background threads: JIT compilation' : 'other'
  if (/do_syscall_64|entry_SYSCALL/.test(stack)) {
    if (/ksys_write|do_writev|sock_write_iter/.test(stack)) return 'kernel: socket writes, with delivery to the reader'
    if (/ksys_read|sock_read_iter/.test(stack)) return 'kernel: socket reads'
    if (/epoll_wait|do_epoll/.test(stack)) return 'kernel: waiting for events (epoll)'
    return 'kernel: other system calls, interrupts, scheduling'
  }
  if (/asm_sysvec|irqentry|finish_task_switch|asm_common_interrupt/.test(frames.slice(0, 6).join('\n'))) return 'kernel: other system calls, interrupts, scheduling'
  if (/Heap::|Scavenge|MarkCompact|MinorGC|Sweeper/.test(stack)) return 'garbage collection (main thread)'
  const at = frames.findIndex((f) => /file:\/\/.*\/dist\/(gateway|store|engine|runtime|cli)\/|node_modules\//.test(f))
  if (at < 0) return /node:|uv_|uv__|node::/.test(stack) ? 'Node.js streams, timers and event loop' : 'other'
  if (/flushBatch|writeBatch|chainRows|node_modules\/pg/.test(stack)) return 'audit: chaining, hashing and writing batches'
  const own = frames[at]!
  if (/store\/audit-log/.test(own)) return 'audit: building each event'
  if (frames.slice(0, at).some((f) => /node:(net|events|internal\/streams|internal\/stream_base)/.test(f))) return 'Node.js streams, timers and event loop'
  return OWN.find(([pattern]) => pattern.test(own))?.[1] ?? 'session logic (expectations, named objects, outcomes)'
}
