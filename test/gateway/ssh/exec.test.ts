// Commands through the SSH front with the real OpenSSH client: allowed
// commands run with their output and exit status, stdin reaches them, large
// outputs arrive whole, refusals are one stderr line naming the rule and exit
// status 126, and every refusal is recorded.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => (gw = await startSshGateway()))
after(async () => gw?.stop())

test('an allowed command runs upstream and its output and exit status come back', async () => {
  const run = await gw.ssh('deployer', 'web-1', 'echo hello from $HOME')
  // `$HOME` is shell syntax: refused. The same without it runs.
  assert.equal(run.status, 126, run.stderr)
  const ok = await gw.ssh('deployer', 'web-1', 'echo hello world')
  assert.equal(ok.status, 0, ok.stderr)
  assert.equal(ok.stdout.toString(), 'hello world\n')
  const who = await gw.ssh('deployer', 'web-1', 'id -un')
  assert.equal(who.stdout.toString(), 'gatehouse-test\n', 'the command ran as the resource\'s upstream user')
})

test('exit statuses pass through', async () => {
  for (const [command, status] of [['true', 0], ['false', 1], ["bash -c 'exit 7'", 7]] as const) {
    const run = await gw.ssh('deployer', 'web-1', command)
    assert.equal(run.status, status, run.stderr)
  }
})

test('stdin reaches the command and its end is passed on', async () => {
  const run = await gw.ssh('deployer', 'web-1', 'cat', { input: 'line one\nline two\n' })
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.toString(), 'line one\nline two\n')
})

test('a large output arrives whole and in order', async () => {
  const run = await gw.ssh('deployer', 'web-1', 'seq 400000')
  assert.equal(run.status, 0, run.stderr)
  const expected = Array.from({ length: 400000 }, (_, i) => `${i + 1}\n`).join('')
  assert.equal(run.stdout.length, expected.length)
  assert.ok(run.stdout.toString() === expected)
})

test('a denied command gets one line naming the rule and exit status 126, and never runs', async () => {
  const marker = `${gw.files}/must-survive`
  await gw.run('touch', [marker])
  const run = await gw.ssh('deployer', 'web-1', `rm -f ${marker}`)
  assert.equal(run.status, 126)
  assert.match(run.stderr, /^gatehouse: permission denied by gatehouse rule deploy\/no-removal: /m)
  assert.equal(run.stdout.length, 0)
  assert.equal((await gw.run('test', ['-e', marker])).status, 0, 'the file is still there')
  const unmatched = await gw.ssh('deployer', 'web-1', 'uname -a')
  assert.equal(unmatched.status, 126)
  assert.match(unmatched.stderr, /permission denied by gatehouse: /)
  const events = await gw.events({ kinds: ['ssh.exec'] })
  const denied = events.find((e) => e.data.command === `rm -f ${marker}`)
  assert.equal(denied?.data.decision, 'deny')
  assert.equal(denied?.data.rule, 'deploy/no-removal')
})

test('shell syntax never matches an exec rule: each bypass attempt is refused before anything runs', async () => {
  const marker = `${gw.files}/bypassed`
  const attempts = [
    `echo x; touch ${marker}`,
    `echo x && touch ${marker}`,
    `echo x || touch ${marker}`,
    `echo x | touch ${marker}`,
    `echo $(touch ${marker})`,
    `echo \`touch ${marker}\``,
    `echo x\ntouch ${marker}`,
    `echo x > ${marker}`,
    `echo x & touch ${marker}`,
    `echo "$(touch ${marker})"`,
    `echo x\${IFS}; touch ${marker}`,
    `cat </etc/passwd`,
    `echo '' ; touch ${marker}`,
    `printf %s "x" ';' && touch ${marker}`,
  ]
  for (const command of attempts) {
    const run = await gw.ssh('deployer', 'web-1', command)
    assert.equal(run.status, 126, `${JSON.stringify(command)} was refused`)
    assert.match(run.stderr, /^gatehouse: permission denied/m, command)
  }
  assert.notEqual((await gw.run('test', ['-e', marker])).status, 0, 'no attempt ran')
  // Quoted, the same characters are plain arguments: allowed, and harmless.
  const quoted = await gw.ssh('deployer', 'web-1', `echo 'a; b' "c && d" 'e|f' '$(g)'`)
  assert.equal(quoted.status, 0, quoted.stderr)
  assert.equal(quoted.stdout.toString(), 'a; b c && d e|f $(g)\n')
})

test('an identity with a shell rule may use shell syntax', async () => {
  const run = await gw.ssh('operator', 'web-1', 'echo one; echo two | tr a-z A-Z; exit 3')
  assert.equal(run.status, 3)
  assert.equal(run.stdout.toString(), 'one\nTWO\n')
})

test('stderr and stdout stay apart', async () => {
  const script = gw.writeScript('streams.sh', 'echo out; echo err >&2; echo out2; exit 4\n')
  const run = await gw.ssh('deployer', 'web-1', `bash ${script}`)
  assert.equal(run.status, 4)
  assert.equal(run.stdout.toString(), 'out\nout2\n')
  assert.equal(run.stderr, 'err\n')
})

test('a command killed by a signal reports the signal', async () => {
  const client = await gw.connect('deployer', 'web-1')
  try {
    const script = gw.writeScript('killed.sh', 'kill -TERM $$\n')
    const result = await gw.exec(client, `bash ${script}`)
    assert.equal(result.code, null, result.stderr.toString())
    assert.equal(result.signal, 'SIGTERM')
  } finally {
    client.end()
  }
})
