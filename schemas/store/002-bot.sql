-- Gatehouse store, version 2: the GitHub bot's own state. The deliveries
-- queue makes a webhook acknowledged once durable and processed once, across
-- restarts; the other tables remember what the bot published so it edits its
-- comments, check runs and issues instead of adding new ones.
-- Applied by store/migrate.ts as one script; never edit an applied migration, add a new one.

-- Every accepted webhook delivery, keyed by X-GitHub-Delivery: a redelivery
-- of the same id finds the row and is not queued again.
CREATE TABLE gatehouse.bot_deliveries (
  id              text PRIMARY KEY,
  event           text NOT NULL,
  -- Deliveries with the same key (one pull request, one issue) run one at a time, in order.
  key             text NOT NULL,
  received_at     timestamptz NOT NULL,
  status          text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- A worker that died mid-delivery leaves `running` behind; its lease lets another take it.
  lease_until     timestamptz,
  payload         jsonb NOT NULL,
  last_error      text,
  finished_at     timestamptz
);
CREATE INDEX bot_deliveries_ready ON gatehouse.bot_deliveries (status, next_attempt_at);

-- The last evaluation of each policy pull request: what approvals are bound to.
CREATE TABLE gatehouse.bot_pull_requests (
  repo         text NOT NULL,
  number       integer NOT NULL,
  head_sha     text NOT NULL,
  base_sha     text NOT NULL,
  diff_digest  text NOT NULL,
  comment_id   bigint,
  check_run_id bigint,
  evaluation   jsonb NOT NULL,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (repo, number)
);

-- Approvals, denials and holds given on a pull request. Approvals and denials
-- count only for the head commit and permission diff they were given for.
CREATE TABLE gatehouse.bot_pull_request_votes (
  repo        text NOT NULL,
  number      integer NOT NULL,
  login       text NOT NULL,
  vote        text NOT NULL CHECK (vote IN ('approve', 'deny')),
  head_sha    text NOT NULL,
  diff_digest text NOT NULL,
  source      text NOT NULL,
  time        timestamptz NOT NULL,
  PRIMARY KEY (repo, number, login)
);

CREATE TABLE gatehouse.bot_pull_request_holds (
  repo   text NOT NULL,
  number integer NOT NULL,
  login  text NOT NULL,
  time   timestamptz NOT NULL,
  PRIMARY KEY (repo, number, login)
);

-- The issue opened for each held gateway request. issue_number is null while
-- the issue is being opened (a crash there is recovered by its marker).
CREATE TABLE gatehouse.bot_approval_issues (
  request_id   text PRIMARY KEY REFERENCES gatehouse.approval_requests (id),
  repo         text NOT NULL,
  issue_number integer,
  closed       boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX bot_approval_issues_issue ON gatehouse.bot_approval_issues (repo, issue_number);
