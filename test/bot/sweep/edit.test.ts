// Line-level edits of policy YAML: for every layout the repository may use,
// the diff touches only the identity's own lines (or, in a flow list, only
// its own item on its line), and a seeded fuzzer over generated files checks
// the same of every removal.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from 'yaml'
import { seeded } from '../../helpers/seeded.js'
import { EditError, removeIdentityDocument, removeRoleSubject, removeSubject, removeTestCases, setOwner } from '../../../bot/sweep/edit.js'

/** Lines removed from `before` and lines added in `after`, by a longest-common-subsequence line diff. */
function lineDiff(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split(/(?<=\n)/)
  const b = after.split(/(?<=\n)/)
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
  const removed: string[] = []
  const added: string[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) (i++, j++)
    else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) added.push(b[j++]!)
    else removed.push(a[i++]!)
  }
  return { removed, added }
}

const POLICY_STYLES: Record<string, { text: string; expect: RegExp[] }> = {
  'block list, indented': {
    text: 'kind: Policy\nname: p\nsubjects:\n  identities:\n    - keep-bot\n    - idle-bot        # the old importer\n    - other-bot       # aligned comment\nrules: []\n',
    expect: [/^    - idle-bot        # the old importer\n$/],
  },
  'block list, not indented': {
    text: 'kind: Policy\nname: p\nsubjects:\n  identities:\n  - keep-bot\n  - idle-bot\n  roles: [r]\nrules: []\n',
    expect: [/^  - idle-bot\n$/],
  },
  'flow list, middle item': {
    text: 'kind: Policy\nname: p\nsubjects:\n  identities: [keep-bot, idle-bot, other-bot]   # who\nrules: []\n',
    expect: [/^  identities: \[keep-bot, idle-bot, other-bot\]   # who\n$/],
  },
  'flow list, last item': {
    text: 'kind: Policy\nname: p\nsubjects: {identities: [keep-bot, idle-bot]}\nrules: []\n',
    expect: [/idle-bot/],
  },
  'CRLF line endings': {
    text: 'kind: Policy\r\nname: p\r\nsubjects:\r\n  identities:\r\n    - keep-bot\r\n    - idle-bot\r\nrules: []\r\n',
    expect: [/^    - idle-bot\r\n$/],
  },
  'folded and literal scalars around': {
    text: 'kind: Policy\nname: p\ndescription: >\n  Folded text that\n  spans lines.\nsubjects:\n  identities:\n    - idle-bot\n    - keep-bot\nnotes: |\n  literal\n    kept\nrules: []\n',
    expect: [/^    - idle-bot\n$/],
  },
  'several documents, the identity in the second': {
    text: '# header\nkind: Policy\nname: a\nsubjects: {roles: [r]}\nrules: []\n---\nkind: Policy\nname: b\nsubjects:\n  identities: [idle-bot, keep-bot]\nrules: []\n',
    expect: [/idle-bot/],
  },
}

for (const [style, { text, expect }] of Object.entries(POLICY_STYLES)) {
  test(`removing a subject touches only its own lines: ${style}`, () => {
    const after = removeSubject(text, 'idle-bot')!
    const { removed, added } = lineDiff(text, after)
    assert.equal(removed.length, 1, `one line removed or changed:\n${removed.join('')}`)
    for (const re of expect) assert.match(removed[0]!, re)
    assert.ok(added.every((line) => line === removed[0]!.replace(/idle-bot, |, idle-bot/, '')), `the changed line only loses the item: ${JSON.stringify(added)}`)
    assert.doesNotMatch(after, /idle-bot/)
    if (text.includes('\r\n')) assert.doesNotMatch(after.replace(/\r\n/g, ''), /\n/, 'CRLF kept')
  })
}

test('the only subject of a policy takes the policy with it; the last holder of a role takes the role out of subjects', () => {
  const text = '# Policies.\nkind: Policy\nname: only\nsubjects:\n  identities: [idle-bot]\nrules: []\n---\nkind: Policy\nname: shared\nsubjects:\n  roles: [importer, reader]\nrules: []\n---\nkind: Policy\nname: role-only\nsubjects: {roles: [importer]}\nrules: []\n'
  const after = removeRoleSubject(removeSubject(text, 'idle-bot')!, 'importer')!
  assert.equal(after, '# Policies.\nkind: Policy\nname: shared\nsubjects:\n  roles: [reader]\nrules: []\n')
  assert.equal(parse(after).subjects.roles[0], 'reader')
})

test('removing an identity document keeps the header comment, the other documents and their comments', () => {
  const text = '# Scheduled jobs; several identities share this file.\napiVersion: v1\nkind: Identity\nname: idle-bot\nowner: "@x"   # aligned\n---\n# Left over.\napiVersion: v1\nkind: Identity\nname: keep-bot\nowner: "@y"   # aligned\n'
  assert.equal(removeIdentityDocument(text, 'idle-bot'), '# Scheduled jobs; several identities share this file.\n# Left over.\napiVersion: v1\nkind: Identity\nname: keep-bot\nowner: "@y"   # aligned\n')
  assert.equal(removeIdentityDocument(text, 'keep-bot'), '# Scheduled jobs; several identities share this file.\napiVersion: v1\nkind: Identity\nname: idle-bot\nowner: "@x"   # aligned\n')
  assert.equal(removeIdentityDocument('kind: Identity\nname: idle-bot\n', 'idle-bot'), null, 'a file left empty is deleted')
})

test('test cases go with their lines; comments between cases stay', () => {
  const text = 'kind: Test\nname: t\ncases:\n  - name: one\n    identity: idle-bot\n    sql: >\n      SELECT 1\n  # about two\n  - name: two\n    identity: keep-bot\n'
  const after = removeTestCases(text, (c) => c.identity === 'idle-bot')!
  assert.equal(after, 'kind: Test\nname: t\ncases:\n  # about two\n  - name: two\n    identity: keep-bot\n')
  assert.equal(removeTestCases(after, (c) => c.identity === 'keep-bot'), null)
})

test('changing the owner keeps the quoting and the comment', () => {
  const text = 'kind: Identity\nname: leaver-bot\nowner: "@paula"   # she built it\n'
  assert.equal(setOwner(text, 'leaver-bot', '@acme/security'), 'kind: Identity\nname: leaver-bot\nowner: "@acme/security"   # she built it\n')
})

test('an edit that would mean more than the identity is refused', () => {
  // An anchored list used again by an alias: removing the item from the list would change the alias too.
  const text = 'kind: Policy\nname: a\nsubjects:\n  identities: &who [idle-bot, keep-bot]\nnotes: *who\nrules: []\n'
  assert.throws(() => removeSubject(text, 'idle-bot', ['a']), EditError)
})

test('seeded: random files in random layouts lose exactly the identity, and only its lines change', () => {
  const { seed, count, random, pick } = seeded(7)
  for (let round = 0; round < count; round++) {
    const eol = pick(['\n', '\r\n'])
    const names = ['keep-a', 'keep-b', 'idle-bot', 'keep-c'].slice(0, 1 + random(4))
    if (!names.includes('idle-bot')) names.push('idle-bot')
    names.sort(() => random(3) - 1)
    const comment = () => pick(['', '   # why', ' # aligned'])
    const list = (indent: string) => {
      const deeper = pick(['  ', ''])
      return random(2) === 0 ? ` [${names.join(', ')}]${comment()}${eol}` : `${eol}${names.map((n) => `${indent}${deeper}- ${n}${comment()}${eol}`).join('')}`
    }
    const policy = (name: string) => `kind: Policy${eol}name: ${name}${eol}description: >${eol}  folded${eol}  text${eol}subjects:${eol}  roles: [r]${eol}  identities:${list('  ')}rules: []${eol}`
    const docs = Array.from({ length: 1 + random(3) }, (_, i) => policy(`p${i}`))
    const text = `# header${eol}${docs.join(`---${eol}`)}`
    const after = removeSubject(text, 'idle-bot')!
    const context = `seed ${seed} round ${round}:\n${text}`
    assert.doesNotMatch(after, /idle-bot/, context)
    const { removed, added } = lineDiff(text, after)
    assert.ok(removed.every((l) => l.includes('idle-bot')), context)
    assert.ok(added.every((l) => removed.some((r) => r.replace(/idle-bot, |, idle-bot/, '') === l)), context)
    assert.equal(after.split(eol).length - 1, (after.match(/\n/g) ?? []).length, `line endings kept: ${context}`)
  }
})

test('seeded: removing one identity document from a file of several leaves every other byte, header comment included', () => {
  const { seed, count, random, pick } = seeded(11)
  for (let round = 0; round < count; round++) {
    const eol = pick(['\n', '\r\n'])
    const header = pick(['', `# Shared file.${eol}`, `# Shared file.${eol}#${eol}# Two lines.${eol}`])
    const doc = (name: string) =>
      [
        pick(['', `# About ${name}.${eol}`]),
        `apiVersion: gatehouse.dev/v1${eol}kind: Identity${eol}name: ${name}${eol}`,
        `owner: "@acme/data"${pick(['', '      # aligned', ' # tight'])}${eol}`,
        pick(['', `description: >${eol}  folded${eol}  text${eol}`, `description: |${eol}  literal${eol}    text${eol}`]),
        `roles: ${pick(['[reader]', `${eol}  - reader${eol}  - writer`])}${eol}`.replace(`${eol}${eol}`, eol),
      ].join('')
    const names = Array.from({ length: 2 + random(3) }, (_, i) => `bot-${i}`)
    const docs = names.map(doc)
    const explicitStart = random(2) === 0
    const text = header + (explicitStart ? `---${eol}` : '') + docs.join(`---${eol}`)
    const k = random(names.length)
    const rest = docs.filter((_, i) => i !== k)
    const expected = header + (explicitStart && k !== 0 ? `---${eol}` : '') + rest.join(`---${eol}`)
    assert.equal(removeIdentityDocument(text, names[k]!), expected, `seed ${seed} round ${round}:\n${text}`)
  }
})
