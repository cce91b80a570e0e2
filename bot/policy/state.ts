// What the bot remembers about each policy pull request, in the store: the
// last evaluation (head, base, diff digest, approval rules, who may not
// approve), the ids of the comment and check it publishes, the commands
// counted on it and who pushed to it.
import type { Queryable } from '../../store/database.js'
import type { CommandName } from '../commands/parse.js'
import type { Evaluation } from './evaluate.js'

export interface PullRequestState {
  repo: string
  number: number
  baseRef: string
  author: string
  /** Everyone who pushed to the pull request, or is the verified author of one of its commits: they may not approve it. */
  pushers: string[]
  evaluation: Evaluation
  /** When the bot first saw this head commit and permission diff: a comment written before it was about something else. */
  evaluatedSince: string
  commentId: number | null
  checkRunId: number | null
}

export interface Vote {
  login: string
  vote: 'approve' | 'deny'
  headSha: string
  digest: string
  source: string
}

interface Row {
  repo: string
  number: number
  comment_id: string | number | null
  check_run_id: string | number | null
  evaluation: { format?: number; baseRef: string; author: string; pushers: string[]; evaluation: Evaluation; evaluatedSince: string } | string
}

/**
 * The stored state's format. Rows of an earlier format (pushers read from
 * commit metadata, rules without sources) are not trusted: the pull request
 * is evaluated again as if first seen.
 */
const STATE_FORMAT = 2

const num = (v: string | number | null) => (v === null ? null : Number(v))

export async function loadPullRequest(db: Queryable, repo: string, number: number): Promise<PullRequestState | undefined> {
  const rows = await db.query<Row>('SELECT repo, number, comment_id, check_run_id, evaluation FROM gatehouse.bot_pull_requests WHERE repo = $1 AND number = $2', [repo, number])
  const row = rows[0]
  if (!row) return undefined
  const { format, ...saved } = typeof row.evaluation === 'string' ? (JSON.parse(row.evaluation) as Exclude<Row['evaluation'], string>) : row.evaluation
  if (format !== STATE_FORMAT) return undefined
  return { repo, number, ...saved, commentId: num(row.comment_id), checkRunId: num(row.check_run_id) }
}

export async function savePullRequest(db: Queryable, state: PullRequestState, now = new Date()): Promise<void> {
  const saved = JSON.stringify({ format: STATE_FORMAT, baseRef: state.baseRef, author: state.author, pushers: state.pushers, evaluation: state.evaluation, evaluatedSince: state.evaluatedSince })
  await db.query(
    `INSERT INTO gatehouse.bot_pull_requests (repo, number, head_sha, base_sha, diff_digest, comment_id, check_run_id, evaluation, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
     ON CONFLICT (repo, number) DO UPDATE SET head_sha = $3, base_sha = $4, diff_digest = $5, comment_id = $6, check_run_id = $7, evaluation = $8::jsonb, updated_at = $9`,
    [state.repo, state.number, state.evaluation.headSha, state.evaluation.baseSha, state.evaluation.digest, state.commentId, state.checkRunId, saved, now.toISOString()],
  )
}

export type RecordedCommand = CommandName | 'dismissed'

/** A counted command comment or review, as stored: `source` is GitHub's own id of it. */
export interface CommandRecord {
  source: string
  login: string
  command: RecordedCommand
  /** When GitHub says it was written (`created_at`, `submitted_at`). */
  writtenAt: string
  /** The evaluation it was counted against. */
  headSha: string
  digest: string
}

/** Whether this comment or review was counted already (then another delivery of it changes nothing). */
export async function commandRecorded(db: Queryable, repo: string, number: number, source: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM gatehouse.bot_pull_request_commands WHERE repo = $1 AND number = $2 AND source = $3', [repo, number, source])
  return rows.length > 0
}

/**
 * Records a counted command once: false when its source was recorded before.
 * A dismissal is the one change allowed to a recorded review, and it is
 * final: a late delivery of the review's submission does not undo it.
 */
export async function recordCommand(db: Queryable, repo: string, number: number, record: CommandRecord): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO gatehouse.bot_pull_request_commands (repo, number, source, login, command, written_at, head_sha, diff_digest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (repo, number, source) DO UPDATE SET command = 'dismissed'
       WHERE $5 = 'dismissed' AND gatehouse.bot_pull_request_commands.command <> 'dismissed'
     RETURNING source`,
    [repo, number, record.source, record.login.toLowerCase(), record.command, record.writtenAt, record.headSha, record.digest],
  )
  return rows.length === 1
}

export async function listCommands(db: Queryable, repo: string, number: number): Promise<CommandRecord[]> {
  const rows = await db.query<{ source: string; login: string; command: RecordedCommand; written_at: string | Date; head_sha: string; diff_digest: string }>(
    'SELECT source, login, command, written_at, head_sha, diff_digest FROM gatehouse.bot_pull_request_commands WHERE repo = $1 AND number = $2',
    [repo, number],
  )
  return rows.map((r) => ({ source: r.source, login: r.login, command: r.command, writtenAt: new Date(r.written_at).toISOString(), headSha: r.head_sha, digest: r.diff_digest }))
}

/** Records that `login` pushed `headSha` (GitHub's `sender` of the delivery, or a timeline actor). */
export async function recordPusher(db: Queryable, repo: string, number: number, headSha: string, login: string, source: string): Promise<void> {
  await db.query(
    'INSERT INTO gatehouse.bot_pull_request_pushers (repo, number, head_sha, login, source) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
    [repo, number, headSha, login.toLowerCase(), source],
  )
}

export async function listPushers(db: Queryable, repo: string, number: number): Promise<Array<{ headSha: string; login: string }>> {
  const rows = await db.query<{ head_sha: string; login: string }>('SELECT head_sha, login FROM gatehouse.bot_pull_request_pushers WHERE repo = $1 AND number = $2', [repo, number])
  return rows.map((r) => ({ headSha: r.head_sha, login: r.login }))
}
