// The contract between the `gatehouse` executable and the commands of each
// area (compiler, gateway, bot): what a command needs from its surroundings,
// so tests can run commands in-process and read what they printed.
export interface Io {
  out(text: string): void
  err(text: string): void
}

export interface Command {
  name: string
  summary: string
  usage: string
  run(args: string[], io: Io): Promise<number>
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
}

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, findings: 1, usage: 2 } as const

export class UsageError extends Error {}

export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new UsageError(`--${option} must be one of ${allowed.join(', ')}`)
}
