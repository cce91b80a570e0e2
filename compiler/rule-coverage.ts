// Whether one rule matches everything another matches: the analysis behind
// shadowed-rule lint and the risk of a changed rule in a permission diff.
import { globCovers } from '../engine/glob.js'
import type { BundleRule } from '../engine/types.js'

const coveredBy = (outer: readonly string[] | undefined, inner: readonly string[] | undefined): boolean =>
  !outer || (!!inner && inner.every((i) => outer.some((o) => globCovers(o, i))))

const flagCovered = (outer: boolean | undefined, inner: boolean | undefined) => !inner || !!outer

/**
 * Whether rule `a` matches every request rule `b` matches (ignoring who and
 * where). A condition on `a` makes it cover nothing for sure, unless asked to
 * compare targets alone.
 */
export function targetCovers(a: BundleRule, b: BundleRule, options: { ignoreConditions?: boolean } = {}): boolean {
  if (a.kind !== b.kind || (a.when && !options.ignoreConditions)) return false
  if (a.mode === 'observe' && b.mode === 'enforce') return false
  if (a.kind === 'postgres') {
    const functional = (b.actions ?? []).some((x) => x === 'function' || x === 'call')
    const tabular = (b.actions ?? []).some((x) => x !== 'function' && x !== 'call')
    return (
      (b.actions ?? []).every((x) => a.actions?.includes(x)) &&
      (!tabular || coveredBy(a.tables, b.tables)) &&
      (!functional || coveredBy(a.functions, b.functions))
    )
  }
  const execCovered = !b.exec || (!!a.exec && b.exec.every((p) => a.exec!.includes(p)))
  const sftpCovered = !b.sftp || (!!a.sftp && coveredBy(a.sftp.read, b.sftp.read) && coveredBy(a.sftp.write, b.sftp.write))
  const forwardCovered = !b.forward || (!!a.forward && b.forward.every((p) => a.forward!.includes(p)))
  const listenCovered = !b.listen || (!!a.listen && b.listen.every((p) => a.listen!.includes(p)))
  return execCovered && sftpCovered && forwardCovered && listenCovered && flagCovered(a.shell, b.shell) && flagCovered(a.agent, b.agent) && flagCovered(a.x11, b.x11)
}

