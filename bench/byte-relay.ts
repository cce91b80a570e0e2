// The floor a proxy written in Node.js stands on: two piped sockets, no
// inspection, no audit. The PostgreSQL bench runs it next to PgBouncer and the
// gateway, so what the gateway's own work costs can be read off directly.
//   node dist/bench/byte-relay.js LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
import net from 'node:net'

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number)
if (!listenPort || !upstreamPort) {
  console.error('usage: byte-relay LISTEN_PORT UPSTREAM_PORT')
  process.exit(2)
}
net
  .createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1')
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  .listen(listenPort, '127.0.0.1')
