// The leak fuzzer: a table whose masked columns hold unique markers, and
// statements that read them through every path out of the gateway (simple
// and extended protocol, text and binary results, SQL cursors in every form,
// row-limited portals, COPY in each format, failing casts, constraint
// violations, a function's notices, reused statement and portal names) and
// through transformations (reverse, upper, substr pieces, concatenation,
// hex, base64, JSON, arrays). Every byte the client receives is searched for
// each marker and each of those transformations of it.
//
// Seeded: `npm test` runs a fixed seed; `npm test -- test/gateway/postgres/leak-fuzz.test.ts --seed=N --count=N` runs longer.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { buildBind, buildClose, buildDescribe, buildExecute, buildParse } from '../../../gateway/postgres/protocol/serialize.js'
import { fuzzOptions } from '../../helpers/fuzz-options.js'
import { editYaml, SEED, startShop, type Shop } from '../harness.js'
import { createRng, randomInt } from './protocol/helpers.js'
import { recompiled } from '../recompiled.js'
import { connectRaw, type RawClient } from './raw-client.js'

const { seed, count } = fuzzOptions({ seed: 20261206, count: 300 })
const ROWS = 4
/** The masked columns of `vault`, one per strategy; `card` also holds Luhn-valid numbers for the detector. */
const MASKED = ['secret', 'card', 'note', 'extra'] as const
/** A window this long of a marker in the output is a leak (partial masking keeps at most 4 characters at each end). */
const WINDOW = 8

const rng = createRng(seed)
const pick = <T>(items: readonly T[]): T => items[randomInt(rng, items.length)]!
const chance = (p: number) => rng() < p

function randomLetters(n: number): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ'
  return Array.from({ length: n }, () => alphabet[randomInt(rng, alphabet.length)]).join('')
}

function luhnNumber(): string {
  const digits = [4, ...Array.from({ length: 14 }, () => randomInt(rng, 10))]
  const sum = digits
    .slice()
    .reverse()
    .reduce((acc, d, i) => acc + (i % 2 === 0 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d), 0)
  return [...digits, (10 - (sum % 10)) % 10].join('')
}

const markers: string[] = []
const rows = Array.from({ length: ROWS }, (_, i) => {
  const row = { id: i + 1, secret: `Sx${randomLetters(18)}`, card: luhnNumber(), note: `Nt${randomLetters(18)}`, extra: `Ex${randomLetters(18)}` }
  markers.push(row.secret, row.card, row.note, row.extra)
  return row
})

/** Every form of every marker that must not reach the client. */
const FORBIDDEN = (() => {
  const forms = new Set<string>()
  const windows = (s: string) => {
    for (let i = 0; i + WINDOW <= s.length; i++) forms.add(s.slice(i, i + WINDOW))
  }
  for (const m of markers) {
    const reversed = [...m].reverse().join('')
    for (const variant of [m, reversed, m.toUpperCase(), m.toLowerCase(), reversed.toUpperCase()]) windows(variant)
    const hex = Buffer.from(m).toString('hex')
    windows(hex)
    windows(hex.toUpperCase())
    // base64 of the marker at each of the three alignments it can have inside a longer value.
    for (let pad = 0; pad < 3; pad++) windows(Buffer.from('\0'.repeat(pad) + m).toString('base64').slice(4, -4))
  }
  return [...forms]
})()

function leaksIn(bytes: Buffer): string[] {
  const text = bytes.toString('latin1')
  return FORBIDDEN.filter((f) => text.includes(f))
}

// --- statements -----------------------------------------------------------

const column = () => pick(MASKED)

/** An expression that carries (a transformation of) a masked value. */
function expression(): string {
  const c = column()
  const k = 1 + randomInt(rng, 10)
  return pick([
    c,
    `reverse(${c})`,
    `upper(${c})`,
    `lower(${c})`,
    `substr(${c}, ${k}, ${WINDOW + 1})`,
    `substr(${c}, 1, ${k}) || substr(${c}, ${k + 1})`,
    `'<' || ${c} || '>'`,
    `concat(${c}, 'z')`,
    `encode(${c}::bytea, 'hex')`,
    `encode(('ab' || ${c})::bytea, 'base64')`,
    `to_json(${c})`,
    `json_build_object('v', ${c})`,
    `row_to_json(v)`,
    `ARRAY[${c}, 'x']`,
    `(SELECT array_agg(${c}) FROM vault)`,
    `(SELECT string_agg(${c}, ',') FROM vault)`,
    `format('%s', ${c})`,
    `${c}::varchar(64)`,
    `translate(${c}, 'a', 'a')`,
    `left(${c}, 12) || right(${c}, 12)`,
  ])
}

