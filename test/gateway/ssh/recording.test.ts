// Output is masked before it leaves the gateway, even when a value is cut
// across chunks, and what the client saw is recorded in the audit trail:
// `gatehouse replay` gives back the same bytes, interactive shells become
// asciicast v2, and `gatehouse sessions show` prints the transcripts.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { deflateRawSync } from 'node:zlib'
import { gatehouseAsync } from '../../helpers/cli.js'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
const ADMIN_TOKEN = 'recording-admin-token'
before(async () => {
  process.env.GATEHOUSE_ADMIN_TOKEN = ADMIN_TOKEN
  gw = await startSshGateway()
})
after(async () => gw?.stop())

async function sessionOf(command: string): Promise<string> {
  const events = await gw.events({ kinds: ['ssh.exec'] })
  const event = events.find((e) => e.data.command === command)
  assert.ok(event?.sessionId, `the command ${command} was recorded`)
  return event.sessionId
}

/**
 * Waits until the session's recording is complete: the client sees the end
 * of a command once its last bytes are sent, and their batch is stored just
 * after (sealed off the main thread), before the command's outcome event.
 */
async function recorded(session: string): Promise<void> {
  await eventually(() => gw.events({ kinds: ['ssh.outcome'] }), (events) => events.some((e) => e.sessionId === session))
  await gw.gateway.context.audit.flush()
}

async function replay(session: string, ...extra: string[]) {
  await recorded(session)
  return gatehouseAsync(['replay', session, '--store', gw.storeUrl, ...extra])
}

/** The same, through the running gateway's admin API (how an embedded store is reached). */
async function replayThroughGateway(session: string, ...extra: string[]) {
  await recorded(session)
  return gatehouseAsync(['replay', session, '--admin', `http://127.0.0.1:${gw.gateway.addresses.admin!.port}`, ...extra], { env: { GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN } })
}

test('a card number cut across chunks is masked, and the replay is byte for byte what the client saw', async () => {
  const script = gw.writeScript(
    'split-card.sh',
    [
      'printf "card 4111 11"',
      'sleep 0.05', // separate packets: the value reaches the gateway in two chunks
      'printf "11 1111 1111 done\\n"',
      'printf "warning: é\\n" >&2',
      'printf "tail without newline"',
      'exit 3',
      '',
    ].join('\n'),
  )
  const command = `bash ${script}`
  const run = await gw.ssh('deployer', 'web-1', command)
  assert.equal(run.status, 3)
  assert.equal(run.stdout.toString(), 'card [redacted:credit-card] done\ntail without newline')
  assert.equal(run.stderr, 'warning: é\n')

  const session = await sessionOf(command)
  const raw = await replay(session)
  assert.equal(raw.status, 0, raw.stderr)
  assert.equal(raw.stdout, run.stdout.toString())
  assert.equal(raw.stderr, run.stderr)
  const remote = await replayThroughGateway(session)
  assert.equal(remote.status, 0, remote.stderr)
  assert.equal(remote.stdout, run.stdout.toString())
  assert.equal(remote.stderr, run.stderr)
  const transcript = await replay(session, '--format', 'transcript')
  assert.match(transcript.stdout, new RegExp(`\\$ bash ${script}`))
  assert.match(transcript.stdout, /\[stderr\] warning: é/)
  assert.match(transcript.stdout, /\[exit 3\]/)
  assert.doesNotMatch(transcript.stdout, /4111/)
  const shown = await gatehouseAsync(['sessions', 'show', session, '--store', gw.storeUrl])
  assert.equal(shown.status, 0, shown.stderr)
  assert.match(shown.stdout, /ssh\.exec/)
  assert.match(shown.stdout, /card \[redacted:credit-card\] done/)
  assert.match(shown.stdout, /\[exit 3\]/)
})

