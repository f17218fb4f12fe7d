-- PostgreSQL form of the SQLite schema version 5: migrations 0001_initial.sql through
-- 0005_alert_ledger.sql applied in order, in one piece (ADD COLUMNs folded into their tables,
-- in the column order SQLite ends up with; 0004's `alert_sla` is left out because the gateway
-- drops it after 0005 copies it). Every future SQLite migration needs a PostgreSQL step too.
--
-- Translation rules: INTEGER -> BIGINT, TEXT -> TEXT COLLATE "C" (byte order, as SQLite
-- compares), BLOB -> BYTEA; rowid / AUTOINCREMENT keys -> identity columns (BY DEFAULT, so rows
-- can be copied with their ids). SQLite's triggers become plpgsql functions and triggers of the
-- same names, raising the same messages (SQLSTATE 23001 restrict_violation, never 23505).
-- The SQLite `*_no_replace` insert triggers only exist to stop INSERT OR REPLACE, which
-- PostgreSQL does not have: primary keys refuse a duplicate insert, and ON CONFLICT DO UPDATE
-- fires the update triggers. TRUNCATE skips row delete triggers, so every append-only or
-- never-deleted table also refuses TRUNCATE.

-- Workspaces are never deleted: `workspace delete` tombstones the row (the audit chain and the
-- slug outlive it) and crypto-shreds everything secret.
CREATE TABLE workspaces (
    id          TEXT COLLATE "C" PRIMARY KEY,
    slug        TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    plan        TEXT COLLATE "C" NOT NULL CHECK (plan IN ('starter', 'pro', 'enterprise')),
    created_at  TEXT COLLATE "C" NOT NULL,
    deleted_at  TEXT COLLATE "C"
);

CREATE FUNCTION workspaces_identity_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'workspace slugs are immutable' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER workspaces_identity_immutable
BEFORE UPDATE OF id, slug, created_at ON workspaces
FOR EACH ROW
WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.slug IS DISTINCT FROM OLD.slug
      OR NEW.created_at IS DISTINCT FROM OLD.created_at)
EXECUTE FUNCTION workspaces_identity_immutable();

CREATE FUNCTION workspaces_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'workspaces are tombstoned, never deleted' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER workspaces_never_deleted
BEFORE DELETE ON workspaces
FOR EACH ROW EXECUTE FUNCTION workspaces_never_deleted();
CREATE TRIGGER workspaces_no_truncate
BEFORE TRUNCATE ON workspaces
FOR EACH STATEMENT EXECUTE FUNCTION workspaces_never_deleted();

-- One data key per workspace and version, stored only wrapped under the master key.
CREATE TABLE workspace_keys (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    version      BIGINT NOT NULL CHECK (version >= 1),
    kek_id       TEXT COLLATE "C" NOT NULL,
    wrapped      BYTEA NOT NULL,
    seals        BIGINT NOT NULL DEFAULT 0,
    created_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, version)
);

CREATE TABLE integrations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    name         TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL,
    settings     TEXT COLLATE "C" NOT NULL,
    source       TEXT COLLATE "C" NOT NULL,
    -- First-run window of a pull when no checkpoint exists yet.
    first_window_secs BIGINT NOT NULL DEFAULT 86400,
    created_at   TEXT COLLATE "C" NOT NULL,
    -- Service mode (issue 15, SQLite 0002). How often `serve` polls the integration.
    poll_interval_secs BIGINT NOT NULL DEFAULT 60,
    UNIQUE (workspace_id, name)
);

CREATE FUNCTION integrations_identity_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an integration cannot move to another workspace or source' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER integrations_identity_immutable
BEFORE UPDATE OF id, workspace_id, source ON integrations
FOR EACH ROW
WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id
      OR NEW.source IS DISTINCT FROM OLD.source)
EXECUTE FUNCTION integrations_identity_immutable();

-- The binding guard: one row per bound source. The primary key makes an exact duplicate
-- impossible; overlapping Splunk scopes are checked inside the same write transaction.
CREATE TABLE bindings (
    source         TEXT COLLATE "C" PRIMARY KEY,
    binding_key    TEXT COLLATE "C" NOT NULL,
    source_json    TEXT COLLATE "C" NOT NULL,
    workspace_id   TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    integration_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES integrations(id) ON DELETE CASCADE,
    -- The Splunk server GUID read at bind time (`/services/server/info`, SQLite 0002), so two
    -- URLs of one server are recognised as one endpoint by the binding guard. NULL when it
    -- could not be read.
    server_guid    TEXT COLLATE "C"
);
CREATE INDEX bindings_by_key ON bindings (binding_key);
CREATE INDEX bindings_by_server_guid ON bindings (server_guid) WHERE server_guid IS NOT NULL;

