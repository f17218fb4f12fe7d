-- SLA policies (issue 19). One append-only version sequence shared by the gateway-wide template
-- (workspace_id NULL) and every workspace's own policy: a stamp's `policy_version` names exactly
-- one row, and every change is a new row (nothing is edited in place).
CREATE TABLE sla_policies (
    version      INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT REFERENCES workspaces(id),
    -- The whole policy after the change, as JSON: the template, or a workspace's overrides,
    -- calendar and assignment. Validated again when read back.
    body         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;

CREATE INDEX sla_policies_by_workspace ON sla_policies (workspace_id, version);

CREATE TRIGGER sla_policies_no_update BEFORE UPDATE ON sla_policies
BEGIN
    SELECT RAISE(ABORT, 'sla policies are append-only');
END;

CREATE TRIGGER sla_policies_no_delete BEFORE DELETE ON sla_policies
BEGIN
    SELECT RAISE(ABORT, 'sla policies are append-only');
END;

-- What the gateway has seen of each alert, for its due times (kept across versions unless the
-- severity changes) and attainment (first acknowledged, first resolved).
CREATE TABLE alert_sla (
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id),
    source          TEXT NOT NULL,
    alert_id        TEXT NOT NULL,
    severity        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    policy_version  INTEGER NOT NULL,
    tta_due         TEXT,
    ttr_due         TEXT,
    clock           TEXT,
    first_seen_at   TEXT NOT NULL,
    acknowledged_at TEXT,
    resolved_at     TEXT,
    PRIMARY KEY (workspace_id, source, alert_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX alert_sla_by_first_seen ON alert_sla (workspace_id, first_seen_at);
CREATE INDEX alert_sla_by_created ON alert_sla (workspace_id, created_at);
