// The audit store's own CPU per event, for each way of writing a batch, side
// by side in one run against one throwaway PostgreSQL server:
//
//   jsonb      store version 1: each event's data as a jsonb[] parameter
//              (append_audit), parsed by the store
//   text       version 9: the hashed text stored as is (append_audit_text),
//              the decision's fields in every event
//   shared     version 9 as the gateway writes now: the decision's fields
//              stored once and named by each event
//
// in batches of 1 committed as sync mode does (a sync statement at equal
// load is a commit of its own), of 1 without waiting for the WAL flush (to
// tell the flush from the rest), and of 100 (async under load, ten times as
// many events). The CPU is the store backend's own, from
// /proc, with the same realistic statement events for every variant; rounds
// are interleaved and each figure is the median of the rounds.
//
//   npm run build && node dist/bench/audit-store.js [--events 4000] [--rounds 5]
import { parseArgs } from 'node:util'
import pg from 'pg'
import { canonicalJson } from '../engine/bundle-integrity.js'
import { openDatabase } from '../store/database.js'
import { ensureCommands, SERVICE_COMMANDS } from '../test/services/packages.js'
import { startPostgres } from '../test/services/postgres.js'
import { processCpu } from './process-cpu.js'
import { median } from './stats.js'

const { values } = parseArgs({ options: { events: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '5' } } })
const EVENTS = Number(values.events)
const ROUNDS = Number(values.rounds)
const VARIANTS = ['jsonb', 'text', 'shared'] as const
/** Batch sizes and whether the commit waits for the WAL flush, as the writer's sync and async batches do. */
const BATCHES = [
  { size: 1, sync: true },
  { size: 1, sync: false },
  { size: 100, sync: false },
] as const
type Batch = (typeof BATCHES)[number]
type Variant = (typeof VARIANTS)[number]

/** What the gateway records about a pgbench -S statement: its own fields, and those of its decision. */
const DECISION = {
  decision: 'allow',
  rule: 'bench/read-accounts',
  reasons: ['rule `bench/read-accounts` allows select on `public.pgbench_accounts`'],
  masks: [] as string[],
  revision: 'content:209fa74ef8a7f0f8',
}
const DECISION_TEXT = canonicalJson(DECISION)
const DECISION_ID = 'a'.repeat(64)
const own = (i: number) => ({ protocol: 'postgres', statement: `SELECT abalance FROM pgbench_accounts WHERE aid = ${i + 1};`, outcome: 'SELECT 1', rows: 1, durationMs: 0.123 })

function dataText(variant: Variant, i: number): string {
  return variant === 'shared' ? canonicalJson({ ...own(i), shared: DECISION_ID }) : canonicalJson({ ...own(i), ...DECISION })
}

/** Writes `count` events in batches of `batch` on `chain`, as the writer does; returns the store backend's CPU µs per event. */
async function run(client: pg.Client, backend: number, variant: Variant, chain: string, { size: batch, sync }: Batch, count: number): Promise<number> {
  await client.query("INSERT INTO gatehouse.audit_chains (chain, created_at, last_seq, last_hash) VALUES ($1, now(), 0, '0')", [chain])
  const before = processCpu(backend)!.own
  for (let from = 0; from < count; from += batch) {
    const seqs = Array.from({ length: batch }, (_, k) => from + k + 1)
    const columns = [
      chain, from, sync,
      seqs, seqs.map((s) => `evt_${chain}.${s}`), seqs.map(() => new Date().toISOString()), seqs.map(() => 'statement'),
      seqs.map(() => 'pg_session'), seqs.map(() => 'bench'), seqs.map(() => 'bench-db'),
      seqs.map((s) => dataText(variant, s)), seqs.map(() => 'f'.repeat(64)), seqs.map(() => 'e'.repeat(64)),
      ['bench'], [new Date().toISOString()], [new Date().toISOString()], [batch],
      [DECISION.rule], ['bench'], [new Date().toISOString()], [batch],
    ]
    if (variant === 'jsonb') await client.query('SELECT gatehouse.append_audit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb[], $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)', columns)
    // The writer sends the shared fields with a batch until the store is known to hold them: with the first one.
    else await client.query('SELECT gatehouse.append_audit_text($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)', [...columns, variant === 'shared' && from === 0 ? [DECISION_ID] : [], variant === 'shared' && from === 0 ? [DECISION_TEXT] : []])
  }
  return ((processCpu(backend)!.own - before) * 1e6) / count
}

const label = (batch: Batch) => `${batch.size}${batch.sync ? ', sync' : ''}`

async function main(): Promise<void> {
  await ensureCommands(SERVICE_COMMANDS)
  const server = await startPostgres()
  try {
    const admin = new pg.Client({ connectionString: server.url('postgres') })
    await admin.connect()
    await admin.query('CREATE DATABASE audit_bench')
    await admin.end()
    const store = await openDatabase(server.url('audit_bench'))
    await store.close()
    const client = new pg.Client({ connectionString: server.url('audit_bench') })
    await client.connect()
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    const results = new Map<string, number[]>()
    // A first pass warms the caches and plans of every variant; it is not counted.
    for (const round of [0, ...Array.from({ length: ROUNDS }, (_, r) => r + 1)]) {
      for (const batch of BATCHES) {
        for (const variant of VARIANTS) {
          // Enough events for the 10 ms ticks of /proc to be under 1% of a run.
          const count = round === 0 ? 500 : batch.size === 1 ? EVENTS : EVENTS * 10
          const micros = await run(client, backend, variant, `${variant}-${label(batch)}-${round}`, batch, count)
          if (round > 0) results.set(`${variant} ${label(batch)}`, [...(results.get(`${variant} ${label(batch)}`) ?? []), micros])
        }
      }
      if (round > 0) console.error(`round ${round}/${ROUNDS} done`)
    }
    await client.end()
    console.log(`\nAudit store backend CPU µs per event, ${EVENTS} events per run in batches of 1 and ${EVENTS * 10} in batches of 100, median of ${ROUNDS} interleaved rounds`)
    console.log('| batch | jsonb (version 1) | text | shared (now) | shared ÷ jsonb |')
    console.log('| --- | --- | --- | --- | --- |')
    for (const batch of BATCHES) {
      const cell = (variant: Variant) => median(results.get(`${variant} ${label(batch)}`)!)
      console.log(`| ${label(batch)} | ${cell('jsonb').toFixed(1)} | ${cell('text').toFixed(1)} | ${cell('shared').toFixed(1)} | ${(cell('shared') / cell('jsonb')).toFixed(2)} |`)
    }
  } finally {
    await server.stop()
  }
}

await main()
