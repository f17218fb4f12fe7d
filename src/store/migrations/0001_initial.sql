-- Workspaces are never deleted: `workspace delete` tombstones the row (the audit chain and the
-- slug outlive it) and crypto-shreds everything secret.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    plan        TEXT NOT NULL CHECK (plan IN ('starter', 'pro', 'enterprise')),
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
) STRICT;

CREATE TRIGGER workspaces_identity_immutable
BEFORE UPDATE OF id, slug, created_at ON workspaces
WHEN NEW.id IS NOT OLD.id OR NEW.slug IS NOT OLD.slug OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'workspace slugs are immutable');
END;

-- `INSERT OR REPLACE` deletes the old row without firing delete triggers (recursive_triggers is
-- off by default), so guard the identity on insert too.
CREATE TRIGGER workspaces_no_replace
BEFORE INSERT ON workspaces
WHEN EXISTS (SELECT 1 FROM workspaces WHERE id = NEW.id OR slug = NEW.slug)
BEGIN
    SELECT RAISE(ABORT, 'workspace slugs are immutable');
END;

CREATE TRIGGER workspaces_never_deleted
BEFORE DELETE ON workspaces
BEGIN
    SELECT RAISE(ABORT, 'workspaces are tombstoned, never deleted');
END;

-- One data key per workspace and version, stored only wrapped under the master key.
CREATE TABLE workspace_keys (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    version      INTEGER NOT NULL CHECK (version >= 1),
    kek_id       TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    seals        INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, version)
) STRICT;

CREATE TABLE integrations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    settings     TEXT NOT NULL,
    source       TEXT NOT NULL,
    -- First-run window of a pull when no checkpoint exists yet.
    first_window_secs INTEGER NOT NULL DEFAULT 86400,
    created_at   TEXT NOT NULL,
    UNIQUE (workspace_id, name)
) STRICT;

CREATE TRIGGER integrations_identity_immutable
BEFORE UPDATE OF id, workspace_id, source ON integrations
WHEN NEW.id IS NOT OLD.id OR NEW.workspace_id IS NOT OLD.workspace_id OR NEW.source IS NOT OLD.source
BEGIN
    SELECT RAISE(ABORT, 'an integration cannot move to another workspace or source');
END;

CREATE TRIGGER integrations_no_replace
BEFORE INSERT ON integrations
WHEN EXISTS (SELECT 1 FROM integrations WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'an integration cannot move to another workspace or source');
END;

-- The binding guard: one row per bound source. The primary key makes an exact duplicate
-- impossible; overlapping Splunk scopes are checked inside the same IMMEDIATE transaction.
CREATE TABLE bindings (
    source         TEXT PRIMARY KEY,
    binding_key    TEXT NOT NULL,
    source_json    TEXT NOT NULL,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    integration_id TEXT NOT NULL UNIQUE REFERENCES integrations(id) ON DELETE CASCADE
) STRICT;
CREATE INDEX bindings_by_key ON bindings (binding_key);

CREATE TABLE credentials (
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL CHECK (version >= 1),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'current', 'previous')),
    blob           BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (integration_id, version)
) STRICT;
CREATE UNIQUE INDEX credentials_one_current ON credentials (integration_id) WHERE state = 'current';
CREATE UNIQUE INDEX credentials_one_pending ON credentials (integration_id) WHERE state = 'pending';

CREATE TABLE checkpoints (
    integration_id TEXT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    cursor         TEXT NOT NULL,
    sink           TEXT,
    sink_offset    INTEGER,
    updated_at     TEXT NOT NULL
) STRICT;

-- The audit chain. Rows are append-only; the one exception is retention pruning of a range a
-- sealed segment manifest already covers.
CREATE TABLE audit_entries (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    request_id   TEXT NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
) STRICT;

CREATE TABLE audit_segments (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    last_hash    TEXT NOT NULL,
    checkpoint   TEXT NOT NULL,
    pruned_at    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, first_seq)
) STRICT;

CREATE TABLE audit_checkpoints (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    seq          INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    at           TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    signature    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
) STRICT;

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

CREATE TRIGGER audit_entries_delete_only_pruned BEFORE DELETE ON audit_entries
WHEN NOT EXISTS (
    SELECT 1 FROM audit_segments s
    WHERE s.workspace_id = OLD.workspace_id AND OLD.seq BETWEEN s.first_seq AND s.last_seq
)
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

-- REPLACE would delete the old row without firing the delete triggers: refuse it on insert.
CREATE TRIGGER audit_entries_no_replace BEFORE INSERT ON audit_entries
WHEN EXISTS (SELECT 1 FROM audit_entries WHERE workspace_id = NEW.workspace_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

CREATE TRIGGER audit_segments_no_replace BEFORE INSERT ON audit_segments
WHEN EXISTS (SELECT 1 FROM audit_segments WHERE workspace_id = NEW.workspace_id AND first_seq = NEW.first_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit segment manifests are append-only');
END;

-- IGNORE, not ABORT: the gateway itself inserts checkpoints with INSERT OR IGNORE and expects an
-- existing one at the same seq to stay as it is.
CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE workspace_id = NEW.workspace_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(IGNORE);
END;

CREATE TRIGGER audit_segments_no_update BEFORE UPDATE ON audit_segments
BEGIN
    SELECT RAISE(ABORT, 'audit segment manifests are append-only');
END;

CREATE TRIGGER audit_segments_no_delete BEFORE DELETE ON audit_segments
BEGIN
    SELECT RAISE(ABORT, 'audit segment manifests are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

-- File sinks of `pull --output`: the length of the file at the last committed batch. Written in
-- the same transaction as the checkpoint of that batch; recovery truncates anything beyond it.
CREATE TABLE sinks (
    path             TEXT PRIMARY KEY,
    committed_offset INTEGER NOT NULL
) STRICT;
