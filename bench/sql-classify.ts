// Median time to classify a realistic ~200-byte statement, uncached (parse +
// walk) and from the classifier's cache. Goals: < 50 µs uncached, < 2 µs cached.
//   node --import tsx bench/sql-classify.ts
import { parseSync } from 'libpg-query'
import { classifySql, createSqlClassifier, createSqlSession, loadSqlParser } from '../engine/sql/index.js'

const SQL =
  'SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id ' +
  "WHERE o.created_at > now() - interval '7 days' AND c.country = $1 ORDER BY o.total DESC LIMIT 50"
const ROUNDS = 7
const ITERATIONS = 5000

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Mean µs per call over one round. */
function round(fn: (i: number) => unknown): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < ITERATIONS; i++) fn(i)
  return Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS
}

await loadSqlParser()
const check = classifySql(SQL, { defaultSchema: 'public' })
if (!check.ok || check.statements[0]?.operations.length !== 2) throw new Error(`unexpected classification: ${JSON.stringify(check)}`)

const session = createSqlSession()
const classifier = createSqlClassifier({ cacheSize: 1000 })
// Distinct texts so that nothing but the parser's own work is measured uncached.
const variants = Array.from({ length: ITERATIONS }, (_, i) => SQL.replace('LIMIT 50', `LIMIT ${50 + i}`))

const parseOnly: number[] = []
const uncached: number[] = []
const cached: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  parseOnly.push(round((i) => parseSync(variants[i]!)))
  uncached.push(round((i) => classifySql(variants[i]!, { defaultSchema: 'public', session })))
  cached.push(round(() => classifier.classify(SQL, { defaultSchema: 'public', session })))
}
console.log(`statement: ${SQL.length} bytes, ${ROUNDS} rounds of ${ITERATIONS}`)
console.log(`parser alone (libpg-query parseSync): median ${median(parseOnly).toFixed(2)} µs`)
console.log(`uncached: median ${median(uncached).toFixed(2)} µs (rounds: ${uncached.map((v) => v.toFixed(1)).join(', ')})`)
console.log(`cached:   median ${median(cached).toFixed(3)} µs (rounds: ${cached.map((v) => v.toFixed(2)).join(', ')})`)