function select(): string {
  const n = 1 + randomInt(rng, 3)
  const list = Array.from({ length: n }, expression)
  if (chance(0.3)) list.unshift('id')
  return `SELECT ${list.join(', ')} FROM vault v${chance(0.3) ? ` WHERE id = ${1 + randomInt(rng, ROWS)}` : ''}`
}

/** An expression that makes the server fail on, and quote, a masked value. */
function failing(): string {
  const e = pick([column(), `reverse(${column()})`, `upper(${column()})`, `'x' || ${column()}`])
  return `SELECT (${e})::${pick(['int', 'int2', 'numeric', 'inet', 'jsonb', 'date', 'uuid', 'bool', 'interval', 'money'])} FROM vault`
}

type Step = string | { messages: Buffer[]; sync?: boolean }
interface Case {
  label: string
  steps: Step[]
}

let nameCounter = 0
const freshName = (prefix: string) => `${prefix}${++nameCounter}`
const resultFormats = () => (chance(0.5) ? [] : chance(0.5) ? [1] : [0, 1, 0, 1])

function generate(): Case {
  // Name reuse has the most combinations (protocol or SQL to create, drop, create again and run): drawn more often.
  const kind = pick(['simple', 'extended', 'cursor', 'portal-fetch', 'cursor-execute', 'copy', 'error', 'constraint', 'notice', 'statement-reuse', 'statement-reuse', 'statement-reuse', 'portal-reuse', 'sql-execute'] as const)
  switch (kind) {
    case 'simple':
      return { label: kind, steps: [select()] }
    case 'extended': {
      const sql = select()
      const maxRows = chance(0.5) ? 0 : 1 + randomInt(rng, 2)
      return { label: kind, steps: [{ messages: [buildParse('', sql), buildBind({ resultFormats: resultFormats() }), ...(chance(0.5) ? [buildDescribe('P')] : []), buildExecute('', maxRows), ...(maxRows ? [buildExecute('', 0)] : [])] }] }
    }
    case 'cursor': {
      const name = freshName('k')
      const hold = chance(0.4)
      const declare = `DECLARE ${name} ${chance(0.4) ? 'BINARY ' : ''}${chance(0.3) ? 'SCROLL ' : ''}CURSOR${hold ? ' WITH HOLD' : ''} FOR ${select()}`
      const steps: Step[] = hold && chance(0.5) ? [declare] : ['BEGIN', declare]
      for (let i = 0; i < 1 + randomInt(rng, 3); i++) {
        if (chance(0.3)) steps.push(`MOVE ${pick(['NEXT', 'ABSOLUTE 0', '1', 'FIRST'])} IN ${name}`)
        steps.push(`FETCH ${pick(['NEXT', '2', 'ALL', 'FORWARD 3', 'ABSOLUTE 1'])} FROM ${name}`)
      }
      if (!steps.includes('BEGIN')) steps.push(`FETCH ALL FROM ${name}`, `CLOSE ${name}`)
      else steps.push(pick(['COMMIT', 'ROLLBACK', `CLOSE ${name}`]), 'COMMIT')
      return { label: kind, steps }
    }
    case 'portal-fetch': {
      const portal = freshName('p')
      return { label: kind, steps: ['BEGIN', { messages: [buildParse('', select()), buildBind({ portal }), buildExecute(portal, 1)] }, `FETCH ALL FROM ${portal}`, 'COMMIT'] }
    }
    case 'cursor-execute': {
      const name = freshName('c')
      return { label: kind, steps: ['BEGIN', `DECLARE ${name} CURSOR FOR ${select()}`, { messages: [buildExecute(name, 1)] }, { messages: [buildExecute(name, 0)] }, 'COMMIT'] }
    }
    case 'copy': {
      const format = pick(['text', 'csv', 'binary'] as const)
      const source = chance(0.5) ? `(${select()})` : `vault (${MASKED.filter(() => chance(0.6)).join(', ') || 'secret'})`
      return { label: kind, steps: [`COPY ${source} TO STDOUT (FORMAT ${format}${format === 'csv' && chance(0.5) ? ', HEADER' : ''})`] }
    }
    case 'error':
      return { label: kind, steps: [chance(0.5) ? failing() : { messages: [buildParse('', failing()), buildBind({}), buildExecute()] }] }
    case 'constraint': {
      const id = 1 + randomInt(rng, ROWS)
      return {
        label: kind,
        steps: [
          pick([
            `INSERT INTO vault (id, secret, card, note, extra, n) SELECT id + 100, secret, card, note, extra, n FROM vault WHERE id = ${id}`,
            `UPDATE vault SET n = -1 WHERE id = ${id}`,
            `UPDATE vault SET secret = (SELECT secret FROM vault WHERE id = ${(id % ROWS) + 1}) WHERE id = ${id}`,
            `INSERT INTO vault (id, secret, n) VALUES (${id}, 'dup', 1)`,
          ]),
        ],
      }
    }
    case 'notice':
      return { label: kind, steps: [`SELECT shout(${pick([column(), `reverse(${column()})`, `upper(${column()})`])}) FROM vault`] }
    case 'statement-reuse': {
      const name = freshName('s')
      const first: Step = chance(0.5) ? { messages: [buildParse(name, 'SELECT id FROM orders LIMIT 1')] } : `PREPARE ${name} AS SELECT id FROM orders LIMIT 1`
      const drop: Step = chance(0.5) ? `DEALLOCATE ${name}` : { messages: [buildClose('S', name)] }
      const second: Step = chance(0.5) ? { messages: [buildParse(name, select())] } : `PREPARE ${name} AS ${select()}`
      const run: Step = chance(0.5) ? { messages: [buildBind({ statement: name, resultFormats: resultFormats() }), buildExecute()] } : `EXECUTE ${name}`
      return { label: kind, steps: [first, ...(chance(0.8) ? [drop] : []), second, run] }
    }
    case 'portal-reuse': {
      const portal = freshName('r')
      return {
        label: kind,
        steps: [
          'BEGIN',
          { messages: [buildParse('', 'SELECT 1'), buildBind({ portal }), buildExecute(portal)] },
          { messages: [buildClose('P', portal), buildParse('', select()), buildBind({ portal, resultFormats: resultFormats() }), buildExecute(portal, 1)] },
          `FETCH ALL FROM ${portal}`,
          'COMMIT',
        ],
      }
    }
    case 'sql-execute': {
      const name = freshName('x')
      return { label: kind, steps: [`PREPARE ${name} AS ${select()}`, `EXECUTE ${name}`, `DEALLOCATE ${name}`] }
    }
  }
}

