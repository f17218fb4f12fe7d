-- The SLA ledger, reshaped for write volume (issue 20). 0004's `alert_sla` was clustered on
-- (workspace, source, alert id) with text times: every alert of a bulk pull landed on a random
-- page of a wide tree, so each batch rewrote about one 4 KiB page per alert into the WAL, and
-- the per-batch "alerts in the last hour" count walked a second index.
--
-- Here rows are appended in the order they are first seen (rowid), and the only index that
-- takes alerts in random order is a 16-byte key:
-- SHA-256 of (workspace, source, alert id), truncated, computed by the gateway. The identity
-- columns are kept and checked on every read, so a key never stands for another alert.
-- The rows of 0004's table are copied by the gateway's migration code, then it is dropped.
CREATE TABLE alert_ledger (
    id              INTEGER PRIMARY KEY,
    key             BLOB NOT NULL CHECK (length(key) = 16),
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
    resolved_at     TEXT
) STRICT;

CREATE UNIQUE INDEX alert_ledger_by_key ON alert_ledger (key);
CREATE INDEX alert_ledger_by_created ON alert_ledger (workspace_id, created_at);

-- How many alerts of a workspace the gateway first saw in each minute (the tiered model's
-- "alerts in the last hour", to the minute). Buckets older than two hours are pruned.
CREATE TABLE alert_first_seen_minutes (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    minute       INTEGER NOT NULL,
    alerts       INTEGER NOT NULL CHECK (alerts >= 0),
    PRIMARY KEY (workspace_id, minute)
) STRICT, WITHOUT ROWID;
