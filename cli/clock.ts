// The one clock every date that decides something comes from: identity
// expiry (compiler lint, test runner, explain, gateway), the time conditions
// see, and the demo's expiry dates. `GATEHOUSE_NOW=<ISO-8601>` starts the
// clock at that instant and lets it run on from there, so a test (or an
// operator rehearsing a date) can see what the project does on any day
// without changing the machine's clock. Records (audit times, approval
// deadlines) keep the wall clock: they say when something really happened.

export const CLOCK_VARIABLE = 'GATEHOUSE_NOW'

/** Milliseconds between the wall clock and the clock, or the problem with the setting. */
function readOffset(setting: string | undefined): { offset: number } | { problem: string } {
  if (setting === undefined || setting === '') return { offset: 0 }
  const start = Date.parse(setting)
  if (!/^\d{4}-\d{2}-\d{2}/.test(setting) || Number.isNaN(start)) return { problem: `${CLOCK_VARIABLE} must be an ISO-8601 date or time, e.g. 2031-06-01T09:00:00Z; got \`${setting}\`` }
  return { offset: start - Date.now() }
}

let setting = readOffset(process.env[CLOCK_VARIABLE])

/**
 * Why the configured clock cannot be used, if it cannot. The executable
 * checks this before running any command: a mistyped setting must stop the
 * program, not silently fall back to the wall clock.
 */
export function clockProblem(): string | undefined {
  return 'problem' in setting ? setting.problem : undefined
}

/** Whether the clock differs from the wall clock (the gateway says so in its log). */
export function clockIsSet(): boolean {
  return 'offset' in setting && setting.offset !== 0
}

export function now(): Date {
  return new Date(Date.now() + ('offset' in setting ? setting.offset : 0))
}

/** `YYYY-MM-DD`, `days` from today (UTC). */
export function dayFromToday(days: number): string {
  return new Date(now().getTime() + days * 86_400_000).toISOString().slice(0, 10)
}

/** Sets the clock of this process, as `GATEHOUSE_NOW` would (`undefined`: the wall clock). */
export function setClock(time: string | undefined): void {
  setting = readOffset(time)
}
