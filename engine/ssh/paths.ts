// Lexical path normalisation for file rules. A path is decided after `//`,
// `.` and `..` are collapsed, so `/var/backups/../../etc/shadow` is decided as
// `/etc/shadow` and a rule on `/var/backups/**` cannot be escaped by climbing.
//
// invariant: the gateway sends the *normalised* path upstream (it is the
// operation's `path`), so the host opens the path that was decided. Lexical
// `..` differs from the kernel's only across symbolic links, and a normalised
// path has no `..` left for the kernel to resolve. Symbolic links inside an
// allowed tree that point outside it are the host's to prevent.
import { findInvalidCharacter } from './errors.js'

/** PATH_MAX is 4096 bytes on Linux; a UTF-16 length of four times that cannot be a real path. */
export const DEFAULT_MAX_PATH_LENGTH = 16 * 1024

/**
 * `/a//b/./c/../d/` → `/a/b/d`; above the root stays at the root (`/..` → `/`).
 * A relative path keeps its leading `..` segments (`a/../../b` → `../b`); the
 * empty path is `.`. No trailing slash, except the root itself.
 */
export function normalizePath(path: string): string {
  const absolute = path.startsWith('/')
  const out: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop()
      else if (!absolute) out.push('..')
      continue
    }
    out.push(segment)
  }
  if (absolute) return `/${out.join('/')}`
  return out.length > 0 ? out.join('/') : '.'
}

/** Why a path cannot be decided at all, or undefined. A NUL would end the path early on the host. */
export function pathProblem(path: string, maxLength = DEFAULT_MAX_PATH_LENGTH): string | undefined {
  if (path.length > maxLength) return `the path is longer than ${maxLength} characters`
  const bad = findInvalidCharacter(path)
  if (bad >= 0) return path.charCodeAt(bad) === 0 ? 'the path contains a NUL character' : 'the path contains a lone UTF-16 surrogate'
  return undefined
}
