-- Gatehouse store, version 5: approvals that cannot be replayed or reordered,
-- and who pushed to each pull request as GitHub itself attests it.
-- Applied by store/migrate.ts as one script; never edit an applied migration, add a new one.

-- Every command comment and review the bot counted, keyed by GitHub's own id
-- (`comment:<id>`, `review:<id>`): a second delivery of the same comment or
-- review, whatever its delivery id, finds the row and changes nothing. A
-- person's vote is their latest command by the time GitHub says it was
-- written (`written_at`), not the last one processed. Approvals and denials
-- count only while `head_sha` and `diff_digest` are those of the evaluation.
CREATE TABLE gatehouse.bot_pull_request_commands (
  repo        text NOT NULL,
  number      integer NOT NULL,
  source      text NOT NULL,
  login       text NOT NULL,
  command     text NOT NULL CHECK (command IN ('approve', 'deny', 'approve-cancel', 'hold', 'unhold', 'dismissed')),
  written_at  timestamptz NOT NULL,
  head_sha    text NOT NULL,
  diff_digest text NOT NULL,
  PRIMARY KEY (repo, number, source)
);

-- The `sender` of every opened, reopened and synchronize delivery (the person
-- who pushed `head_sha`), and the actors of force pushes read from the
-- timeline: they may not approve the pull request.
CREATE TABLE gatehouse.bot_pull_request_pushers (
  repo     text NOT NULL,
  number   integer NOT NULL,
  head_sha text NOT NULL,
  login    text NOT NULL,
  source   text NOT NULL,
  PRIMARY KEY (repo, number, head_sha, login)
);

-- Votes and holds of version 2 carry over: a vote keeps its source and time,
-- a hold becomes a `/hold` written when it was recorded.
INSERT INTO gatehouse.bot_pull_request_commands (repo, number, source, login, command, written_at, head_sha, diff_digest)
  SELECT repo, number, source, login, vote, time, head_sha, diff_digest FROM gatehouse.bot_pull_request_votes
  ON CONFLICT DO NOTHING;
INSERT INTO gatehouse.bot_pull_request_commands (repo, number, source, login, command, written_at, head_sha, diff_digest)
  SELECT repo, number, 'hold:' || login, login, 'hold', time, '', '' FROM gatehouse.bot_pull_request_holds
  ON CONFLICT DO NOTHING;
DROP TABLE gatehouse.bot_pull_request_votes;
DROP TABLE gatehouse.bot_pull_request_holds;
