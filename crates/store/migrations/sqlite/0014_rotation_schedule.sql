-- Scheduled rotation (issue 9): when a key's rotation policy next rotates it, kept with the key
-- so the scheduler finds due keys by index; and leases, so that one node at a time runs it.
ALTER TABLE keys ADD COLUMN rotation_due_at BIGINT;
CREATE INDEX keys_rotation_due ON keys(rotation_due_at);
CREATE TABLE scheduler_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);
