-- One authorization decision (issue 6).

-- Platform roles on IAM: the service roles that earlier versions granted on `iam` (where any of
-- them meant "account administrator") become the platform role of the same weight.
UPDATE policies
SET roles = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(roles,
    'ReaderPlus', 'Viewer'), 'Reader', 'Viewer'), 'Writer', 'Editor'), 'Manager', 'Administrator'),
    'KeyPurge', 'Viewer')
WHERE resource_service = 'iam';
CREATE INDEX policies_subject ON policies(subject_kind, subject_id);

-- A locked API key gets no token, and tokens issued from it are refused.
ALTER TABLE api_keys ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX api_keys_owner ON api_keys(iam_id);

-- Token signing keys, sealed under the master key; the newest signs, every listed one verifies.
CREATE TABLE token_signing_keys (
    kid TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- DEKs wrapped with the tenant id as `aad` (generations made before this are not).
ALTER TABLE secret_generations ADD COLUMN tenant_bound BOOLEAN NOT NULL DEFAULT FALSE;

-- The single signing key of earlier versions; its tokens expire within the hour anyway.
DELETE FROM settings WHERE name = 'token_signing_key';
