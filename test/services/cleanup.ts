// Everything the test services leave behind (server processes, temporary
// directories) is undone here, whichever way the process ends: a normal exit,
// an uncaught error, or SIGINT/SIGTERM/SIGHUP. Cleanups are synchronous
// because the 'exit' event runs no more event-loop turns.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

const cleanups: Array<() => void> = []
let installed = false

/** Registers `fn` to run at exit; returns a function that unregisters it. Runs last-in, first-out. */
export function registerCleanup(fn: () => void): () => void {
  installHandlers()
  cleanups.push(fn)
  return () => {
    const index = cleanups.indexOf(fn)
    if (index >= 0) cleanups.splice(index, 1)
  }
}

/** Runs every registered cleanup once, newest first. A failing cleanup is reported and the rest still run. */
export function runCleanups(): void {
  for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) {
    try {
      fn()
    } catch (error) {
      console.error(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
}

function installHandlers(): void {
  if (installed) return
  installed = true
  process.once('exit', runCleanups)
  const signals = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const
  for (const [signal, status] of Object.entries(signals)) {
    process.once(signal, () => {
      runCleanups()
      process.exit(status)
    })
  }
}

/**
 * A fresh directory under /tmp, not $TMPDIR: the servers' system users
 * (`postgres`, and `gatehouse-test` reading its authorized keys) must be able
 * to reach it, which a private $TMPDIR such as /root/tmp would prevent; /tmp
 * also keeps the Unix socket path under its 107-byte limit.
 */
export function makeServiceDir(prefix: string): string {
  return mkdtempSync(path.join('/tmp', prefix))
}

/**
 * The process ids below `pid`, children first-found. Used to stop servers
 * whose per-connection children leave the parent's process group (sshd calls
 * setsid() in each connection child), so killing the group would miss them.
 */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // The command name (field 2) may hold spaces and parentheses; ppid is the
    // second field after the last ')' (proc(5)).
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const siblings = children.get(ppid) ?? []
    siblings.push(Number(entry))
    children.set(ppid, siblings)
  }
  const found: number[] = []
  const queue = [pid]
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

/** Waits (synchronously: it also runs in the 'exit' handler) until `pids` have exited, then SIGKILLs any left. */
export function awaitExit(pids: number[], timeoutMs = 3000): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + timeoutMs
  let alive = pids.filter(isRunning)
  while (alive.length > 0 && Date.now() < deadline) {
    Atomics.wait(sleeper, 0, 0, 20)
    alive = alive.filter(isRunning)
  }
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
}

/** A zombie has exited; only its parent's wait() is missing. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
