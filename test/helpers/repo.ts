// Temporary policy repositories for tests: copies of fixtures, edited in place.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '..', '..')
export const EXAMPLE = path.join(ROOT, 'policies.example')

export interface TempRepo {
  dir: string
  write(file: string, text: string): void
  remove(file: string): void
  git(...args: string[]): string
  cleanup(): void
}

export function tempRepo(from?: string): TempRepo {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-repo-'))
  if (from) cpSync(from, dir, { recursive: true })
  return {
    dir,
    write(file, text) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
      writeFileSync(path.join(dir, file), text)
    },
    remove(file) {
      rmSync(path.join(dir, file), { force: true, recursive: true })
    },
    git(...args) {
      return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, encoding: 'utf8' })
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `git init` and a first commit of everything, then `edit` committed on top: HEAD~1 is before, HEAD after. */
export function commitEdit(repo: TempRepo, edit: (repo: TempRepo) => void): void {
  repo.git('init', '-q', '-b', 'main')
  repo.git('add', '-A')
  repo.git('commit', '-qm', 'base')
  edit(repo)
  repo.git('add', '-A')
  repo.git('commit', '-qm', 'head')
}
