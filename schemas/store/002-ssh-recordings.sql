-- Gatehouse store, version 2: the bytes of SSH recordings.
-- An `ssh.output` audit event carries the SHA-256 of the bytes it stands for
-- (and their layout: time, stream, length of each chunk); the bytes are kept
-- here, by that digest, so the hash chain covers them without every byte of a
-- large output passing through the event's JSON.

CREATE TABLE gatehouse.recording_chunks (
  digest     text PRIMARY KEY,
  bytes      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