test('a private key printed by a command never leaves the gateway', async () => {
  const script = gw.writeScript('key.sh', `cat ${gw.keys.deployer}.pub >/dev/null; printf -- "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\\n-----END OPENSSH PRIVATE KEY-----\\nafter\\n"\n`)
  const run = await gw.ssh('deployer', 'web-1', `bash ${script}`)
  assert.equal(run.status, 0, run.stderr)
  assert.doesNotMatch(run.stdout.toString(), /b3BlbnNzaC1rZXkt/)
  assert.match(run.stdout.toString(), /\[redacted:private-key\]\nafter\n$/)
})

test('an interactive shell is recorded as asciicast v2 that replays exactly what the terminal got', async () => {
  const client = await gw.connect('operator', 'web-1')
  try {
    const seen: Buffer[] = []
    const code = await new Promise<number | null>((resolve, reject) => {
      client.shell({ term: 'xterm', cols: 100, rows: 30 }, (err, channel) => {
        if (err) return reject(err)
        let exit: number | null = null
        channel.on('data', (d: Buffer) => seen.push(d))
        channel.on('exit', (c: number | null) => (exit = c))
        channel.on('close', () => resolve(exit))
        channel.setWindow(40, 120, 0, 0)
        channel.write('echo card 4111111111111111 here; exit 5\n')
      })
    })
    assert.equal(code, 5)
    const screen = Buffer.concat(seen)
    assert.match(screen.toString(), /card \[redacted:credit-card\] here/)
    assert.doesNotMatch(screen.toString(), /4111111111111111/)

    const events = await gw.events({ kinds: ['ssh.shell'] })
    const shell = events.findLast((e) => e.identity === 'operator')
    assert.ok(shell?.sessionId)
    assert.deepEqual(shell.data.pty, { term: 'xterm', cols: 100, rows: 30 })
    const raw = await replay(shell.sessionId)
    assert.equal(raw.stdout, screen.toString())
    const cast = await replay(shell.sessionId, '--format', 'asciicast')
    const [header, ...lines] = cast.stdout.trim().split('\n')
    assert.deepEqual({ ...JSON.parse(header!), timestamp: 0 }, { version: 2, width: 100, height: 30, timestamp: 0, env: { TERM: 'xterm' } })
    const castEvents = lines.map((l) => JSON.parse(l) as [number, string, string])
    assert.deepEqual(castEvents.filter((e) => e[1] === 'r').map((e) => e[2]), ['120x40'])
    assert.equal(castEvents.filter((e) => e[1] === 'o').map((e) => e[2]).join(''), screen.toString())
    const times = castEvents.map((e) => e[0])
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'event times never go back')
  } finally {
    client.end()
  }
})

test('an identity without a shell rule gets no shell', async () => {
  const run = await gw.ssh('deployer', 'web-1', undefined, { args: ['-T'] })
  assert.equal(run.status, 126)
  assert.match(run.stderr, /permission denied by gatehouse/)
})

// Last in this file: it alters the store.
test('altered recorded output is caught by audit verify and refused by replay', async () => {
  const command = 'echo evidence'
  const run = await gw.ssh('deployer', 'web-1', command)
  assert.equal(run.status, 0, run.stderr)
  const session = await sessionOf(command)
  await gw.gateway.context.audit.flush()
  const clean = await gatehouseAsync(['audit', 'verify', '--store', gw.storeUrl])
  assert.equal(clean.status, 0, clean.stdout + clean.stderr)
  const output = (await gw.events({ sessionId: session, kinds: ['ssh.output'] }))[0]
  assert.ok(output, 'the output was recorded')
  await gw.gateway.context.db.query('UPDATE gatehouse.recording_chunks SET deflated = $2 WHERE digest = $1', [output.data.sha256, deflateRawSync(Buffer.from('forged\n'))])
  const verify = await gatehouseAsync(['audit', 'verify', '--store', gw.storeUrl])
  assert.equal(verify.status, 1)
  assert.match(verify.stdout + verify.stderr, /recorded output does not match its digest/)
  const replayed = await replay(session)
  assert.notEqual(replayed.status, 0)
  assert.doesNotMatch(replayed.stdout, /forged/)
  const remote = await replayThroughGateway(session)
  assert.notEqual(remote.status, 0)
  assert.doesNotMatch(remote.stdout, /forged/)
})
