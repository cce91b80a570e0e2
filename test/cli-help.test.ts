// Help and typos: `gatehouse help CMD` is the command's help; a mistyped
// command, option or gateway configuration key gets "did you mean"; keygen
// never leaves a private key where `git add -A` would commit it.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { gatehouse } from './helpers/cli.js'
import { tempRepo } from './helpers/repo.js'

test('`gatehouse help CMD` prints the command\'s help', () => {
  for (const command of ['validate', 'diff', 'keygen', 'audit']) {
    const help = gatehouse(['help', command])
    assert.equal(help.status, 0)
    assert.equal(help.stdout, gatehouse([command, '--help']).stdout)
    assert.match(help.stdout, new RegExp(`^usage: gatehouse ${command}`))
  }
})

test('a mistyped command or option gets the nearest one', () => {
  const command = gatehouse(['valdate'])
  assert.equal(command.status, 2)
  assert.match(command.stderr, /^gatehouse: unknown command `valdate` \(did you mean `validate`\?\)/)
  const option = gatehouse(['validate', '--formt', 'json'])
  assert.equal(option.status, 2)
  assert.match(option.stderr, /^gatehouse validate: unknown option `--formt` \(did you mean `--format`\?\)/)
  assert.match(gatehouse(['diff', 'a', 'b', '--fail-onn', 'high']).stderr, /did you mean `--fail-on`\?/)
})

test('a mistyped gateway configuration key gets the nearest one', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-config-'))
  try {
    writeFileSync(path.join(dir, 'gateway.yaml'), 'bundle: bundle.json\npostgresListn: 127.0.0.1:6432\n')
    const result = gatehouse(['gateway', '--config', path.join(dir, 'gateway.yaml')])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /unknown key `postgresListn` \(did you mean `postgresListen`\?\)/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('keygen refuses to write a private key Git would commit, and says how to ignore it', () => {
  const repo = tempRepo()
  try {
    repo.git('init', '-q')
    const key = path.join(repo.dir, 'signing-key')
    const refused = gatehouse(['keygen', '-o', key])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /refusing to write a private key .* not ignored, so `git add -A` would commit it/)
    assert.equal(existsSync(key), false, 'nothing is written')
    const ignore = /echo '([^']+)' >> (\S+)/.exec(refused.stderr)!
    writeFileSync(ignore[2]!, `${ignore[1]}\n`)
    const written = gatehouse(['keygen', '-o', key])
    assert.equal(written.status, 0, written.stderr)
    assert.equal(repo.git('status', '--porcelain', '--untracked-files=all').includes('signing-key\n'), false, 'the key is not offered for commit')
  } finally {
    repo.cleanup()
  }
})
