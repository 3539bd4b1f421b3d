-- Tenant secrets (keyward-secrets): DEK generations and sealed fields.
CREATE TABLE secret_generations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    root_key TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- At most one current and one pending generation per tenant.
CREATE UNIQUE INDEX secret_generations_status ON secret_generations(tenant_id, status);
CREATE TABLE secret_fields (
    tenant_id TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    field TEXT NOT NULL,
    -- A generation cannot be dropped while any field still needs it.
    generation_id TEXT NOT NULL REFERENCES secret_generations(id),
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, secret_id, field)
);
CREATE INDEX secret_fields_generation ON secret_fields(tenant_id, generation_id);
