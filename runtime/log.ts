// Structured logs of the long-running processes (gateway, bot): one JSON
// object per line on standard error. Fields are scrubbed twice, so a careless
// call cannot leak a secret: values under keys that name secrets are
// replaced, and strings are cut short and stripped of anything shaped like a
// token or an Authorization header (an error message that quotes a request
// cannot leak one). Objects are never logged whole.
export type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 }
const SECRET_KEY = /pass(word|phrase)?|secret|token|private|credential|authorization|cookie|payload|body/i
const TOKEN_SHAPE = /\b(gth_[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9_]{10,}|github_pat_[A-Za-z0-9_]{10,}|v1\.[0-9a-f]{40})\b|(bearer|token)\s+[^\s"']+/gi
const MAX_STRING = 300

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
}

export function scrubText(text: string): string {
  const clean = text.replace(TOKEN_SHAPE, '[redacted]')
  return clean.length > MAX_STRING ? `${clean.slice(0, MAX_STRING)}…` : clean
}

function scrub(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    if (SECRET_KEY.test(key)) out[key] = '[redacted]'
    else if (value instanceof Error) out[key] = scrubText(value.message)
    else if (typeof value === 'string') out[key] = scrubText(value)
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value
    else out[key] = '[object]'
  }
  return out
}

export function createLogger(options: { level?: Level; write?: (line: string) => void; base?: Record<string, unknown> } = {}): Logger {
  const minimum = ORDER[options.level ?? 'info']
  const write = options.write ?? ((line: string) => void process.stderr.write(line))
  const base = scrub(options.base ?? {})
  const log = (level: Level, message: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < minimum) return
    write(JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...scrub(fields) }) + '\n')
  }
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => createLogger({ ...options, base: { ...options.base, ...fields } }),
  }
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
}
