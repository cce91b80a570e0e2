// Malformed and abusive traffic ends that connection only: garbage instead of
// a banner, an enormous packet length, more channels than allowed, a client
// that stops reading. The gateway keeps serving everyone else, and its log
// carries no stack trace.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import type { SFTPWrapper } from 'ssh2'
import { after, before, test } from 'node:test'
import { MAX_CHANNELS } from '../../../gateway/ssh/front.js'
import { startSshGateway, type SshGateway } from './harness.js'

let gw: SshGateway
const logged: string[] = []
const write = process.stderr.write.bind(process.stderr)
before(async () => {
  gw = await startSshGateway()
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (logged.push(String(chunk)), write(chunk, ...rest))) as typeof process.stderr.write
})
after(async () => {
  process.stderr.write = write
  await gw?.stop()
  assert.deepEqual(logged.filter((line) => /\n\s+at /.test(line)), [], 'no stack traces were logged')
})

/** Sends bytes and resolves with what came back once the gateway closed the connection. */
function exchange(send: (socket: net.Socket, received: () => string) => void, timeoutMs = 10_000): Promise<{ received: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(gw.port, '127.0.0.1')
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    socket.on('error', () => undefined)
    const timer = setTimeout(() => (socket.destroy(), resolve({ received, closed: false })), timeoutMs)
    socket.on('close', () => (clearTimeout(timer), resolve({ received, closed: true })))
    socket.on('connect', () => send(socket, () => received))
  })
}

async function stillServing(): Promise<void> {
  const run = await gw.ssh('deployer', 'web-1', 'echo still here')
  assert.equal(run.stdout.toString(), 'still here\n', run.stderr)
}

test('garbage instead of a banner closes that connection', async () => {
  const result = await exchange((socket) => socket.write(`GET / HTTP/1.1\r\nHost: x\r\n\r\n${'\0\xff'.repeat(5000)}\r\n`))
  assert.ok(result.closed)
  assert.match(result.received, /^SSH-2\.0-gatehouse/)
  await stillServing()
})

test('an enormous packet length closes that connection', async () => {
  const result = await exchange((socket) => {
    socket.write('SSH-2.0-OpenSSH_9.2\r\n')
    const packet = Buffer.alloc(64)
    packet.writeUInt32BE(0x7fffffff, 0)
    socket.write(packet)
  })
  assert.ok(result.closed)
  await stillServing()
})

test('a client that never authenticates does not hold anything up', async () => {
  const idle = net.connect(gw.port, '127.0.0.1')
  idle.on('error', () => undefined)
  await stillServing()
  idle.destroy()
})

test(`channels beyond ${MAX_CHANNELS} per connection are refused; the connection stays usable`, async () => {
  const client = await gw.connect('deployer', 'web-1')
  try {
    const results = await Promise.all(
      Array.from({ length: MAX_CHANNELS + 5 }, () => gw.exec(client, 'sleep 1').then((r) => r.code, (err: Error) => err.message)),
    )
    assert.equal(results.filter((r) => r === 0).length, MAX_CHANNELS)
    assert.equal(results.filter((r) => typeof r === 'string').length, 5)
    assert.equal((await gw.exec(client, 'echo after')).stdout.toString(), 'after\n')
  } finally {
    client.end()
  }
})

test('a client that stops reading holds back its upstream, not the gateway, and gets everything once it reads again', async () => {
  const client = await gw.connect('deployer', 'web-1')
  try {
    const total = await new Promise<number>((resolve, reject) => {
      client.exec('seq 2000000', (err, channel) => {
        if (err) return reject(err)
        let bytes = 0
        channel.pause()
        setTimeout(() => channel.resume(), 1500)
        channel.on('data', (d: Buffer) => (bytes += d.length))
        channel.on('close', () => resolve(bytes))
      })
    })
    assert.equal(total, Array.from({ length: 2000000 }, (_, i) => String(i + 1).length + 1).reduce((a, b) => a + b, 0))
  } finally {
    client.end()
  }
  await stillServing()
})

test('an sftp client that floods reads gets failures beyond the limit, not the memory of the gateway; the channel stays usable', async () => {
  writeFileSync(`${gw.files}/flood.txt`, 'x'.repeat(4096))
  const client = await gw.connect('deployer', 'web-1')
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))))
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(`${gw.files}/flood.txt`, 'r', (err, h) => (err ? reject(err) : resolve(h))))
    const read = () => new Promise<string>((resolve) => sftp.read(handle, Buffer.alloc(1024), 0, 1024, 0, (err) => resolve(err ? err.message : 'ok')))
    const results = await Promise.all(Array.from({ length: 400 }, read))
    assert.ok(results.includes('gatehouse: too many requests in flight'), 'reads beyond the limit are refused')
    assert.ok(results.includes('ok'))
    assert.equal(await read(), 'ok', 'the channel serves reads again once the flood is answered')
  } finally {
    client.end()
  }
  await stillServing()
})
