-- Gatehouse store, version 8: the organisation a held request's approvers belong to.
-- An approver named as a user (`@dana`) counts only while an active member of
-- the organisation of the bundle that held the request; the bot reads it from
-- here, since it never sees the bundle the gateway enforced. Requests held
-- before this version have none: the bot then asks about the organisation
-- that owns the policy repository.
ALTER TABLE gatehouse.approval_requests ADD COLUMN IF NOT EXISTS organisation text;