CREATE TABLE credentials (
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    version        BIGINT NOT NULL CHECK (version >= 1),
    state          TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'current', 'previous')),
    blob           BYTEA NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (integration_id, version)
);
CREATE UNIQUE INDEX credentials_one_current ON credentials (integration_id) WHERE state = 'current';
CREATE UNIQUE INDEX credentials_one_pending ON credentials (integration_id) WHERE state = 'pending';

CREATE TABLE checkpoints (
    integration_id TEXT COLLATE "C" PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    cursor         TEXT COLLATE "C" NOT NULL,
    sink           TEXT COLLATE "C",
    sink_offset    BIGINT,
    updated_at     TEXT COLLATE "C" NOT NULL,
    -- Compare-and-set on checkpoints (issue 21, SQLite 0002): each commit names the version it
    -- read and bumps it, so a stale writer (a second process on the same integration) commits
    -- nothing.
    version        BIGINT NOT NULL DEFAULT 0
);

-- The audit chain. Rows are append-only; the one exception is retention pruning of a range a
-- sealed segment manifest already covers.
CREATE TABLE audit_entries (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    request_id   TEXT COLLATE "C" NOT NULL,
    at           TEXT COLLATE "C" NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    action       TEXT COLLATE "C" NOT NULL,
    target       TEXT COLLATE "C" NOT NULL,
    outcome      TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    details      TEXT COLLATE "C" NOT NULL,
    prev_hash    TEXT COLLATE "C" NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);

CREATE TABLE audit_segments (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    first_seq    BIGINT NOT NULL,
    last_seq     BIGINT NOT NULL,
    last_hash    TEXT COLLATE "C" NOT NULL,
    checkpoint   TEXT COLLATE "C" NOT NULL,
    pruned_at    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, first_seq)
);

-- The gateway inserts checkpoints with INSERT ... ON CONFLICT DO NOTHING (SQLite: INSERT OR
-- IGNORE) and expects an existing one at the same seq to stay as it is; the primary key does
-- that here, so there is no insert trigger.
CREATE TABLE audit_checkpoints (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    seq          BIGINT NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL,
    at           TEXT COLLATE "C" NOT NULL,
    key_id       TEXT COLLATE "C" NOT NULL,
    signature    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);

CREATE FUNCTION audit_entries_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER audit_entries_no_update
BEFORE UPDATE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_no_update();

-- A trigger's WHEN cannot hold a subquery, so the condition is in the body. The search path is
-- pinned to the one this file ran under, so `audit_segments` is always this schema's table.
CREATE FUNCTION audit_entries_delete_only_pruned() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM audit_segments s
        WHERE s.workspace_id = OLD.workspace_id AND OLD.seq BETWEEN s.first_seq AND s.last_seq
    ) THEN
        RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_entries_delete_only_pruned
BEFORE DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_delete_only_pruned();
-- TRUNCATE would skip the row check: refuse it outright (retention deletes covered ranges).
CREATE TRIGGER audit_entries_no_truncate
BEFORE TRUNCATE ON audit_entries
FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_no_update();

CREATE FUNCTION audit_segments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit segment manifests are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER audit_segments_no_update
BEFORE UPDATE ON audit_segments
FOR EACH ROW EXECUTE FUNCTION audit_segments_append_only();
CREATE TRIGGER audit_segments_no_delete
BEFORE DELETE ON audit_segments
FOR EACH ROW EXECUTE FUNCTION audit_segments_append_only();
CREATE TRIGGER audit_segments_no_truncate
BEFORE TRUNCATE ON audit_segments
FOR EACH STATEMENT EXECUTE FUNCTION audit_segments_append_only();

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER audit_checkpoints_no_update
BEFORE UPDATE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_delete
BEFORE DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
BEFORE TRUNCATE ON audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();

-- File sinks of `pull --output`: the length of the file at the last committed batch. Written in
-- the same transaction as the checkpoint of that batch; recovery truncates anything beyond it.
CREATE TABLE sinks (
    path             TEXT COLLATE "C" PRIMARY KEY,
    committed_offset BIGINT NOT NULL
);

