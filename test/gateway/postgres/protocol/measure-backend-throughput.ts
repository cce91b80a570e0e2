// Throughput of the backend reader on a large result, as the gateway sees it:
// 64 KiB socket chunks of RowDescription, many DataRows, CommandComplete,
// ReadyForQuery. Not a test (no timed assertions); run by hand:
//   node --import tsx test/gateway/postgres/protocol/measure-backend-throughput.ts
import { Parser } from 'pg-protocol/dist/parser.js'
import { createBackendReader, decodeDataRow } from '../../../../gateway/postgres/protocol/backend.js'
import { rewriteDataRow } from '../../../../gateway/postgres/protocol/data-row.js'
import { buildCommandComplete, buildDataRow, buildReadyForQuery, buildRowDescription } from '../../../../gateway/postgres/protocol/serialize.js'

const ROWS = 300_000
const field = (name: string, typeOid: number) => ({ name, tableOid: 16384, columnNumber: 1, typeOid, typeSize: -1, typeModifier: -1, format: 0 })
const parts = [buildRowDescription([field('id', 23), field('email', 25), field('note', 25), field('balance', 1700), field('created', 1184)])]
for (let i = 0; i < ROWS; i++) {
  parts.push(buildDataRow([
    Buffer.from(String(i)), Buffer.from(`customer${i}@example.com`), i % 7 === 0 ? null : Buffer.from('a note of moderate length'),
    Buffer.from(`${i}.50`), Buffer.from('2024-05-01 12:34:56.789+00'),
  ]))
}
parts.push(buildCommandComplete(`SELECT ${ROWS}`), buildReadyForQuery('I'))
const stream = Buffer.concat(parts)
const CHUNK = 64 * 1024
const chunks: Buffer[] = []
for (let i = 0; i < stream.length; i += CHUNK) chunks.push(stream.subarray(i, i + CHUNK))

function measure(name: string, run: () => number): void {
  const times: number[] = []
  let messages = 0
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint()
    messages = run()
    times.push(Number(process.hrtime.bigint() - start) / 1e9)
  }
  times.sort((a, b) => a - b)
  const median = times[3]!
  console.log(`${name.padEnd(52)} ${(stream.length / 1e6 / median).toFixed(0).padStart(5)} MB/s  ${(messages / median / 1e6).toFixed(2)} M msg/s`)
}

console.log(`${(stream.length / 1e6).toFixed(1)} MB, ${ROWS} rows of 5 columns, ${chunks.length} chunks of 64 KiB, Node ${process.version}`)
measure('framing only (createBackendReader().push)', () => {
  const reader = createBackendReader({ maxMessageBytes: 1 << 20 })
  let n = 0
  for (const c of chunks) n += reader.push(c).length
  return n
})
measure('framing + decodeDataRow on every row', () => {
  const reader = createBackendReader({ maxMessageBytes: 1 << 20 })
  let n = 0
  for (const c of chunks) {
    for (const m of reader.push(c)) {
      n++
      if (m.type === 'D') decodeDataRow(m.raw)
    }
  }
  return n
})
const MASK = Buffer.from('***')
measure('framing + rewriteDataRow masking one column', () => {
  const reader = createBackendReader({ maxMessageBytes: 1 << 20 })
  let n = 0
  for (const c of chunks) {
    for (const m of reader.push(c)) {
      n++
      if (m.type === 'D') rewriteDataRow(m.raw, (i) => (i === 1 ? MASK : undefined))
    }
  }
  return n
})
measure('pg-protocol Parser (decodes every row to strings)', () => {
  const parser = new Parser()
  let n = 0
  for (const c of chunks) parser.parse(c, () => n++)
  return n
})
