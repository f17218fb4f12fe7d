-- Gateway-wide keys, each stored only wrapped under the master key. One row per purpose; today
-- the audit signing key (`audit`). Its `kek_id` is also the store's record of which master key is
-- current: a rotation rewraps it in the same transaction as every data key, and every writer
-- that wraps under the master key re-reads it inside its own transaction (issue 13.1).
CREATE TABLE gateway_keys (
    purpose    TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER gateway_keys_identity_immutable
BEFORE UPDATE OF purpose, key_id, created_at ON gateway_keys
WHEN NEW.purpose IS NOT OLD.purpose OR NEW.key_id IS NOT OLD.key_id OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'gateway keys are never replaced, only rewrapped');
END;

CREATE TRIGGER gateway_keys_no_replace
BEFORE INSERT ON gateway_keys
WHEN EXISTS (SELECT 1 FROM gateway_keys WHERE purpose = NEW.purpose)
BEGIN
    SELECT RAISE(ABORT, 'gateway keys are never replaced, only rewrapped');
END;

CREATE TRIGGER gateway_keys_never_deleted
BEFORE DELETE ON gateway_keys
BEGIN
    SELECT RAISE(ABORT, 'gateway keys are never deleted');
END;

-- The Splunk server GUID read at bind time (`/services/server/info`), so two URLs of one server
-- are recognised as one endpoint by the binding guard. NULL when it could not be read.
ALTER TABLE bindings ADD COLUMN server_guid TEXT;
CREATE INDEX bindings_by_server_guid ON bindings (server_guid) WHERE server_guid IS NOT NULL;

-- Dead letters (issue 14): vendor records that could not be mapped to an alert. Written in the
-- same transaction as the checkpoint that moves past them, so a record is never skipped without
-- being kept. Client data like the alert stream: they go with their integration.
CREATE TABLE dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    at             TEXT NOT NULL,
    reason         TEXT NOT NULL,
    raw            TEXT NOT NULL
) STRICT;
CREATE INDEX dead_letters_by_integration ON dead_letters (integration_id, id);

-- Service mode (issue 15). How often `serve` polls the integration.
ALTER TABLE integrations ADD COLUMN poll_interval_secs INTEGER NOT NULL DEFAULT 60;

-- What the last poll of an integration did, and whether it is suspended. Written by `serve` and
-- `pull`; read by `status` and `/v1/status`. Operational state, not audit: it may be rewritten.
CREATE TABLE integration_state (
    integration_id      TEXT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    last_poll_start     TEXT,
    last_poll_end       TEXT,
    last_outcome        TEXT,
    last_alerts         INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    last_success        TEXT,
    newest_updated_at   TEXT,
    next_poll           TEXT,
    failures            INTEGER NOT NULL DEFAULT 0,
    -- Set when the vendor rejected the credential: polls stop until the credential version
    -- changes (a rotation or rollback) or `integration resume` clears it.
    suspended_at        TEXT,
    suspended_reason    TEXT,
    suspended_credential_version INTEGER
) STRICT;

-- Compare-and-set on checkpoints (issue 21): each commit names the version it read and bumps
-- it, so a stale writer (a second process on the same integration) commits nothing.
ALTER TABLE checkpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
