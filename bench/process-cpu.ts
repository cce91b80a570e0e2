// CPU time per process from /proc, for benchmarks that measure what a
// statement costs rather than how fast it goes: on a machine with few cores a
// proxy's throughput is its CPU per statement.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** Seconds of CPU (user + system) `pid` used itself, and those of the children it has reaped; undefined once it is gone. */
export function processCpu(pid: number): { own: number; reaped: number } | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  // proc(5): utime, stime, cutime, cstime are fields 14 to 17, here indexes 11 to 14.
  return { own: (fields[11]! + fields[12]!) / TICKS_PER_SECOND, reaped: (fields[13]! + fields[14]!) / TICKS_PER_SECOND }
}

/** The ids of a process's direct children. */
export function childPids(pid: number): number[] {
  const pids: number[] = []
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim()
    if (text) pids.push(...text.split(' ').map(Number))
  }
  return pids
}

/**
 * The CPU a PostgreSQL server's backends spent between `start()` and
 * `stop()`, by the database each backend serves (as `pg_stat_activity` maps
 * them). Backends that exited in between (a client's connection closing) are
 * only known through what the postmaster reaped: they are counted under
 * `reapedAs`, the database whose connections come and go in the run.
 * Background processes (WAL writer, checkpointer, ...) count as `other`.
 */
export class BackendCpu {
  private before = new Map<number, number>()
  private reapedBefore = 0

  constructor(
    private readonly postmasterPid: number,
    private readonly databaseOf: () => Promise<Map<number, string>>,
    private readonly reapedAs: string,
  ) {}

  start(): void {
    this.before = new Map(childPids(this.postmasterPid).map((pid) => [pid, processCpu(pid)?.own ?? 0]))
    this.reapedBefore = processCpu(this.postmasterPid)!.reaped
  }

  async stop(): Promise<Map<string, number>> {
    const databases = await this.databaseOf()
    const spent = new Map<string, number>()
    const add = (key: string, seconds: number) => spent.set(key, (spent.get(key) ?? 0) + seconds)
    for (const pid of childPids(this.postmasterPid)) {
      const now = processCpu(pid)?.own
      if (now !== undefined) add(databases.get(pid) ?? 'other', now - (this.before.get(pid) ?? 0))
    }
    const reaped = processCpu(this.postmasterPid)!.reaped - this.reapedBefore
    // What a backend that exited had used before start() was counted in `before`: take it off again.
    const goneBefore = [...this.before].filter(([pid]) => !processCpu(pid)).reduce((sum, [, seconds]) => sum + seconds, 0)
    add(this.reapedAs, reaped - goneBefore)
    return spent
  }
}
