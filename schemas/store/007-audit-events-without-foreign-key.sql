-- Gatehouse store, version 7: the hot table loses its per-row foreign key.
-- Every audit event paid for a lookup of its chain's row (about 5 µs of store
-- CPU per event); the writer creates the chain's row before its first event,
-- and `audit verify` reports events whose chain has no head, so the key
-- guarded nothing the verifier does not already check.
-- The two secondary indexes stay: (identity, time) serves `audit query
-- --identity` and `audit sessions --identity`, (session_id, time) serves
-- `audit query --session` and the session list.
ALTER TABLE gatehouse.audit_events DROP CONSTRAINT IF EXISTS audit_events_chain_fkey;
