-- Gatehouse store, version 1: the audit trail, approval requests and usage.
-- Shared by the gateway (writes) and the bot (reads usage, decides approvals).
-- Applied by store/migrate.ts; never edit an applied migration, add a new one.

CREATE SCHEMA IF NOT EXISTS gatehouse;

-- One hash chain per writer (a gateway process); verify walks each chain.
CREATE TABLE gatehouse.audit_chains (
  chain      text PRIMARY KEY,
  created_at timestamptz NOT NULL,
  last_seq   bigint NOT NULL DEFAULT 0,
  last_hash  text NOT NULL
);

-- Every event: hash = sha256(prev_hash || canonical JSON of the event).
CREATE TABLE gatehouse.audit_events (
  chain      text NOT NULL REFERENCES gatehouse.audit_chains (chain),
  seq        bigint NOT NULL,
  id         text NOT NULL UNIQUE,
  time       timestamptz NOT NULL,
  kind       text NOT NULL,
  session_id text,
  identity   text,
  resource   text,
  data       jsonb NOT NULL,
  prev_hash  text NOT NULL,
  hash       text NOT NULL,
  PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_events_identity_time ON gatehouse.audit_events (identity, time);
CREATE INDEX audit_events_session ON gatehouse.audit_events (session_id, time);
CREATE INDEX audit_events_time ON gatehouse.audit_events (time);

-- Held statements and commands, decided by people (CLI or GitHub bot).
CREATE TABLE gatehouse.approval_requests (
  id              text PRIMARY KEY,
  created_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'used', 'cancelled')),
  identity        text NOT NULL,
  owner           text NOT NULL,
  resource        text NOT NULL,
  session_id      text NOT NULL,
  bundle_revision text NOT NULL,
  rule            text NOT NULL,
  approvers       jsonb NOT NULL,
  required        integer NOT NULL CHECK (required >= 1),
  owner_may_approve boolean NOT NULL,
  protocol        text NOT NULL CHECK (protocol IN ('postgres', 'ssh')),
  request_text    text NOT NULL,
  -- sha256 over the request text and its parameters: the approval is for exactly this.
  request_digest  text NOT NULL,
  decided_at      timestamptz,
  reason          text,
  used_at         timestamptz
);
CREATE INDEX approval_requests_status ON gatehouse.approval_requests (status, created_at);

CREATE TABLE gatehouse.approval_votes (
  request_id text NOT NULL REFERENCES gatehouse.approval_requests (id),
  approver   text NOT NULL,
  vote       text NOT NULL CHECK (vote IN ('approve', 'deny')),
  time       timestamptz NOT NULL,
  source     text NOT NULL,
  PRIMARY KEY (request_id, approver)
);

-- Last use per identity and per rule, for stale-identity and unused-grant sweeps.
CREATE TABLE gatehouse.identity_usage (
  identity   text PRIMARY KEY,
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL,
  requests   bigint NOT NULL
);

CREATE TABLE gatehouse.rule_usage (
  rule      text NOT NULL,
  identity  text NOT NULL,
  last_used timestamptz NOT NULL,
  uses      bigint NOT NULL,
  PRIMARY KEY (rule, identity)
);
