-- Keyward schema, PostgreSQL flavour. Times are Unix milliseconds; ids are hyphenated UUID text.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE principals (
    iam_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    service_name TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    iam_id TEXT NOT NULL REFERENCES principals(iam_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_instance TEXT,
    roles TEXT NOT NULL,
    resource_service TEXT NOT NULL,
    resource_instance TEXT,
    resource_key_ring TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX policies_account ON policies(account_id);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE key_rings (
    instance_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    tags TEXT NOT NULL,
    extractable BOOLEAN NOT NULL,
    imported BOOLEAN NOT NULL,
    state BIGINT NOT NULL,
    bit_length BIGINT NOT NULL,
    expiration BIGINT,
    key_ring TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_rotated_at BIGINT,
    state_changed_at BIGINT NOT NULL,
    deleted_at BIGINT,
    deleted_by TEXT,
    current_version_id TEXT NOT NULL,
    current_version_created_at BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX keys_instance ON keys(instance_id, created_at, id);
CREATE TABLE key_versions (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    wrapped_material BYTEA NOT NULL,
    encryptions BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX key_versions_key ON key_versions(key_id, created_at);
CREATE TABLE key_aliases (
    instance_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (instance_id, alias)
);
CREATE INDEX key_aliases_key ON key_aliases(key_id);
