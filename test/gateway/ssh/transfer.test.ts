// File transfer with OpenSSH's sftp and scp (both its sftp mode and the
// legacy protocol) and rsync: reads and writes inside the rule's trees work
// and are recorded with path, direction and size; anything outside is
// refused, however the path is spelled. Port forwarding only reaches what a
// rule names, remote forwards only listen where a rule allows; the client's
// agent and X11 display only serve hosts where a rule lends them.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { runCommand } from '../../services/command.js'
import { freePort } from '../../services/ports.js'
import { eventually, startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
before(async () => {
  gw = await startSshGateway()
  writeFileSync(path.join(gw.files, 'report.txt'), 'quarterly numbers\n'.repeat(1000))
})
after(async () => gw?.stop())

const sftp = (identity: string, batch: string) => gw.run('sftp', [...gw.sshOptions(identity), '-P', String(gw.port), '-b', '-', 'web-1@127.0.0.1'], { input: batch })

test('sftp: get and put inside the allowed trees, each file operation recorded with its size', async () => {
  const local = path.join(gw.dir, 'local-report.txt')
  const upload = path.join(gw.dir, 'to-upload.bin')
  writeFileSync(upload, Buffer.alloc(300_000, 7))
  const run = await sftp('deployer', `get ${gw.files}/report.txt ${local}\nput ${upload} ${gw.files}/upload/new.bin\nls ${gw.files}\n`)
  assert.equal(run.status, 0, run.stderr)
  assert.equal(readFileSync(local, 'utf8'), readFileSync(path.join(gw.files, 'report.txt'), 'utf8'))
  assert.deepEqual(readFileSync(path.join(gw.files, 'upload', 'new.bin')), readFileSync(upload))
  const events = await gw.events({ kinds: ['ssh.file'] })
  const closes = events.filter((e) => e.data.operation === 'close')
  assert.ok(closes.some((e) => e.data.path === `${gw.files}/report.txt` && e.data.bytesRead === 18_000))
  assert.ok(closes.some((e) => e.data.path === `${gw.files}/upload/new.bin` && e.data.bytesWritten === 300_000))
  const opens = events.filter((e) => e.data.operation === 'open')
  assert.ok(opens.some((e) => e.data.path === `${gw.files}/upload/new.bin` && e.data.direction === 'write' && e.data.decision === 'allow'))
})

test('sftp: reads outside the tree, writes outside upload/ and climbing out are refused', async () => {
  const local = path.join(gw.dir, 'stolen')
  for (const command of [`get /etc/passwd ${local}`, `get ${gw.files}/../../../etc/passwd ${local}`, `put ${gw.dir}/known_hosts ${gw.files}/overwrite.txt`, `rm ${gw.files}/report.txt`, `ln -s /etc/shadow ${gw.files}/upload/link`]) {
    const run = await sftp('deployer', `${command}\n`)
    assert.notEqual(run.status, 0, `${command} failed`)
  }
  assert.equal(existsSync(local), false)
  assert.equal(existsSync(`${gw.files}/overwrite.txt`), false)
  assert.equal(existsSync(`${gw.files}/report.txt`), true)
  assert.equal(existsSync(`${gw.files}/upload/link`), false)
  const denied = (await gw.events({ kinds: ['ssh.file'] })).filter((e) => e.data.decision === 'deny').map((e) => e.data.path)
  assert.ok(denied.includes('/etc/passwd'), 'the climbing path was decided as what it names')
})

test('sftp needs a file rule at all', async () => {
  const run = await sftp('operator', 'ls /\n')
  assert.notEqual(run.status, 0)
})

test('scp in both protocols, and rsync, inside the trees', async () => {
  const local = path.join(gw.dir, 'scp-copy.txt')
  for (const legacy of [false, true]) {
    const flags = legacy ? ['-O'] : []
    const get = await gw.run('scp', [...flags, ...gw.sshOptions('deployer'), '-P', String(gw.port), `web-1@127.0.0.1:${gw.files}/report.txt`, local])
    assert.equal(get.status, 0, get.stderr)
    assert.equal(readFileSync(local, 'utf8'), readFileSync(path.join(gw.files, 'report.txt'), 'utf8'))
    const put = await gw.run('scp', [...flags, ...gw.sshOptions('deployer'), '-P', String(gw.port), local, `web-1@127.0.0.1:${gw.files}/upload/scp-${legacy ? 'legacy' : 'sftp'}.txt`])
    assert.equal(put.status, 0, put.stderr)
    assert.equal(readFileSync(`${gw.files}/upload/scp-${legacy ? 'legacy' : 'sftp'}.txt`, 'utf8'), readFileSync(local, 'utf8'))
    const outside = await gw.run('scp', [...flags, ...gw.sshOptions('deployer'), '-P', String(gw.port), local, `web-1@127.0.0.1:${gw.files}/not-upload.txt`])
    assert.notEqual(outside.status, 0)
    assert.equal(existsSync(`${gw.files}/not-upload.txt`), false)
  }
  const rsh = ['ssh', ...gw.sshOptions('deployer'), '-p', String(gw.port)].join(' ')
  const pulled = path.join(gw.dir, 'rsync-copy.txt')
  const pull = await gw.run('rsync', ['-e', rsh, `web-1@127.0.0.1:${gw.files}/report.txt`, pulled])
  assert.equal(pull.status, 0, pull.stderr)
  assert.equal(readFileSync(pulled, 'utf8'), readFileSync(path.join(gw.files, 'report.txt'), 'utf8'))
  const push = await gw.run('rsync', ['-e', rsh, pulled, `web-1@127.0.0.1:${gw.files}/upload/rsync.txt`])
  assert.equal(push.status, 0, push.stderr)
  assert.equal(existsSync(`${gw.files}/upload/rsync.txt`), true)
  const refused = await gw.run('rsync', ['-e', rsh, pulled, `web-1@127.0.0.1:/tmp/rsync-escape.txt`])
  assert.notEqual(refused.status, 0)
  assert.equal(existsSync('/tmp/rsync-escape.txt'), false)
  const transfers = (await gw.events({ kinds: ['ssh.exec'] })).filter((e) => Array.isArray(e.data.transfer))
  assert.ok(transfers.some((e) => e.data.decision === 'allow' && JSON.stringify(e.data.transfer).includes('"direction":"write"')))
})

test('port forwarding reaches only the targets a rule names', async () => {
  const client = await gw.connect('deployer', 'web-1')
  const sshdPort = Number(process.env.GATEHOUSE_TEST_SSH_PORT)
  try {
    const banner = await new Promise<string>((resolve, reject) =>
      client.forwardOut('127.0.0.1', 5000, '127.0.0.1', sshdPort, (err, channel) => {
        if (err) return reject(err)
        channel.once('data', (d: Buffer) => (resolve(d.toString()), channel.close()))
      }),
    )
    assert.match(banner, /^SSH-2\.0-OpenSSH/)
    const refused = await new Promise<Error | undefined>((resolve) => client.forwardOut('127.0.0.1', 5000, '127.0.0.1', 22, (err) => resolve(err)))
    assert.ok(refused, 'a target no rule names is refused')
    const remote = await new Promise<Error | undefined>((resolve) => client.forwardIn('127.0.0.1', 0, (err) => resolve(err)))
    assert.ok(remote, 'listening where no listen rule allows is refused')
  } finally {
    client.end()
  }
  const operator = await gw.connect('operator', 'web-1')
  try {
    const refused = await new Promise<Error | undefined>((resolve) => operator.forwardOut('127.0.0.1', 5000, '127.0.0.1', sshdPort, (err) => resolve(err)))
    assert.ok(refused)
  } finally {
    operator.end()
  }
})

test('remote forwards listen only where a rule allows, and bring the host\'s connections back to the client', async () => {
  const local = createServer((socket) => socket.end('answered on the client side\n'))
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve))
  const localPort = (local.address() as { port: number }).port
  try {
    const remotePort = await freePort()
    // The client sends its forward while the command starts: the script waits for the listener.
    const script = gw.writeScript('call-back.sh', `for i in $(seq 100); do exec 3<>/dev/tcp/127.0.0.1/${remotePort} && break; sleep 0.1; done 2>/dev/null\ncat <&3\n`)
    const forwarding = ['-o', 'ExitOnForwardFailure=yes', '-R', `${remotePort}:127.0.0.1:${localPort}`]
    const deployer = await gw.ssh('deployer', 'web-1', `bash ${script}`, { args: forwarding })
    assert.equal(deployer.status, 0, deployer.stderr)
    assert.equal(deployer.stdout.toString(), 'answered on the client side\n')

    const operator = await gw.ssh('operator', 'web-1', 'true', { args: forwarding })
    assert.equal(operator.status, 255)
    assert.match(operator.stderr, /remote port forwarding failed/)

    const listens = (await gw.events({ kinds: ['ssh.listen'] })).filter((e) => e.data.address === `localhost:${remotePort}`)
    assert.deepEqual(listens.map((e) => [e.identity, e.data.address, e.data.decision]).sort(), [['deployer', `localhost:${remotePort}`, 'allow'], ['operator', `localhost:${remotePort}`, 'deny']])
    const connections = await gw.events({ kinds: ['ssh.listen.connection'] })
    assert.ok(connections.some((e) => e.identity === 'deployer' && e.data.decision === 'allow' && e.data.address === `localhost:${remotePort}`))
  } finally {
    local.close()
  }
})

