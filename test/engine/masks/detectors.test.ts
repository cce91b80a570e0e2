// Positive and negative corpora per detector, as data: each row is a text and
// the exact substrings that must be found in it (none for a negative).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findSensitive, mayContainSensitive, detectorSet } from '../../../engine/masks/detectors.js'
import { DETECTORS, type Detector } from '../../../engine/types.js'
import { AWS, breakLuhn, GHP, GITHUB_PAT, GTH, JWT, OPENSSH_KEY, pem, randomOf, RSA_KEY, withLuhn } from './fixtures.js'

interface Row {
  text: string
  /** The substrings expected, in order; [] for a negative. */
  found: string[]
  why?: string
}

const VISA16 = '4111111111111111'
const KEYS = ['EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'PRIVATE KEY', 'DSA PRIVATE KEY', 'PGP PRIVATE KEY BLOCK'].map((label) => pem(label))
const PROC_TYPE_KEY =
  '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\n\nabc\n-----END RSA PRIVATE KEY-----'
const LONG_LOCAL = 'a'.repeat(65)

const CORPUS: Record<Detector, Row[]> = {
  'credit-card': [
    { text: VISA16, found: [VISA16] },
    { text: 'Visa 4111 1111 1111 1111 thanks', found: ['4111 1111 1111 1111'] },
    { text: 'mc 5555-5555-5555-4444.', found: ['5555-5555-5555-4444'] },
    { text: 'amex 378282246310005', found: ['378282246310005'] },
    { text: 'amex 3782 822463 10005', found: ['3782 822463 10005'], why: 'Amex 4-6-5 layout' },
    { text: 'diners 3056 930902 5904', found: ['3056 930902 5904'], why: 'Diners 4-6-4 layout' },
    { text: 'diners 30569309025904', found: ['30569309025904'] },
    { text: 'discover 6011111111111117', found: ['6011111111111117'] },
    { text: 'jcb 3530111333300000', found: ['3530111333300000'] },
    { text: 'visa13 4222222222222', found: [], why: 'retired 13-digit Visa: indistinguishable from an EAN-13 barcode' },
    { text: 'ean ' + withLuhn('400638133393'), found: [], why: 'an EAN-13 that happens to pass Luhn' },
    { text: 'mc2 2223003122003222', found: ['2223003122003222'] },
    { text: 'unionpay 6200000000000005', found: ['6200000000000005'] },
    { text: 'visa19 ' + withLuhn('411111111111111111'), found: [withLuhn('411111111111111111')] },
    { text: '{"pan":"4111111111111111"}', found: [VISA16] },
    { text: 'card 4111 1111 1111 1111 123', found: ['4111 1111 1111 1111'], why: 'a CVV after a spaced card' },
    { text: 'qty 2 4111 1111 1111 1111', found: ['4111 1111 1111 1111'], why: 'a number before a spaced card' },
    { text: 'a:4111111111111111,b', found: [VISA16] },
    { text: breakLuhn(VISA16), found: [], why: 'an order number failing Luhn' },
    { text: 'order 4000123456789011', found: [], why: 'fails Luhn' },
    { text: 'epoch ms 1700000000000 and ' + withLuhn('170000000000'), found: [], why: 'timestamps: no issuer starts with 1' },
    { text: 'at ' + withLuhn('2024011510300012'), found: [], why: '2024... is no issuer range' },
    { text: 'ts 2024-01-15 10:30:00.123', found: [] },
    { text: 'uuid 123e4567-e89b-12d3-a456-426614174000', found: [] },
    { text: 'uuid 550e8400-e29b-41d4-a716-446655440000', found: [] },
    { text: 'pi 3.4111111111111111', found: [], why: 'a fraction' },
    { text: 'amount 4111111111111111.50', found: [], why: 'followed by a fraction' },
    { text: 'id_4111111111111111 x4111111111111111 4111111111111111x', found: [], why: 'inside words' },
    { text: '4111-1111-1111-1111-1111', found: [], why: 'a dashed 20-digit identifier' },
    { text: '41111111111111111111', found: [], why: '20 digits' },
    { text: 'tel +4915112345678', found: [], why: 'a phone number' },
    { text: '4111 1111 1111', found: [], why: '12 digits' },
    { text: '4111 111 1111 1111 1', found: [], why: 'not a card layout' },
    { text: '4111  1111  1111  1111', found: [], why: 'double spaces' },
    { text: '4111-1111 1111-1111', found: [], why: 'mixed separators' },
    { text: 'v1.2.4111111111111111', found: [] },
  ],
  email: [
    { text: 'john@example.com', found: ['john@example.com'] },
    { text: 'mailto:jane.doe+tag@sub.example.co.uk', found: ['jane.doe+tag@sub.example.co.uk'] },
    { text: '<a.b@x.io>', found: ['a.b@x.io'] },
    { text: 'user_1@my-host.example.org, next', found: ['user_1@my-host.example.org'] },
    { text: 'write to first.last@example.com.', found: ['first.last@example.com'], why: 'the full stop is not the domain' },
    { text: '..john@example.com', found: ['john@example.com'], why: 'leading dots dropped' },
    { text: 'git@github.com:org/repo.git', found: ['git@github.com'], why: 'email-shaped: masked (documented)' },
    { text: 'a@b.example.com a@b.example.com', found: ['a@b.example.com', 'a@b.example.com'] },
    { text: 'user@localhost', found: [], why: 'one label' },
    { text: '@example.com', found: [] },
    { text: 'a@b', found: [] },
    { text: 'foo@bar.c0m', found: [], why: 'TLD with a digit' },
    { text: 'name@domain.c', found: [], why: 'one-letter TLD' },
    { text: 'price @ 5.00', found: [] },
    { text: 'node@18.0.1', found: [] },
    { text: LONG_LOCAL + '@example.com', found: [], why: 'local part over 64' },
    { text: 'deploy@web-01:~$ ls', found: [] },
    { text: '@@@ a@@b.com', found: [] },
    { text: 'x@-.com', found: [] },
  ],
  'aws-access-key': [
    { text: AWS, found: [AWS] },
    { text: 'aws_access_key_id=ASIAY34FZKBOKMUTVV7A', found: ['ASIAY34FZKBOKMUTVV7A'] },
    { text: '"AKIA1234567890ABCDEF"', found: ['AKIA1234567890ABCDEF'] },
    { text: 'AKIAIOSFODNN7EXAMPL', found: [], why: '19 characters' },
    { text: 'AKIAIOSFODNN7EXAMPLEX', found: [], why: '21 characters' },
    { text: 'XAKIAIOSFODNN7EXAMPLE', found: [] },
    { text: 'AKIAiosfodnn7example', found: [], why: 'lower case' },
    { text: 'AIDAIOSFODNN7EXAMPLE', found: [], why: 'a user id, not a key' },
  ],
  'github-token': [
    { text: GHP, found: [GHP] },
    { text: 'token: gho_' + GHP.slice(4), found: ['gho_' + GHP.slice(4)] },
    { text: 'ghu_' + GHP.slice(4) + ' ghs_' + GHP.slice(4) + ' ghr_' + GHP.slice(4), found: ['ghu_', 'ghs_', 'ghr_'].map((p) => p + GHP.slice(4)) },
    { text: `GITHUB_TOKEN=${GITHUB_PAT}\n`, found: [GITHUB_PAT] },
    { text: 'ghp_' + GHP.slice(5), found: [], why: '35 characters' },
    { text: 'ghx_' + GHP.slice(4), found: [] },
    { text: GHP + '_suffix', found: [] },
    { text: 'xghp_' + GHP.slice(4), found: [] },
    { text: 'github_pat_short', found: [] },
    { text: 'see github.com and ghp_', found: [] },
  ],
  'gatehouse-token': [
    { text: GTH, found: [GTH] },
    { text: `Authorization: Bearer ${GTH}\r\n`, found: [GTH] },
    { text: GTH.slice(0, -1), found: [], why: '42 characters' },
    { text: GTH + 'A', found: [], why: '44 characters' },
    { text: 'x' + GTH, found: [] },
    { text: 'gth-' + GTH.slice(4), found: [] },
  ],
  'private-key': [
    { text: `key:\n${RSA_KEY}\nnext`, found: [RSA_KEY] },
    { text: OPENSSH_KEY, found: [OPENSSH_KEY] },
    ...KEYS.map((key) => ({ text: `\n${key}\n`, found: [key] })),
    { text: PROC_TYPE_KEY, found: [PROC_TYPE_KEY], why: 'legacy encrypted PEM headers' },
    { text: `${RSA_KEY} ${RSA_KEY}`, found: [RSA_KEY, RSA_KEY] },
    { text: `{"k":"${RSA_KEY.replace(/\n/g, '\\n')}"}`, found: [RSA_KEY.replace(/\n/g, '\\n')], why: 'JSON-escaped' },
    { text: 'x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn', found: ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn'], why: 'no END: to the end' },
    { text: pem('CERTIFICATE'), found: [] },
    { text: pem('PUBLIC KEY'), found: [] },
    { text: pem('RSA PUBLIC KEY'), found: [] },
    { text: '----BEGIN RSA PRIVATE KEY----\nabc\n----END RSA PRIVATE KEY----', found: [] },
    { text: 'BEGIN RSA PRIVATE KEY', found: [] },
    { text: '-----BEGIN private key-----', found: [] },
  ],
  jwt: [
    { text: JWT, found: [JWT] },
    { text: `Authorization: Bearer ${JWT}\r\n`, found: [JWT] },
    { text: `token ${JWT}.`, found: [JWT], why: 'a full stop after it' },
    { text: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. unsigned', found: ['eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.'], why: 'alg none' },
    {
      text: 'jwe eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXYxMjM0NTY3OA.Y2lwaGVy.dGFn end',
      found: ['eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXYxMjM0NTY3OA.Y2lwaGVy.dGFn'],
      why: 'JWE with an empty key segment',
    },
    { text: 'eyJhbGciOiJIUzI1NiJ9', found: [], why: 'one segment' },
    { text: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0', found: [], why: 'two segments' },
    { text: 'x' + JWT, found: [] },
    { text: 'eyJ.a.b eyJhbG.a.b', found: [], why: 'header too short' },
    { text: 'abc.def.ghi', found: [] },
    { text: 'eyJhbGciOiJIUzI1NiJ9..sig', found: [], why: 'empty payload' },
    { text: 'eyJhbGciOiJIUzI1NiJ9.' + 'a'.repeat(9000) + '.sig', found: [], why: 'longer than JWT_MAX_LENGTH' },
  ],
  iban: [
    { text: 'DE89370400440532013000', found: ['DE89370400440532013000'] },
    { text: 'IBAN: DE89 3704 0044 0532 0130 00.', found: ['DE89 3704 0044 0532 0130 00'] },
    { text: 'GB82WEST12345698765432', found: ['GB82WEST12345698765432'] },
    { text: 'FR1420041010050500013M02606', found: ['FR1420041010050500013M02606'] },
    { text: 'NL91ABNA0417164300', found: ['NL91ABNA0417164300'] },
    { text: 'NO9386011117947', found: ['NO9386011117947'] },
    { text: '(CH9300762011623852957)', found: ['CH9300762011623852957'] },
    { text: 'DE89370400440532013001', found: [], why: 'check fails' },
    { text: 'DE8937040044053201300', found: [], why: 'too short for DE' },
    { text: 'XX89370400440532013000', found: [], why: 'no such country' },
    { text: 'DE89370400440532013000X', found: [] },
    { text: 'de89370400440532013000', found: [], why: 'lower case' },
    { text: 'DE89 3704 0044 0532 013000', found: [], why: 'broken grouping' },
    { text: 'ISO8601 AB12', found: [] },
  ],
  'us-ssn': [
    { text: '123-45-6789', found: ['123-45-6789'] },
    { text: 'SSN: 078-05-1121,', found: ['078-05-1121'] },
    { text: '(555-12-3456)', found: ['555-12-3456'] },
    { text: '000-12-3456 666-12-3456 900-12-3456 999-12-3456', found: [], why: 'areas never assigned' },
    { text: '123-00-4567 123-45-0000', found: [], why: 'zero group or serial' },
    { text: '078-05-1120', found: [], why: 'the Woolworth wallet card' },
    { text: '123-45-67890 1123-45-6789 123-45-6789-1', found: [], why: 'longer numbers' },
    { text: '12-345-6789 123456789', found: [] },
    { text: 'phone 555-123-4567, date 2024-01-15', found: [] },
    { text: 'x123-45-6789 123-45-6789x', found: [] },
    { text: '1.123-45-6789', found: [] },
  ],
}

for (const detector of DETECTORS) {
  test(`${detector}: corpus`, () => {
    for (const row of CORPUS[detector]) {
      const got = findSensitive(row.text, [detector]).map((m) => row.text.slice(m.start, m.end))
      assert.deepEqual(got, row.found, `${JSON.stringify(row.text.slice(0, 120))}${row.why ? ` (${row.why})` : ''}`)
      // The same on bytes, with byte offsets.
      const bytes = Buffer.from(row.text, 'utf8')
      const gotBytes = findSensitive(bytes, [detector]).map((m) => bytes.subarray(m.start, m.end).toString('utf8'))
      assert.deepEqual(gotBytes, row.found, `bytes of ${JSON.stringify(row.text.slice(0, 120))}`)
    }
  })
}

test('every positive passes the pre-check and no detector set misses it', () => {
  for (const detector of DETECTORS) {
    for (const row of CORPUS[detector]) {
      if (row.found.length) assert.ok(mayContainSensitive(row.text, detectorSet([detector])), row.text.slice(0, 80))
    }
  }
})

test('the pre-check rejects ordinary text', () => {
  const set = detectorSet(DETECTORS)
  for (const text of ['hello world', 'SELECT name FROM users WHERE id = 7', 'the quick brown fox; 2 + 3 = 5', 'ümlaut — dash']) {
    assert.equal(mayContainSensitive(text, set), false, text)
  }
})

test('all detectors at once: sorted, non-overlapping, each found by its own detector', () => {
  const parts = [
    ['credit-card', VISA16],
    ['email', 'ops@example.com'],
    ['aws-access-key', AWS],
    ['github-token', GHP],
    ['gatehouse-token', GTH],
    ['jwt', JWT],
    ['iban', 'GB82WEST12345698765432'],
    ['us-ssn', '123-45-6789'],
    ['private-key', RSA_KEY],
  ] as const
  const text = parts.map(([, v]) => v).join(' | ') + ' | ' + randomOf('abc ', 50)
  const matches = findSensitive(text, DETECTORS)
  assert.deepEqual(
    matches.map((m) => [m.detector, text.slice(m.start, m.end)]),
    parts.map(([d, v]) => [d, v]),
  )
  for (let k = 1; k < matches.length; k++) assert.ok(matches[k]!.start >= matches[k - 1]!.end)
})

test('a disabled detector finds nothing', () => {
  assert.deepEqual(findSensitive(`${VISA16} ${AWS}`, ['email']), [])
  assert.deepEqual(findSensitive(`${VISA16} ${AWS}`, []), [])
})

test('non-ASCII around a match: string offsets are code units, byte offsets are bytes', () => {
  const text = 'é€😀 4111111111111111 日本'
  const [m] = findSensitive(text, ['credit-card'])
  assert.equal(text.slice(m!.start, m!.end), VISA16)
  const bytes = Buffer.from(text)
  const [b] = findSensitive(bytes, ['credit-card'])
  assert.equal(bytes.subarray(b!.start, b!.end).toString(), VISA16)
  assert.notEqual(m!.start, b!.start)
})
