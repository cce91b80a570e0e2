import { parseArgs } from 'node:util'
import { EXIT, oneOf, UsageError, type Command } from '../../cli/command.js'
import { readRecordings, toTranscript } from '../ssh/recording.js'
import { formatEvent } from './audit.js'
import { openStoreAccess, parseSince } from './store-access.js'

export const sessionsCommand: Command = {
  name: 'sessions',
  summary: 'list recorded sessions and show one session\'s timeline',
  usage: `usage: gatehouse sessions list [--identity NAME] [--since 1d] [--limit N] [--format text|json] [--store LOCATION | --admin URL]
       gatehouse sessions show ID [--format text|json] [--store LOCATION | --admin URL]

show prints every event of the session in order: connection, each
statement or command with its decision, masks and outcome, approvals, and
the end of the session; then the transcript of each recorded SSH command or
shell (\`gatehouse replay\` plays them back byte for byte).

options:
  --store LOCATION  a PostgreSQL URL or an embedded store directory (default: $GATEHOUSE_STORE or .gatehouse/store)
  --admin URL       go through a running gateway's admin API instead (token in $GATEHOUSE_ADMIN_TOKEN)`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { store: { type: 'string' }, admin: { type: 'string' }, identity: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string' } },
      allowPositionals: true,
    })
    const [verb, id] = positionals
    const format = oneOf(values.format, ['text', 'json'] as const, 'format') ?? 'text'
    if (verb !== 'list' && verb !== 'show') throw new UsageError('expected list or show')
    const access = await openStoreAccess({ ...(values.store ? { store: values.store } : {}), ...(values.admin ? { admin: values.admin } : {}) })
    try {
      if (verb === 'list') {
        const since = parseSince(values.since)
        const sessions = await access.sessions({ ...(values.identity ? { identity: values.identity } : {}), ...(since ? { since } : {}), limit: values.limit ? Number(values.limit) : 100 })
        io.out(format === 'json' ? JSON.stringify(sessions, null, 2) : sessions.length ? sessions.map((s) => `${s.sessionId}  ${s.identity ?? '-'} on ${s.resource ?? '-'}  ${s.started} → ${s.ended ?? 'open'}  ${s.events} events`).join('\n') : 'no sessions')
        return EXIT.ok
      }
      if (!id) throw new UsageError('expected `sessions show ID`')
      const events = await access.events({ sessionId: id, limit: 100_000 })
      if (events.length === 0) {
        io.err(`no session \`${id}\``)
        return EXIT.findings
      }
      if (format === 'json') {
        io.out(JSON.stringify(events, null, 2))
        return EXIT.ok
      }
      // SSH output batches are shown as the transcripts they make up, after the timeline.
      const transcripts = (await readRecordings(events, (digests) => access.recordingChunks(digests))).map(toTranscript)
      io.out([...events.filter((e) => e.kind !== 'ssh.output').map(formatEvent), ...(transcripts.length ? ['', 'recordings:', '', transcripts.join('\n\n')] : [])].join('\n'))
      return EXIT.ok
    } finally {
      await access.close()
    }
  },
}
