-- Instance policies (issue 9): one row per instance and policy type; attributes as JSON.
CREATE TABLE instance_policies (
    instance_id TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    attributes TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (instance_id, policy_type)
);
