-- Gatehouse store, version 9: each audit event's data stored once, as the exact text that was hashed.
-- The writer serialises an event's data once (canonical JSON), hashes that
-- text and stores it as is in `body`: the store no longer parses every event
-- into jsonb (about 5 µs of its CPU per event), the gateway no longer
-- serialises it a second time, and `audit verify` hashes the stored bytes
-- themselves instead of a re-serialisation of them. Events written before
-- this version keep `data` (jsonb) and no `body`; readers take whichever is set.
ALTER TABLE gatehouse.audit_events ADD COLUMN IF NOT EXISTS body text;
ALTER TABLE gatehouse.audit_events ALTER COLUMN data DROP NOT NULL;

-- Fields that repeat across many events (a decision's rule, reasons, masks
-- and bundle revision: about two thirds of a statement's data), stored once
-- under the SHA-256 of their canonical JSON and named by it in each event's
-- data (`shared`). The event's hash covers the name, the name covers the
-- fields: `audit verify` checks both.
CREATE TABLE gatehouse.audit_shared (
  id   text PRIMARY KEY,
  body text NOT NULL
);

-- As append_audit (version 1), with each event's data as its canonical text,
-- and the shared fields its events name that the store may not hold yet.
CREATE FUNCTION gatehouse.append_audit_text(
  p_chain text, p_from bigint, p_sync boolean,
  p_seq bigint[], p_id text[], p_time timestamptz[], p_kind text[], p_session text[], p_identity text[], p_resource text[],
  p_body text[], p_prev text[], p_hash text[],
  u_identity text[], u_first timestamptz[], u_last timestamptz[], u_count bigint[],
  r_rule text[], r_identity text[], r_last timestamptz[], r_count bigint[],
  s_id text[], s_body text[]
) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT p_sync THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  INSERT INTO gatehouse.audit_shared (id, body) SELECT * FROM unnest(s_id, s_body) ON CONFLICT (id) DO NOTHING;
  INSERT INTO gatehouse.audit_events (chain, seq, id, time, kind, session_id, identity, resource, body, prev_hash, hash)
    SELECT p_chain, e.* FROM unnest(p_seq, p_id, p_time, p_kind, p_session, p_identity, p_resource, p_body, p_prev, p_hash) AS e;
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

-- For reading the trail with SQL: every event with its data as jsonb, whichever way it was stored, shared fields included.
CREATE VIEW gatehouse.audit_trail AS
  SELECT e.chain, e.seq, e.id, e.time, e.kind, e.session_id, e.identity, e.resource,
         COALESCE(s.body::jsonb, '{}'::jsonb) || COALESCE(e.body::jsonb, e.data) AS data, e.prev_hash, e.hash
    FROM gatehouse.audit_events e
    LEFT JOIN gatehouse.audit_shared s ON s.id = e.body::jsonb->>'shared';
