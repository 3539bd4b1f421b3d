-- Key events: every state change of a key, written in the change's transaction (issue 7).
-- Each insert is announced with NOTIFY keyward_key_events, delivered when the transaction commits.
CREATE TABLE key_events (
    id BIGSERIAL PRIMARY KEY,
    key_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL
);