test('remote forwards asked for all at once stop at the cap of ten', async () => {
  const client = await gw.connect('deployer', 'web-1')
  try {
    const answers = await Promise.all(
      Array.from({ length: 14 }, () => new Promise<boolean>((resolve) => client.forwardIn('localhost', 0, (err) => resolve(!err)))),
    )
    assert.equal(answers.filter(Boolean).length, 10)
  } finally {
    client.end()
  }
})

/** Runs `body` with an ssh-agent holding the outsider's key as the caller's agent; gives the key's fingerprint. */
async function withAgent(body: (fingerprint: string) => Promise<void>): Promise<void> {
  const socket = path.join(gw.dir, `agent-${Date.now()}.sock`)
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' })
  const callerAgent = process.env.SSH_AUTH_SOCK
  try {
    await eventually(async () => existsSync(socket), (listening) => listening)
    await runCommand('ssh-add', ['-q', gw.keys.outsider!], { env: { ...process.env, SSH_AUTH_SOCK: socket } })
    // ssh forwards the agent SSH_AUTH_SOCK names (it drops ForwardAgent when the variable is unset).
    process.env.SSH_AUTH_SOCK = socket
    await body((await runCommand('ssh-keygen', ['-l', '-f', `${gw.keys.outsider}.pub`])).stdout.toString().split(' ')[1]!)
  } finally {
    if (callerAgent === undefined) delete process.env.SSH_AUTH_SOCK
    else process.env.SSH_AUTH_SOCK = callerAgent
    agent.kill()
  }
}

