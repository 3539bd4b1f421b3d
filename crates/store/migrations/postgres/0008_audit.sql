-- The audit trail (issue 8): one row per audited request, hash-chained in seq order, and
-- checkpoints signed with a key sealed under the master key.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    account_id TEXT,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_events_account ON audit_events(account_id, seq);
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    at BIGINT NOT NULL,
    signature BYTEA NOT NULL
);
