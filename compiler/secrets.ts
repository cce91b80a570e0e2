// Secrets never enter the repository: connection secrets are references
// (`{env: NAME}` or `{file: PATH}`), and no value anywhere may look like a
// credential. This pass runs before the schema so the finding says why.
import type { DocPath } from './parse.js'

export interface InlineSecret {
  path: DocPath
  message: string
}

/** Keys whose value is a secret, so a plain string there is the secret itself. */
const SECRET_KEYS = new Set(['password', 'privateKey', 'passphrase', 'secret', 'apiKey', 'ca'])

/** Credential shapes that must not appear in any value. */
const CREDENTIAL_SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/, 'a private key'],
  [/\bgth_[A-Za-z0-9_-]{43}\b/, 'a Gatehouse token'],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b/, 'a GitHub token'],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/, 'an AWS access key'],
  [/(?:postgres(?:ql)?|mysql|redis|mongodb):\/\/[^:/@\s]+:[^@/\s]+@/, 'a connection string with a password'],
]

export function findInlineSecrets(value: unknown): InlineSecret[] {
  const found: InlineSecret[] = []
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (typeof node === 'string') {
      const key = path[path.length - 1]
      // `ca` may legitimately be a public certificate only when referenced; any plain string under a secret key is refused.
      if (typeof key === 'string' && SECRET_KEYS.has(key)) {
        found.push({ path, message: `\`${key}\` is written inline; secrets must be references` })
        return
      }
      for (const [shape, what] of CREDENTIAL_SHAPES) {
        if (shape.test(node)) {
          found.push({ path, message: `value contains ${what}; secrets must not be stored in the repository` })
          return
        }
      }
      return
    }
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, [...path, i]))
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) visit(v, [...path, k])
  }
  visit(value, [])
  return found
}