const AGENT_PROBE = 'ssh-add -l; echo "agent $?"'

test('agent forwarding lends the client agent only where a rule allows it, each use recorded', () =>
  withAgent(async (fingerprint) => {
    const operator = await gw.ssh('operator', 'web-1', AGENT_PROBE, { args: ['-o', 'ForwardAgent=yes'] })
    assert.equal(operator.status, 0, operator.stderr)
    assert.match(operator.stdout.toString(), new RegExp(`${fingerprint.replace(/[+/]/g, '\\$&')}[\\s\\S]*agent 0`))

    // The deployer may run the script, but no rule lends it an agent: the host sees none.
    const deployer = await gw.ssh('deployer', 'web-1', `bash ${gw.writeScript('agent.sh', `${AGENT_PROBE}\n`)}`, { args: ['-o', 'ForwardAgent=yes'] })
    assert.equal(deployer.status, 0, deployer.stderr)
    assert.match(deployer.stdout.toString(), /agent 2/)

    const requests = (await gw.events({ kinds: ['ssh.request'] })).filter((e) => e.data.request === 'agent forwarding')
    assert.deepEqual(requests.map((e) => [e.identity, e.data.decision, e.data.rule]).sort(), [['deployer', 'deny', null], ['operator', 'allow', 'operate/lend-agent']])
    const uses = await gw.events({ kinds: ['ssh.agent'] })
    assert.ok(uses.length >= 1 && uses.every((e) => e.identity === 'operator' && e.data.decision === 'allow'))
  }))

