-- Gatehouse store, version 3: the bytes of SSH recordings.
-- An `ssh.output` audit event carries the SHA-256 of the bytes it stands for
-- (and their layout: time, stream, length of each chunk); the bytes are kept
-- here, by that digest, so the hash chain covers them without every byte of a
-- large output passing through the event's JSON. The digest is of the bytes
-- the client received; they are stored compressed (raw DEFLATE, RFC 1951).

CREATE TABLE gatehouse.recording_chunks (
  digest     text PRIMARY KEY,
  deflated   bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
