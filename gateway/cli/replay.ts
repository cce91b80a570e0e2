// `gatehouse replay`: what an SSH client saw, played back from the recordings
// in the audit trail (gateway/ssh/recording.ts), byte for byte or as
// asciicast v2 or a transcript.
import { parseArgs } from 'node:util'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import { readRecordings, toAsciicast, toTranscript, type Recording } from '../ssh/recording.js'
import { openStoreAccess } from './store-access.js'

/** Writes bytes as they are (a recording is not text), resolving once they are handed to the system. */
function write(stream: NodeJS.WriteStream, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (err) => (err ? reject(err) : resolve())))
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay what an SSH client saw',
  usage: `usage: gatehouse replay SESSION-ID [--command N] [--format raw|asciicast|transcript] [--store LOCATION | --admin URL]

Prints the recordings of an SSH session from the audit trail: every command
and interactive shell, in order, or only the Nth with --command N.

formats:
  raw         (default) exactly the bytes the client received, stdout on
              standard output and stderr on standard error
  asciicast   asciicast v2, one recording per file (play with \`asciinema play\`);
              needs --command when the session has several
  transcript  the command, both streams and the exit status, as text

options:
  --store LOCATION  a PostgreSQL URL or an embedded store directory (default: $GATEHOUSE_STORE or .gatehouse/store)
  --admin URL       go through a running gateway's admin API instead (token in $GATEHOUSE_ADMIN_TOKEN);
                    either way, every recorded byte is checked against the digest its hash-chained event names`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { store: { type: 'string' }, admin: { type: 'string' }, format: { type: 'string' }, command: { type: 'string' } },
      allowPositionals: true,
    })
    const [id] = positionals
    if (!id || positionals.length > 1) throw new UsageError('expected one session id')
    const format = oneOf(values.format, ['raw', 'asciicast', 'transcript'] as const, 'format') ?? 'raw'
    const index = values.command === undefined ? undefined : Number(values.command)
    if (index !== undefined && !(Number.isInteger(index) && index >= 1)) throw new UsageError('--command must be a positive number')
    const access = await openStoreAccess({ ...(values.store ? { store: values.store } : {}), ...(values.admin ? { admin: values.admin } : {}) })
    let recordings: Recording[]
    try {
      recordings = await readRecordings(await access.events({ sessionId: id, limit: 100_000 }), (digests) => access.recordingChunks(digests))
    } finally {
      await access.close()
    }
    if (index !== undefined) recordings = recordings.slice(index - 1, index)
    if (recordings.length === 0) {
      io.err(index === undefined ? `no recordings in session \`${id}\`` : `session \`${id}\` has no recording ${index}`)
      return EXIT.findings
    }
    if (format === 'transcript') {
      io.out(recordings.map(toTranscript).join('\n\n'))
      return EXIT.ok
    }
    if (format === 'asciicast') {
      if (recordings.length > 1) throw new UsageError(`session \`${id}\` has ${recordings.length} recordings: choose one with --command N`)
      await write(process.stdout, toAsciicast(recordings[0]!))
      return EXIT.ok
    }
    for (const recording of recordings) {
      for (const chunk of recording.chunks) {
        if (chunk.stream === 'o') await write(process.stdout, chunk.data)
        else if (chunk.stream === 'e') await write(process.stderr, chunk.data)
      }
    }
    return EXIT.ok
  },
}