test('a reload that takes agent forwarding away stops the next use within a running command', () =>
  withAgent(async () => {
    const policy = (repo: string) => path.join(repo, 'policies', 'operate.yaml')
    let original: string | undefined
    const go = path.join(gw.dir, `agent-go-${Date.now()}`)
    // The host uses the agent, waits for the test to reload the bundle, then tries again.
    const command = `${AGENT_PROBE}; while [ ! -e ${go} ]; do sleep 0.1; done; ${AGENT_PROBE}`
    const child = spawn('ssh', [...gw.sshOptions('operator'), '-o', 'ForwardAgent=yes', '-p', String(gw.port), 'web-1@127.0.0.1', command], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    try {
      await eventually(async () => stdout, (out) => out.includes('agent '))
      assert.match(stdout, /agent 0/)
      const before = gw.gateway.context.state.current?.revision
      await gw.recompile((repo) => {
        original = readFileSync(policy(repo), 'utf8')
        writeFileSync(policy(repo), original.replace(/  - name: lend-agent\n    effect: allow\n    agent: true\n/, ''))
      })
      await eventually(async () => gw.gateway.context.state.current?.revision, (revision) => revision !== before)
      writeFileSync(go, '')
      assert.equal(await exited, 0)
      // The second `ssh-add` reaches no agent: it lists nothing and fails (with 2, or killed by SIGPIPE as the
      // channel is refused).
      const statuses = [...stdout.matchAll(/^agent (\d+)$/gm)].map((m) => Number(m[1]))
      assert.equal(statuses.length, 2, stdout)
      assert.equal(statuses[0], 0, stdout)
      assert.notEqual(statuses[1], 0, stdout)
      assert.equal(stdout.match(/SHA256:/g)?.length, 1, stdout)
      const refused = (await gw.events({ kinds: ['ssh.agent'] })).at(-1)
      assert.equal(refused?.data.decision, 'deny')
    } finally {
      child.kill()
      if (original !== undefined) await gw.recompile((repo) => writeFileSync(policy(repo), original!))
    }
  }))

test('X11 forwarding brings the host\'s X11 clients to the client\'s display only where a rule allows it', async () => {
  const cookie = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
  // The host's X11 client: checks the display carries the client's cookie, connects to it and says hello; the
  // client's "display" answers.
  const xClient = `xauth list "$DISPLAY" | grep -q ${cookie} && printf 'cookie '; ` + 'd=${DISPLAY#*:}; exec 3<>/dev/tcp/127.0.0.1/$((6000 + ${d%.*})); printf hello >&3; head -c 6 <&3'
  const runWithDisplay = (client: Awaited<ReturnType<SshGateway['connect']>>) =>
    new Promise<{ output: string; heard: string }>((resolve, reject) => {
      let heard = ''
      client.on('x11', (_details, accept) => {
        const display = accept()
        display.on('data', (d: Buffer) => {
          heard += d.toString()
          if (heard.length >= 5) display.end('world\n')
        })
      })
      client.exec(xClient, { x11: { cookie, single: false, screen: 0 } }, (err, channel) => {
        if (err) return reject(err)
        let output = ''
        channel.on('data', (d: Buffer) => (output += d.toString()))
        channel.stderr.on('data', () => undefined)
        channel.on('close', () => resolve({ output, heard }))
      })
    })

  const operator = await gw.connect('operator', 'web-1')
  try {
    assert.deepEqual(await runWithDisplay(operator), { output: 'cookie world\n', heard: 'hello' })
  } finally {
    operator.end()
  }
  const deployer = await gw.connect('deployer', 'web-1')
  try {
    await assert.rejects(runWithDisplay(deployer), /X11/)
  } finally {
    deployer.end()
  }
  const requests = (await gw.events({ kinds: ['ssh.request'] })).filter((e) => e.data.request === 'X11 forwarding')
  assert.deepEqual(requests.map((e) => [e.identity, e.data.decision]).sort(), [['deployer', 'deny'], ['operator', 'allow']])
  const opened = await gw.events({ kinds: ['ssh.x11'] })
  assert.ok(opened.length === 1 && opened[0]!.identity === 'operator' && opened[0]!.data.decision === 'allow')
})
