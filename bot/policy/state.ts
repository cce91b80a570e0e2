// What the bot remembers about each policy pull request, in the store: the
// last evaluation (head, base, diff digest, approval rules, who may not
// approve), the ids of the comment and check it publishes, and the votes and
// holds given on it.
import type { Database, Queryable } from '../../store/database.js'
import type { Evaluation } from './evaluate.js'

export interface PullRequestState {
  repo: string
  number: number
  baseRef: string
  author: string
  /** Everyone who authored or committed a commit of the pull request: they may not approve it. */
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
  evaluation: { baseRef: string; author: string; pushers: string[]; evaluation: Evaluation; evaluatedSince: string } | string
}

const num = (v: string | number | null) => (v === null ? null : Number(v))

export async function loadPullRequest(db: Queryable, repo: string, number: number): Promise<PullRequestState | undefined> {
  const rows = await db.query<Row>('SELECT repo, number, comment_id, check_run_id, evaluation FROM gatehouse.bot_pull_requests WHERE repo = $1 AND number = $2', [repo, number])
  const row = rows[0]
  if (!row) return undefined
  const saved = typeof row.evaluation === 'string' ? (JSON.parse(row.evaluation) as Exclude<Row['evaluation'], string>) : row.evaluation
  return { repo, number, ...saved, commentId: num(row.comment_id), checkRunId: num(row.check_run_id) }
}

export async function savePullRequest(db: Queryable, state: PullRequestState, now = new Date()): Promise<void> {
  const saved = JSON.stringify({ baseRef: state.baseRef, author: state.author, pushers: state.pushers, evaluation: state.evaluation, evaluatedSince: state.evaluatedSince })
  await db.query(
    `INSERT INTO gatehouse.bot_pull_requests (repo, number, head_sha, base_sha, diff_digest, comment_id, check_run_id, evaluation, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
     ON CONFLICT (repo, number) DO UPDATE SET head_sha = $3, base_sha = $4, diff_digest = $5, comment_id = $6, check_run_id = $7, evaluation = $8::jsonb, updated_at = $9`,
    [state.repo, state.number, state.evaluation.headSha, state.evaluation.baseSha, state.evaluation.digest, state.commentId, state.checkRunId, saved, now.toISOString()],
  )
}

/**
 * Votes given for another head commit or another permission diff no longer
 * count; they are deleted when the evaluation moves on.
 */
export async function clearStaleVotes(db: Queryable, repo: string, number: number, headSha: string, digest: string): Promise<number> {
  const rows = await db.query('DELETE FROM gatehouse.bot_pull_request_votes WHERE repo = $1 AND number = $2 AND (head_sha <> $3 OR diff_digest <> $4) RETURNING login', [repo, number, headSha, digest])
  return rows.length
}

export async function recordVote(db: Database, repo: string, number: number, vote: Vote, now = new Date()): Promise<void> {
  await db.query(
    `INSERT INTO gatehouse.bot_pull_request_votes (repo, number, login, vote, head_sha, diff_digest, source, time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (repo, number, login) DO UPDATE SET vote = $4, head_sha = $5, diff_digest = $6, source = $7, time = $8`,
    [repo, number, vote.login.toLowerCase(), vote.vote, vote.headSha, vote.digest, vote.source, now.toISOString()],
  )
}

export async function withdrawVote(db: Queryable, repo: string, number: number, login: string, vote?: 'approve' | 'deny'): Promise<boolean> {
  const rows = vote
    ? await db.query('DELETE FROM gatehouse.bot_pull_request_votes WHERE repo = $1 AND number = $2 AND login = $3 AND vote = $4 RETURNING login', [repo, number, login.toLowerCase(), vote])
    : await db.query('DELETE FROM gatehouse.bot_pull_request_votes WHERE repo = $1 AND number = $2 AND login = $3 RETURNING login', [repo, number, login.toLowerCase()])
  return rows.length > 0
}

export async function listVotes(db: Queryable, repo: string, number: number): Promise<Vote[]> {
  const rows = await db.query<{ login: string; vote: 'approve' | 'deny'; head_sha: string; diff_digest: string; source: string }>(
    'SELECT login, vote, head_sha, diff_digest, source FROM gatehouse.bot_pull_request_votes WHERE repo = $1 AND number = $2 ORDER BY time, login',
    [repo, number],
  )
  return rows.map((r) => ({ login: r.login, vote: r.vote, headSha: r.head_sha, digest: r.diff_digest, source: r.source }))
}

export async function setHold(db: Queryable, repo: string, number: number, login: string, held: boolean, now = new Date()): Promise<boolean> {
  const rows = held
    ? await db.query('INSERT INTO gatehouse.bot_pull_request_holds (repo, number, login, time) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING login', [repo, number, login.toLowerCase(), now.toISOString()])
    : await db.query('DELETE FROM gatehouse.bot_pull_request_holds WHERE repo = $1 AND number = $2 AND login = $3 RETURNING login', [repo, number, login.toLowerCase()])
  return rows.length > 0
}

export async function listHolds(db: Queryable, repo: string, number: number): Promise<string[]> {
  const rows = await db.query<{ login: string }>('SELECT login FROM gatehouse.bot_pull_request_holds WHERE repo = $1 AND number = $2 ORDER BY time', [repo, number])
  return rows.map((r) => r.login)
}