const describeStep = (step: Step) => (typeof step === 'string' ? step : step.messages.map((m) => String.fromCharCode(m[0]!) + JSON.stringify(m.subarray(5).toString('latin1').replace(/\0/g, '|'))).join(' '))

// --- the run --------------------------------------------------------------

let shop: Shop
before(async () => {
  const values = rows.map((r) => `(${r.id}, '${r.secret}', '${r.card}', '${r.note}', '${r.extra}', ${r.id})`).join(', ')
  shop = await startShop({
    seed: `${SEED}
      CREATE TABLE vault (id int PRIMARY KEY, secret text UNIQUE, card text, note text, extra text, n int CHECK (n >= 0));
      INSERT INTO vault VALUES ${values};
      CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'saw %', t; RETURN 'ok'; END $$;`,
  })
  await recompiled(shop, (repo) => {
    editYaml(path.join(repo, 'policies', 'read.yaml'), (doc) => {
      for (const [column, strategy] of [['secret', 'redact'], ['card', 'hash'], ['note', 'partial'], ['extra', 'null']] as const) {
        ;(doc.get('masks') as { add(v: unknown): void }).add(doc.createNode({ column: `public.vault.${column}`, strategy }))
      }
    })
    editYaml(path.join(repo, 'policies', 'write.yaml'), (doc) => doc.setIn(['rules', 0, 'tables'], doc.createNode(['public.orders', 'public.vault'])))
  })
})
after(() => shop?.stop())

test(`no marker leaves the gateway in any form (seed ${seed}, ${count} statements)`, async () => {
  let client: RawClient | undefined
  let checked = 0
  let refused = 0
  try {
    for (let i = 0; i < count; i++) {
      const generated = generate()
      if (!client || client.closed) {
        await client?.end()
        client = await connectRaw(shop, 'writer')
        checked = 0
      }
      for (const step of generated.steps) {
        if (client.closed) break
        const messages = typeof step === 'string' ? await client.query(step) : await client.exchange(step.messages, step.sync ?? true)
        if (messages.some((m) => m.type === 'E')) refused++
      }
      const fresh = Buffer.concat(client.received.slice(checked))
      checked = client.received.length
      const found = leaksIn(fresh)
      assert.deepEqual(found, [], `seed ${seed}, statement ${i} (${generated.label}) leaked ${found.join(', ')}:\n${generated.steps.map(describeStep).join('\n')}\nreceived: ${fresh.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}`)
      // Leave no transaction open for the next case.
      if (!client.closed) await client.query('ROLLBACK')
    }
  } finally {
    await client?.end()
  }
  assert.ok(refused < count * 2, 'not every statement was refused')
})
