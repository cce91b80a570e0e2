// Every shell block the documentation marks as runnable (a fence with the
// info string `sh runnable`) runs as written, with `gatehouse` on the PATH,
// in a directory holding a copy of the example repository (`policies.example`,
// committed on `main` of a fresh Git repository), and exits 0.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { EXAMPLE, ROOT } from '../helpers/repo.js'

interface Block {
  file: string
  line: number
  info: string
  code: string
}

/** Fenced code blocks (CommonMark: ``` or ~~~, three or more, indented at most three spaces). */
function fencedBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^`]*)$/.exec(lines[i]!)
    if (!open) continue
    const fence = open[1]!
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).exec(lines[j]!)
      if (close) break
      body.push(lines[j]!)
    }
    blocks.push({ file, line: i + 1, info: open[2]!.trim(), code: body.join('\n') })
    i = j
  }
  return blocks
}

const DOCS = [path.join(ROOT, 'README.md'), ...(existsSync(path.join(ROOT, 'docs')) ? readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(ROOT, 'docs', f)) : [])]
const runnable = DOCS.flatMap((file) => fencedBlocks(path.relative(ROOT, file), readFileSync(file, 'utf8'))).filter((block) => /^(sh|bash)\s+runnable$/.test(block.info))

const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-docs-'))
after(() => rmSync(work, { recursive: true, force: true }))
const bin = path.join(work, 'bin')
mkdirSync(bin)
writeFileSync(path.join(bin, 'gatehouse'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist', 'bin', 'gatehouse.js')}" "$@"\n`, { mode: 0o755 })

function exampleCheckout(name: string): string {
  const dir = path.join(work, name)
  cpSync(EXAMPLE, path.join(dir, 'policies.example'), { recursive: true })
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=docs', '-c', 'user.email=docs@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, stdio: 'ignore' })
  git('init', '-q')
  git('add', '-A')
  git('commit', '-qm', 'the example')
  return dir
}

test('the documentation marks its commands as runnable', () => {
  assert.ok(runnable.length >= 4, `only ${runnable.length} runnable blocks`)
})

for (const [index, block] of runnable.entries()) {
  test(`${block.file}:${block.line} runs as written`, { timeout: 120_000 }, () => {
    const cwd = exampleCheckout(`block-${index}`)
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', block.code], { cwd, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    assert.equal(run.status, 0, `${block.file}:${block.line}\n${block.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`)
  })
}

test('the fence reader finds blocks of either fence, and only closes on a fence as long', () => {
  const text = ['```sh runnable', 'a', '```', 'text', '~~~~ sh', '```', 'b', '~~~~', '````', '```', '````'].join('\n')
  assert.deepEqual(
    fencedBlocks('x.md', text).map((b) => [b.line, b.info, b.code]),
    [
      [1, 'sh runnable', 'a'],
      [5, 'sh', '```\nb'],
      [9, '', '```'],
    ],
  )
})
