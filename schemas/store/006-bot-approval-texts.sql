-- Gatehouse store, version 6: what the bot showed on each approval issue.
-- An approver decides from the issue's title and body and the bot's own
-- comments; anyone with write access to the repository can edit them. The
-- bot keeps the exact texts it wrote, restores them when they are changed,
-- and counts approvals only from comments written after the last restore.
-- Applied by store/migrate.ts as one script; never edit an applied migration, add a new one.

ALTER TABLE gatehouse.bot_approval_issues
  ADD COLUMN title       text,
  ADD COLUMN body        text,
  -- When the bot last found the issue or one of its comments changed, and
  -- when (GitHub's clock, from the notice comment) it put the text back.
  ADD COLUMN tampered_at timestamptz,
  ADD COLUMN restored_at timestamptz;

CREATE TABLE gatehouse.bot_approval_comments (
  repo       text NOT NULL,
  comment_id bigint NOT NULL,
  request_id text NOT NULL REFERENCES gatehouse.approval_requests (id),
  body       text NOT NULL,
  PRIMARY KEY (repo, comment_id)
);
