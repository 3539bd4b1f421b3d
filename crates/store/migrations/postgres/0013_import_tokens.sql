-- Import tokens (issue 9): one per instance; the private key sealed under the master key. A
-- token is removed when it is spent by an import, replaced, or found expired.
CREATE TABLE import_tokens (
    instance_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_retrievals BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    created_by TEXT NOT NULL
);
