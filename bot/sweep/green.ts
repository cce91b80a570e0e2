// The files a proposal changes, made so the result validates and its tests
// pass, or the reason it cannot be: a proposal that fails the bot's own
// check would be merged by nobody or, worse, fixed by hand in a hurry.
//  - removing an identity removes its document, its subject entries, the
//    roles only it held from policy subjects (a policy left without subjects
//    goes whole), and the test cases that name it;
//  - narrowing removes its name from the policies' subjects, then the test
//    cases naming it that now fail (they expected the removed grant);
//  - a change of owner rewrites the `owner` line;
//  - retiring removes the identity's credentials past their `notAfter`
//    (compiler/credential-edit.ts, the edit `gatehouse identity rotate` uses).
// The result is compiled and tested with the compiler's own functions, the
// same as `gatehouse validate` and `gatehouse test`.
import { compileRepository } from '../../compiler/compile.js'
import { removeExpiredCredentials } from '../../compiler/credential-edit.js'
import type { LoadedRepository } from '../../compiler/load.js'
import { runTests } from '../../compiler/test-runner.js'
import { loadSqlParser } from '../../engine/sql/index.js'
import type { Bundle } from '../../engine/types.js'
import { EditError, removeIdentityDocument, removeRoleSubject, removeSubject, removeTestCases, setOwner } from './edit.js'
import type { IdentityFindings } from './findings.js'

export type Built = { ok: true; files: Map<string, string | null> } | { ok: false; reason: string }

const fileOf = (source: string) => source.slice(0, source.lastIndexOf(':') > 0 ? source.lastIndexOf(':') : source.length)

class Draft {
  readonly texts: Map<string, string | null>
  constructor(private readonly base: LoadedRepository) {
    this.texts = new Map(base.files.map((f) => [f.path, f.text]))
  }

  /** Applies `change` to every file (or the one named); files it leaves alone are not touched. */
  edit(change: (text: string) => string | null, only?: string): void {
    for (const [path, text] of this.texts) if (text !== null && (!only || path === only)) this.texts.set(path, change(text))
  }

  repository(): LoadedRepository {
    const files = [...this.texts].filter((e): e is [string, string] => e[1] !== null).map(([path, text]) => ({ path, text }))
    return { files, diagnostics: this.base.diagnostics, ...(this.base.revision ? { revision: this.base.revision } : {}) }
  }

  changes(): Map<string, string | null> {
    const original = new Map(this.base.files.map((f) => [f.path, f.text]))
    return new Map([...this.texts].filter(([path, text]) => original.get(path) !== text))
  }
}

async function verify(draft: Draft, now: Date): Promise<{ ok: true; failing: Array<{ suite: string; name: string; identity: string }> } | { ok: false; reason: string }> {
  const compiled = await compileRepository(draft.repository(), { lint: false, now })
  if (!compiled.bundle || !compiled.model) {
    const errors = compiled.diagnostics.filter((d) => d.severity === 'error').slice(0, 3)
    return { ok: false, reason: `the result would not validate: ${errors.map((d) => `${d.file}:${d.line}: ${d.code}: ${d.message}`).join('; ')}` }
  }
  await loadSqlParser()
  const report = runTests(compiled.bundle, compiled.model.tests, now)
  const cases = new Map(compiled.model.tests.flatMap((s) => s.cases.map((c) => [`${s.name}\0${c.name}`, c.identity] as const)))
  return { ok: true, failing: report.results.filter((r) => !r.passed).map((r) => ({ suite: r.suite, name: r.name, identity: cases.get(`${r.suite}\0${r.name}`) ?? '' })) }
}

export async function buildProposal(base: LoadedRepository, bundle: Bundle, found: IdentityFindings, newOwner: string, now: Date): Promise<Built> {
  const identity = bundle.identities[found.identity]
  if (!identity || !found.action) return { ok: false, reason: 'nothing to change' }
  const draft = new Draft(base)
  const name = identity.name
  try {
    if (found.action === 'remove') {
      draft.edit((t) => removeIdentityDocument(t, name), fileOf(identity.source))
      draft.edit((t) => removeSubject(t, name))
      const others = Object.values(bundle.identities).filter((i) => i.name !== name)
      for (const role of identity.roles) if (!others.some((i) => i.roles.includes(role))) draft.edit((t) => removeRoleSubject(t, role))
      draft.edit((t) => removeTestCases(t, (c) => c.identity === name))
    } else if (found.action === 'narrow') {
      draft.edit((t) => removeSubject(t, name, found.policies))
    } else if (found.action === 'retire') {
      draft.edit((t) => removeExpiredCredentials(t, name, now), fileOf(identity.source))
    } else {
      draft.edit((t) => setOwner(t, name, newOwner), fileOf(identity.source))
    }
    let result = await verify(draft, now)
    if (result.ok && found.action === 'narrow' && result.failing.some((f) => f.identity === name)) {
      const expectedGrant = new Set(result.failing.filter((f) => f.identity === name).map((f) => `${f.suite}\0${f.name}`))
      draft.edit((t) => removeTestCases(t, (c, suite) => expectedGrant.has(`${suite}\0${String(c.name)}`)))
      result = await verify(draft, now)
    }
    if (!result.ok) return result
    if (draft.changes().size === 0) return { ok: false, reason: `the edit of \`${fileOf(identity.source)}\` changed nothing` }
    if (result.failing.length > 0) {
      return { ok: false, reason: `the result would fail ${result.failing.length} test case${result.failing.length === 1 ? '' : 's'}: ${result.failing.slice(0, 3).map((f) => `\`${f.suite}\` / \`${f.name}\``).join(', ')}` }
    }
  } catch (err) {
    if (err instanceof EditError) return { ok: false, reason: err.message }
    throw err
  }
  return { ok: true, files: draft.changes() }
}
