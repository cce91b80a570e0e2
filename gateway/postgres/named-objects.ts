// The session's named objects as the server keeps them: prepared statements
// (protocol Parse/Close, SQL PREPARE/DEALLOCATE/DISCARD ALL) and portals
// (protocol Bind/Close, SQL DECLARE/CLOSE, dropped at transaction end unless
// WITH HOLD). Both namespaces are shared by the protocol and SQL: a statement
// parsed with the protocol can be run with EXECUTE, an SQL cursor read with
// Execute, a protocol portal with FETCH ("Extended Query"; DECLARE, FETCH).
//
// Rows reach the client from a statement, or through FETCH and EXECUTE from
// another named object; `rowSource` follows those names to the statement that
// produced the rows, so its masks apply. A name that cannot be followed means
// rows of unknown origin: the caller refuses them.
//
// The session keeps two of these: one updated as the client's messages are
// forwarded (to decide before anything runs), and one updated as the server
// confirms each message (to mask results exactly, whatever failed upstream).
import { statementFacts } from './statement-facts.js'

/** What one SQL statement does to the named objects (undefined: nothing). */
export type ObjectEffect =
  | { kind: 'prepare'; name: string; text: string }
  | { kind: 'execute'; name: string }
  | { kind: 'deallocate'; name: string | undefined }
  | { kind: 'declare'; name: string; text: string; holdable: boolean; binary: boolean }
  | { kind: 'fetch'; name: string; move: boolean }
  | { kind: 'close'; name: string | undefined }
  | { kind: 'discard-all' }

/** A statement as the objects know it: the effects of each statement in its text. */
export interface NamedStatement {
  readonly effects: ReadonlyArray<ObjectEffect | undefined>
}

export interface NamedPortal<S extends NamedStatement> {
  readonly statement: S
}

// DeclareCursorStmt options (PostgreSQL's parsenodes.h, CURSOR_OPT_*).
const CURSOR_OPT_BINARY = 0x1
const CURSOR_OPT_HOLD = 0x20
/** FETCH of a FETCH of ...: deeper than any real chain (a protocol FETCH portal read by SQL FETCH is two). */
const MAX_INDIRECTION = 4
/**
 * The effect of each statement of `sql`, by position (an empty list when no
 * statement has one).
 */
export const objectEffects = statementFacts(/\b(declare|fetch|move|close|prepare|execute|deallocate|discard)\b/i, effectOf)

function name(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function effectOf(kind: string, body: Record<string, unknown>, text: string): ObjectEffect | undefined {
  switch (kind) {
    case 'PrepareStmt':
      return { kind: 'prepare', name: name(body.name) ?? '', text }
    case 'ExecuteStmt':
      return { kind: 'execute', name: name(body.name) ?? '' }
    case 'DeallocateStmt':
      return { kind: 'deallocate', name: body.isall === true ? undefined : name(body.name) }
    case 'DeclareCursorStmt': {
      const options = typeof body.options === 'number' ? body.options : 0
      return { kind: 'declare', name: name(body.portalname) ?? '', text, holdable: (options & CURSOR_OPT_HOLD) !== 0, binary: (options & CURSOR_OPT_BINARY) !== 0 }
    }
    case 'FetchStmt':
      return { kind: 'fetch', name: name(body.portalname) ?? '', move: body.ismove === true }
    case 'ClosePortalStmt':
      return { kind: 'close', name: name(body.portalname) }
    case 'DiscardStmt':
      return body.target === 'DISCARD_ALL' ? { kind: 'discard-all' } : undefined
    default:
      return undefined
  }
}

interface PortalEntry<P> {
  portal: P
  holdable: boolean
  /** Opened in the transaction still open: dropped if it aborts, even WITH HOLD. */
  fresh: boolean
}

export class NamedObjects<S extends NamedStatement, P extends NamedPortal<S>> {
  private statements = new Map<string, S>()
  private portals = new Map<string, PortalEntry<P>>()

  /**
   * `confirmed`: every creation is one the server reported done, so it
   * replaces whatever was known by that name. Otherwise (predicting), a named
   * object is not replaced: the server refuses to create a name in use.
   */
  constructor(private readonly confirmed: boolean) {}

  statement(name: string): S | undefined {
    return this.statements.get(name)
  }

  portal(name: string): P | undefined {
    return this.portals.get(name)?.portal
  }

  get statementCount(): number {
    return this.statements.size
  }

  get portalCount(): number {
    return this.portals.size
  }

  prepare(name: string, statement: S): void {
    if (!this.confirmed && name !== '' && this.statements.has(name)) return
    this.statements.set(name, statement)
  }

  deallocate(name: string | undefined): void {
    if (name === undefined) this.statements.clear()
    else this.statements.delete(name)
  }

  open(name: string, portal: P, holdable = false): void {
    if (!this.confirmed && name !== '' && this.portals.has(name)) return
    this.portals.set(name, { portal, holdable, fresh: true })
  }

  close(name: string | undefined): void {
    if (name === undefined) this.portals.clear()
    else this.portals.delete(name)
  }

  /** A simple Query destroys the unnamed statement and the unnamed portal ("Extended Query"). */
  forgetUnnamed(): void {
    this.statements.delete('')
    this.portals.delete('')
  }

  /**
   * The transaction ended: portals go, except WITH HOLD cursors of a
   * committed transaction ("DECLARE": a held cursor created in a transaction
   * that rolls back is removed too).
   */
  endTransaction(committed: boolean): void {
    for (const [name, entry] of this.portals) {
      if (!entry.holdable || (!committed && entry.fresh)) this.portals.delete(name)
      else entry.fresh = false
    }
  }

  /** Applies what an SQL statement did; `created` is the statement a PREPARE made, or the cursor a DECLARE opened. */
  apply(effect: ObjectEffect | undefined, created?: { statement: S; cursor?: P }): void {
    switch (effect?.kind) {
      case 'prepare':
        if (created) this.prepare(effect.name, created.statement)
        return
      case 'deallocate':
        this.deallocate(effect.name)
        return
      case 'declare':
        if (created?.cursor) this.open(effect.name, created.cursor, effect.holdable)
        return
      case 'close':
        this.close(effect.name)
        return
      case 'discard-all':
        this.deallocate(undefined)
        this.close(undefined)
        return
      default:
        return
    }
  }

  /** Becomes a copy of `other` (the same entries, not copies of them). */
  copyFrom(other: NamedObjects<S, P>): void {
    this.statements = new Map(other.statements)
    this.portals = new Map([...other.portals].map(([name, entry]) => [name, { ...entry }]))
  }

  /**
   * The statement whose rows a statement with `effect` returns: `self`, or,
   * through FETCH and EXECUTE, the cursor's or the prepared statement's.
   * Undefined when a name leads nowhere: rows of unknown origin.
   */
  rowSource(effect: ObjectEffect | undefined): S | 'self' | undefined {
    let current: S | 'self' = 'self'
    let next = effect
    for (let depth = 0; depth <= MAX_INDIRECTION; depth++) {
      if (!readsElsewhere(next)) return current
      const found = next.kind === 'fetch' ? this.portal(next.name)?.statement : this.statement(next.name)
      if (!found) return undefined
      current = found
      next = found.effects[0]
    }
    return undefined
  }
}

/** FETCH and EXECUTE return rows of another named object (MOVE returns none). */
export function readsElsewhere(effect: ObjectEffect | undefined): effect is Extract<ObjectEffect, { kind: 'fetch' | 'execute' }> {
  return effect !== undefined && (effect.kind === 'execute' || (effect.kind === 'fetch' && !effect.move))
}
