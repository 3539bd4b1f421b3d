-- Configuration-service resources: entities without credentials, and the secret holding them.
CREATE TABLE config_resources (
    instance_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    entity TEXT NOT NULL,
    secret_id TEXT,
    state TEXT NOT NULL,
    failure TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, kind, id)
);
