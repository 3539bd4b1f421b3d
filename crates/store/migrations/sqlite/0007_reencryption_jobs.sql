-- Re-encryption jobs owned by one node under a lease it renews with every batch; a node that
-- dies loses the lease and another node adopts the job (issue 7).
CREATE TABLE reencryption_jobs (
    tenant_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT
);
