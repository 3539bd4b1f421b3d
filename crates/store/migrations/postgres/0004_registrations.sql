-- Key Protect registrations: which cloud resources a root key protects.
CREATE TABLE key_registrations (
    key_id TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
    resource_crn TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    description TEXT,
    prevent_key_deletion BOOLEAN NOT NULL,
    key_version_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, resource_crn)
);
CREATE INDEX key_registrations_instance ON key_registrations(instance_id);
