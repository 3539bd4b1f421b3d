-- A change and its audit event commit in one transaction (issue 8): a request's first change
-- writes its provisional event here, in the change's own transaction. When the request has
-- been answered, its final event is appended to the chain and this row deleted, in one
-- transaction; a row left behind (the node stopped in between) is moved into the chain as it is.
CREATE TABLE audit_pending (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
