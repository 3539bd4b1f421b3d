-- Key events: every state change of a key, written in the change's transaction (issue 7).
CREATE TABLE key_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL
);
