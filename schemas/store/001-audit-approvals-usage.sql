-- Gatehouse store, version 1: the audit trail, approval requests and usage.
-- Shared by the gateway (writes) and the bot (reads usage, decides approvals).
-- Applied by store/migrate.ts as one script; never edit an applied migration, add a new one.

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
  id         text NOT NULL,
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
-- Few indexes: every event pays for each of them on the hot path.
CREATE INDEX audit_events_identity_time ON gatehouse.audit_events (identity, time);
CREATE INDEX audit_events_session ON gatehouse.audit_events (session_id, time);

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

-- One round trip per group commit: the events, the chain head (only if no
-- one else moved it) and the usage counters, atomically. Batches without a
-- `sync` event commit without waiting for the WAL flush (async mode's window).
CREATE FUNCTION gatehouse.append_audit(
  p_chain text, p_from bigint, p_sync boolean,
  p_seq bigint[], p_id text[], p_time timestamptz[], p_kind text[], p_session text[], p_identity text[], p_resource text[],
  p_data jsonb[], p_prev text[], p_hash text[],
  u_identity text[], u_first timestamptz[], u_last timestamptz[], u_count bigint[],
  r_rule text[], r_identity text[], r_last timestamptz[], r_count bigint[]
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT p_sync THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  INSERT INTO gatehouse.audit_events (chain, seq, id, time, kind, session_id, identity, resource, data, prev_hash, hash)
    SELECT p_chain, e.* FROM unnest(p_seq, p_id, p_time, p_kind, p_session, p_identity, p_resource, p_data, p_prev, p_hash) AS e;
  UPDATE gatehouse.audit_chains
     SET last_seq = p_seq[array_upper(p_seq, 1)], last_hash = p_hash[array_upper(p_hash, 1)]
   WHERE chain = p_chain AND last_seq = p_from;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit chain % was advanced by another writer', p_chain;
  END IF;
  INSERT INTO gatehouse.identity_usage (identity, first_seen, last_seen, requests)
    SELECT * FROM unnest(u_identity, u_first, u_last, u_count)
    ON CONFLICT (identity) DO UPDATE SET last_seen = GREATEST(gatehouse.identity_usage.last_seen, EXCLUDED.last_seen),
      requests = gatehouse.identity_usage.requests + EXCLUDED.requests;
  INSERT INTO gatehouse.rule_usage (rule, identity, last_used, uses)
    SELECT * FROM unnest(r_rule, r_identity, r_last, r_count)
    ON CONFLICT (rule, identity) DO UPDATE SET last_used = GREATEST(gatehouse.rule_usage.last_used, EXCLUDED.last_used),
      uses = gatehouse.rule_usage.uses + EXCLUDED.uses;
END
$fn$;
