-- Key policies (issue 9): a key's rotation schedule and dual authorization of deletion, each
-- with who set it and when, as one JSON document read and written with the key; and the last
-- authorization to delete the key, valid for 7 days.
ALTER TABLE keys ADD COLUMN policies TEXT NOT NULL DEFAULT '{}';
ALTER TABLE keys ADD COLUMN deletion_authorized_by TEXT;
ALTER TABLE keys ADD COLUMN deletion_authorized_at BIGINT;
