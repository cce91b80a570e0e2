// Stage 3: each document against the JSON Schema of its kind, with errors
// translated into findings at the offending node.
import type { ErrorObject, ValidateFunction } from 'ajv'
import { suggest } from '../cli/suggest.js'
import { didYouMean, type Diagnostic } from './diagnostics.js'
import type { DiagnosticCode } from './errors.js'
import type { DocPath, ParsedDocument } from './parse.js'
import * as generated from './schema-validators.generated.js'
import { findInlineSecrets } from './secrets.js'

export const KINDS = ['Settings', 'Identity', 'Resource', 'Policy', 'Test'] as const
export type Kind = (typeof KINDS)[number]

/** Compiled from schemas/ at development time (build/generate-validators.ts), not at every start. */
const validators = generated as unknown as Record<Kind, ValidateFunction>

export function validateDocuments(documents: readonly ParsedDocument[]): { valid: ParsedDocument[]; invalid: ParsedDocument[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = []
  const valid: ParsedDocument[] = []
  const invalid: ParsedDocument[] = []
  for (const doc of documents) {
    const kind = doc.kind
    if (!kind || !(KINDS as readonly string[]).includes(kind)) {
      diagnostics.push({
        ...doc.locate(kind === undefined ? [] : ['kind']),
        code: 'schema.unknown_kind',
        severity: 'error',
        message: kind === undefined ? 'document has no `kind`' : `unknown kind \`${kind}\``,
        ...(kind ? didYouMean(kind, KINDS) : { help: `set \`kind\` to one of ${KINDS.map((k) => `\`${k}\``).join(', ')}` }),
      })
      invalid.push(doc)
      continue
    }
    const secrets = findInlineSecrets(doc.value)
    for (const secret of secrets) {
      diagnostics.push({
        ...doc.locate(secret.path),
        code: 'secret.inline',
        severity: 'error',
        message: secret.message,
        help: secretHelp(doc, secret.path),
      })
    }
    const validate = validators[kind as Kind]
    if (validate(doc.value) && secrets.length === 0) {
      valid.push(doc)
      continue
    }
    invalid.push(doc)
    const secretPaths = secrets.map((s) => s.path.join('/'))
    for (const finding of explain(validate.errors ?? [])) {
      const pathKey = finding.path.join('/')
      if (secretPaths.some((p) => pathKey === p || pathKey.startsWith(p + '/'))) continue
      diagnostics.push({ ...doc.locate(finding.path, finding.part), severity: 'error', code: finding.code, message: finding.message, ...(finding.help ? { help: finding.help } : {}) })
    }
  }
  return { valid, invalid, diagnostics }
}

/**
 * An identity's credentials are verifiers the gateway checks a token
 * against, never references to a secret; connection secrets are references.
 */
function secretHelp(doc: ParsedDocument, path: DocPath): string {
  if (doc.kind === 'Identity' && path[0] === 'credentials') {
    const name = typeof doc.value.name === 'string' ? doc.value.name : 'NAME'
    const owner = typeof doc.value.owner === 'string' ? doc.value.owner : '@OWNER'
    return `an identity holds only verifiers of its token: run \`gatehouse identity new ${name} --owner ${owner}\`, replace \`credentials\` with the \`credentials\` it prints, give the job the new token, and remove this one from the Git history`
  }
  return 'reference the secret instead: `{env: NAME}` or `{file: /path/to/secret}`, and remove it from the Git history'
}

interface Finding {
  path: DocPath
  part: 'key' | 'value'
  code: DiagnosticCode
  message: string
  help?: string
  /** For an unknown key: the key it is probably a misspelling of. */
  meant?: string
  /** For a missing key: which. */
  missing?: string
}

/** A required key missing because it is misspelled is one mistake: the misspelling says it. */
function withoutMisspelledRequired(findings: Finding[]): Finding[] {
  const meant = new Set(findings.filter((f) => f.meant).map((f) => `${f.path.slice(0, -1).join('/')}\0${f.meant}`))
  return findings.filter((f) => !(f.code === 'schema.required' && f.missing && meant.has(`${f.path.join('/')}\0${f.missing}`)))
}

function toPath(instancePath: string): (string | number)[] {
  if (!instancePath) return []
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}

/**
 * Turns Ajv's raw errors into one finding per problem: errors inside a failed
 * alternative are noise (each branch fails for its own reason), so they are
 * replaced by one sentence saying which shapes are allowed.
 */
function explain(errors: readonly ErrorObject[]): Finding[] {
  const alternatives = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')
  // An alternative that is a `$ref` reports paths of the referenced definition, not under the `oneOf`.
  const insideAlternative = (e: ErrorObject) =>
    alternatives.some((a) => e.schemaPath.startsWith(a.schemaPath + '/') || (e.schemaPath.startsWith('#/$defs/') && (e.instancePath + '/').startsWith(a.instancePath + '/')))
  const findings: Finding[] = []
  for (const error of errors) {
    if (error.keyword === 'if' || insideAlternative(error)) continue
    const path = toPath(error.instancePath)
    const params = error.params as Record<string, unknown>
    switch (error.keyword) {
      case 'required':
        findings.push({ path, part: 'value', code: 'schema.required', message: `missing required key \`${String(params.missingProperty)}\``, missing: String(params.missingProperty) })
        break
      case 'additionalProperties': {
        const key = String(params.additionalProperty)
        const allowed = Object.keys(((error.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object)
        const near = suggest(key, allowed)
        findings.push({ path: [...path, key], part: 'key', code: 'schema.unknown_key', message: `unknown key \`${key}\``, ...(near ? { help: `did you mean \`${near}\`?`, meant: near } : {}) })
        break
      }
      case 'type':
        findings.push({ path, part: 'value', code: 'schema.type', message: `must be ${article(String(params.type))}` })
        break
      case 'enum':
      case 'const': {
        const allowed = (error.keyword === 'enum' ? (params.allowedValues as unknown[]) : [params.allowedValue]).map(String)
        const actual = String(valueAt(error))
        // YAML reads a bare `null` (and `true`, `1`...) as a value, not as the word.
        const unquoted = valueAt(error) !== null && typeof valueAt(error) === 'string' ? undefined : allowed.includes(actual) ? { help: `write it quoted: \`"${actual}"\`` } : undefined
        findings.push({
          path,
          part: 'value',
          code: 'schema.enum',
          message: `\`${actual}\` is not allowed here; expected ${allowed.map((a) => `\`${a}\``).join(', ')}`,
          ...(unquoted ?? didYouMean(actual, allowed)),
        })
        break
      }
      case 'pattern': {
        const description = (error.parentSchema as { description?: string } | undefined)?.description
        findings.push({ path, part: 'value', code: 'schema.pattern', message: `\`${String(valueAt(error))}\` is not valid here${description ? `: ${lowerFirst(description)}` : ''}` })
        break
      }
      case 'format':
        findings.push({ path, part: 'value', code: 'schema.format', message: `\`${String(valueAt(error))}\` is not a valid ${String(params.format)}` })
        break
      case 'minimum':
      case 'maximum':
      case 'minLength':
      case 'maxLength':
      case 'minItems':
      case 'maxItems':
      case 'minProperties':
      case 'maxProperties':
        findings.push({ path, part: 'value', code: 'schema.range', message: rangeMessage(error.keyword, Number(params.limit)) })
        break
      case 'uniqueItems':
        findings.push({ path: [...path, Number(params.i)], part: 'value', code: 'schema.duplicate_item', message: `item ${Number(params.i) + 1} repeats item ${Number(params.j) + 1}` })
        break
      case 'oneOf':
      case 'anyOf': {
        // The schema describes each set of alternatives in words a person can act on.
        const description = (error.parentSchema as { description?: string } | undefined)?.description
        findings.push({ path, part: 'value', code: 'schema.shape', message: description ? lowerFirst(description).replace(/\.$/, '') : 'value does not have any of the allowed shapes' })
        break
      }
      case 'not': {
        findings.push({ path, part: 'value', code: 'schema.invalid', message: notMessage(error.schemaPath) })
        break
      }
      default:
        findings.push({ path, part: 'value', code: 'schema.invalid', message: error.message ?? 'value is invalid' })
    }
  }
  return withoutMisspelledRequired(findings)
}

function valueAt(error: ErrorObject): unknown {
  return error.data
}

function notMessage(schemaPath: string): string {
  if (schemaPath.includes('/then/not')) return 'a resource has only the connection block of its own `type`'
  if (schemaPath.includes('/else/not')) return '`approval` belongs only on rules whose effect is `approve`'
  return 'value is not allowed here'
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1)
}

function rangeMessage(keyword: string, limit: number): string {
  switch (keyword) {
    case 'minimum': return `must be at least ${limit}`
    case 'maximum': return `must be at most ${limit}`
    case 'minLength': return `must have at least ${limit} character${limit === 1 ? '' : 's'}`
    case 'maxLength': return `must have at most ${limit} characters`
    case 'minItems': return `must list at least ${limit} item${limit === 1 ? '' : 's'}`
    case 'maxItems': return `must list at most ${limit} items`
    case 'minProperties': return `must have at least ${limit} key${limit === 1 ? '' : 's'}`
    default: return `must have at most ${limit} keys`
  }
}
