-- API tokens (issue 17). The secret is never stored: only HMAC-SHA256 of it under a key derived
-- from the master key (`secret_mac`, hex), and the id of the master key that key came from, so a
-- token made before a master-key rotation is refused with a clear reason. A NULL workspace_id is
-- an all-workspaces token. Tokens are revoked, never deleted: the audit log names their ids.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    workspace_id TEXT REFERENCES workspaces(id),
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    secret_mac   TEXT NOT NULL,
    kek_id       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_tokens_by_workspace ON api_tokens (workspace_id);

CREATE TRIGGER api_tokens_identity_immutable
BEFORE UPDATE OF id, name, workspace_id, scope, secret_mac, kek_id, created_at, created_by, expires_at ON api_tokens
BEGIN
    SELECT RAISE(ABORT, 'API tokens are immutable; revoke and create a new one');
END;

CREATE TRIGGER api_tokens_never_deleted
BEFORE DELETE ON api_tokens
BEGIN
    SELECT RAISE(ABORT, 'API tokens are revoked, never deleted');
END;