-- SQLite 0002. Gateway-wide keys, each stored only wrapped under the master key. One row per
-- purpose; today the audit signing key (`audit`). Its `kek_id` is also the store's record of
-- which master key is current: a rotation rewraps it in the same transaction as every data key,
-- and every writer that wraps under the master key re-reads it inside its own transaction
-- (issue 13.1).
CREATE TABLE gateway_keys (
    purpose    TEXT COLLATE "C" PRIMARY KEY,
    key_id     TEXT COLLATE "C" NOT NULL,
    kek_id     TEXT COLLATE "C" NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE FUNCTION gateway_keys_identity_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gateway keys are never replaced, only rewrapped' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER gateway_keys_identity_immutable
BEFORE UPDATE OF purpose, key_id, created_at ON gateway_keys
FOR EACH ROW
WHEN (NEW.purpose IS DISTINCT FROM OLD.purpose OR NEW.key_id IS DISTINCT FROM OLD.key_id
      OR NEW.created_at IS DISTINCT FROM OLD.created_at)
EXECUTE FUNCTION gateway_keys_identity_immutable();

CREATE FUNCTION gateway_keys_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gateway keys are never deleted' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER gateway_keys_never_deleted
BEFORE DELETE ON gateway_keys
FOR EACH ROW EXECUTE FUNCTION gateway_keys_never_deleted();
CREATE TRIGGER gateway_keys_no_truncate
BEFORE TRUNCATE ON gateway_keys
FOR EACH STATEMENT EXECUTE FUNCTION gateway_keys_never_deleted();

-- Dead letters (issue 14, SQLite 0002): vendor records that could not be mapped to an alert.
-- Written in the same transaction as the checkpoint that moves past them, so a record is never
-- skipped without being kept. Client data like the alert stream: they go with their integration.
CREATE TABLE dead_letters (
    id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    at             TEXT COLLATE "C" NOT NULL,
    reason         TEXT COLLATE "C" NOT NULL,
    raw            TEXT COLLATE "C" NOT NULL
);
CREATE INDEX dead_letters_by_integration ON dead_letters (integration_id, id);

-- SQLite 0002. What the last poll of an integration did, and whether it is suspended. Written
-- by `serve` and `pull`; read by `status` and `/v1/status`. Operational state, not audit: it may
-- be rewritten.
CREATE TABLE integration_state (
    integration_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    last_poll_start     TEXT COLLATE "C",
    last_poll_end       TEXT COLLATE "C",
    last_outcome        TEXT COLLATE "C",
    last_alerts         BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT COLLATE "C",
    last_success        TEXT COLLATE "C",
    newest_updated_at   TEXT COLLATE "C",
    next_poll           TEXT COLLATE "C",
    failures            BIGINT NOT NULL DEFAULT 0,
    -- Set when the vendor rejected the credential: polls stop until the credential version
    -- changes (a rotation or rollback) or `integration resume` clears it.
    suspended_at        TEXT COLLATE "C",
    suspended_reason    TEXT COLLATE "C",
    suspended_credential_version BIGINT
);

-- API tokens (issue 17, SQLite 0003). The secret is never stored: only HMAC-SHA256 of it under a
-- key derived from the master key (`secret_mac`, hex), and the id of the master key that key
-- came from, so a token made before a master-key rotation is refused with a clear reason. A NULL
-- workspace_id is an all-workspaces token. Tokens are revoked, never deleted: the audit log
-- names their ids.
CREATE TABLE api_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT COLLATE "C" NOT NULL,
    workspace_id TEXT COLLATE "C" REFERENCES workspaces(id),
    scope        TEXT COLLATE "C" NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    secret_mac   TEXT COLLATE "C" NOT NULL,
    kek_id       TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX api_tokens_by_workspace ON api_tokens (workspace_id);

-- As in SQLite, naming any of these columns in an UPDATE is refused, changed or not.
CREATE FUNCTION api_tokens_identity_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'API tokens are immutable; revoke and create a new one' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER api_tokens_identity_immutable
BEFORE UPDATE OF id, name, workspace_id, scope, secret_mac, kek_id, created_at, created_by, expires_at ON api_tokens
FOR EACH ROW EXECUTE FUNCTION api_tokens_identity_immutable();

CREATE FUNCTION api_tokens_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'API tokens are revoked, never deleted' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER api_tokens_never_deleted
BEFORE DELETE ON api_tokens
FOR EACH ROW EXECUTE FUNCTION api_tokens_never_deleted();
CREATE TRIGGER api_tokens_no_truncate
BEFORE TRUNCATE ON api_tokens
FOR EACH STATEMENT EXECUTE FUNCTION api_tokens_never_deleted();

-- SLA policies (issue 19, SQLite 0004). One append-only version sequence shared by the
-- gateway-wide template (workspace_id NULL) and every workspace's own policy: a stamp's
-- `policy_version` names exactly one row, and every change is a new row (nothing is edited in
-- place).
CREATE TABLE sla_policies (
    version      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    workspace_id TEXT COLLATE "C" REFERENCES workspaces(id),
    -- The whole policy after the change, as JSON: the template, or a workspace's overrides,
    -- calendar and assignment. Validated again when read back.
    body         TEXT COLLATE "C" NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL
);

CREATE INDEX sla_policies_by_workspace ON sla_policies (workspace_id, version);

CREATE FUNCTION sla_policies_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sla policies are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER sla_policies_no_update
BEFORE UPDATE ON sla_policies
FOR EACH ROW EXECUTE FUNCTION sla_policies_append_only();
CREATE TRIGGER sla_policies_no_delete
BEFORE DELETE ON sla_policies
FOR EACH ROW EXECUTE FUNCTION sla_policies_append_only();
CREATE TRIGGER sla_policies_no_truncate
BEFORE TRUNCATE ON sla_policies
FOR EACH STATEMENT EXECUTE FUNCTION sla_policies_append_only();

-- The SLA ledger (issue 20, SQLite 0005; it replaced 0004's `alert_sla`, which this schema never
-- had). Rows are appended in the order they are first seen (id), and the only index that takes
-- alerts in random order is a 16-byte key: SHA-256 of (workspace, source, alert id), truncated,
-- computed by the gateway. The identity columns are kept and checked on every read, so a key
-- never stands for another alert.
CREATE TABLE alert_ledger (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key             BYTEA NOT NULL CHECK (octet_length(key) = 16),
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    source          TEXT COLLATE "C" NOT NULL,
    alert_id        TEXT COLLATE "C" NOT NULL,
    severity        TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    policy_version  BIGINT NOT NULL,
    tta_due         TEXT COLLATE "C",
    ttr_due         TEXT COLLATE "C",
    clock           TEXT COLLATE "C",
    first_seen_at   TEXT COLLATE "C" NOT NULL,
    acknowledged_at TEXT COLLATE "C",
    resolved_at     TEXT COLLATE "C"
);

CREATE UNIQUE INDEX alert_ledger_by_key ON alert_ledger (key);
CREATE INDEX alert_ledger_by_created ON alert_ledger (workspace_id, created_at);

-- How many alerts of a workspace the gateway first saw in each minute (the tiered model's
-- "alerts in the last hour", to the minute). Buckets older than two hours are pruned.
CREATE TABLE alert_first_seen_minutes (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    minute       BIGINT NOT NULL,
    alerts       BIGINT NOT NULL CHECK (alerts >= 0),
    PRIMARY KEY (workspace_id, minute)
);

-- Leases (issue 18, PostgreSQL only): which `serve` replica polls each integration. Expiry is
-- on the database clock only (`now()`), never a replica's. A row is never deleted while its
-- integration exists: a release only expires it, so `epoch` rises with every grant for the life
-- of the integration and a stale replica's epoch can never match a later grant.
CREATE TABLE leases (
    integration_id TEXT COLLATE "C" PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    owner          TEXT COLLATE "C" NOT NULL,
    epoch          BIGINT NOT NULL CHECK (epoch >= 0),
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX leases_by_owner ON leases (owner, expires_at);

CREATE FUNCTION leases_epoch_only_rises() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a lease epoch never goes back' USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER leases_epoch_only_rises
BEFORE UPDATE OF epoch ON leases
FOR EACH ROW WHEN (NEW.epoch < OLD.epoch)
EXECUTE FUNCTION leases_epoch_only_rises();

-- The live `serve` replicas, for an even share: each claims at most ceil(integrations / live).
CREATE TABLE replicas (
    id         TEXT COLLATE "C" PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);

-- The schema version (SQLite keeps it in PRAGMA user_version). One row, written by the gateway
-- after each step.
CREATE TABLE seliq_schema (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   BIGINT NOT NULL
);
