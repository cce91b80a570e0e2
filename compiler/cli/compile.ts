import { readFile, rename, writeFile } from 'node:fs/promises'
import { createPrivateKey } from 'node:crypto'
import { parseArgs } from 'node:util'
import { compileRepository } from '../compile.js'
import { loadDirectory } from '../load.js'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import { FORMATS, reportDiagnostics } from './report.js'

/** Outside Git there is no commit time: without one, every bundle would carry 0 and could replace any other. */
function outsideGitSequence(flag: string | undefined): number {
  const given = flag ?? process.env.SOURCE_DATE_EPOCH
  if (given === undefined) return Math.floor(Date.now() / 1000)
  if (!/^\d{1,15}$/.test(given)) throw new UsageError(`${flag !== undefined ? '--sequence' : 'SOURCE_DATE_EPOCH'} must be a non-negative integer, not \`${given}\``)
  return Number(given)
}

export const compileCommand: Command = {
  name: 'compile',
  summary: 'compile a policy repository into a signed enforcement bundle',
  usage: `usage: gatehouse compile [DIR] -o BUNDLE [--sign KEY] [--sequence N] [--format text|json|github]

Validates the repository and writes the enforcement bundle the gateway
loads. The same input always gives a byte-identical bundle. Nothing is
written when there is any error.

Gateways refuse a bundle whose sequence is not above the one in force. In a
Git checkout the sequence is the commit time; outside Git it is --sequence,
else $SOURCE_DATE_EPOCH, else the current time (seconds since the epoch).

options:
  -o, --output PATH  where to write the bundle (- for standard output)
  --sequence N       the bundle's sequence outside Git (a non-negative integer)
  --sign KEY         sign with this Ed25519 private key (see \`gatehouse keygen\`)
  --format FORMAT    how to print findings: text (default), json, github

exit status: 0 written, 1 errors, 2 usage or internal error`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { output: { type: 'string', short: 'o' }, sign: { type: 'string' }, sequence: { type: 'string' }, format: { type: 'string' } },
      allowPositionals: true,
    })
    const format = oneOf(values.format, FORMATS, 'format') ?? 'text'
    if (!values.output) throw new UsageError('missing -o/--output')
    const dir = positionals[0] ?? '.'
    let signingKey
    if (values.sign) {
      try {
        signingKey = createPrivateKey(await readFile(values.sign))
      } catch {
        throw new UsageError(`--sign: \`${values.sign}\` is not a readable private key`)
      }
      if (signingKey.asymmetricKeyType !== 'ed25519') throw new UsageError('--sign: the key must be an Ed25519 private key')
    }
    const loaded = await loadDirectory(dir)
    const sequence = loaded.revision ? undefined : outsideGitSequence(values.sequence)
    const result = await compileRepository(loaded, { ...(signingKey ? { signingKey } : {}), ...(sequence !== undefined ? { sequence } : {}) })
    reportDiagnostics(io, result.diagnostics, format, dir, result.sources)
    if (!result.bundle || !result.bundleText) return EXIT.findings
    const text = result.bundleText
    if (values.output === '-') io.out(text)
    else {
      // Write then rename, so a watcher never sees a half-written bundle.
      const temporary = `${values.output}.${process.pid}.tmp`
      await writeFile(temporary, text, { mode: 0o644 })
      await rename(temporary, values.output)
      if (format === 'text') io.err(`wrote ${values.output} (revision ${result.bundle.manifest.revision}, ${result.bundle.manifest.digest})`)
    }
    return EXIT.ok
  },
}
