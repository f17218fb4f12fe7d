//! SLA policy versions and what the gateway has seen of each alert (issue 19).
//!
//! Policy bodies are JSON owned by [`crate::sla`]; the store keeps them opaque and append-only.
//! Alert rows carry typed severities and times, re-validated when read back.
//!
//! The alert ledger is shaped for bulk pulls (migration 0005): rows are appended in the order
//! they are first seen, and the only index that takes alerts in random order is the 16-byte
//! [`LedgerKey`]. Every row read by key is checked against the alert it was asked
//! for, so a key can never stand for another alert.

use super::sql::{
    DbError, DbResult, FromValue, OptionalExt, Row, ToValue, Tx, Value, ValueRef, args,
};
use chrono::{DateTime, SecondsFormat, Utc};
use seliq_connectors::Severity;
use sha2::{Digest, Sha256};

use super::{ReadTx, Result, WriteTx, corrupt};
use crate::ids::WorkspaceId;

/// One policy version: the gateway-wide template (`workspace_id` `None`) or a workspace's own.
#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub version: i64,
    pub workspace_id: Option<WorkspaceId>,
    pub body: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// Whether an alert's due times were computed on the wall clock or the business calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredClock {
    Wall,
    Business,
}

impl StoredClock {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredClock::Wall => "wall",
            StoredClock::Business => "business",
        }
    }
}

/// One alert as the SLA ledger knows it (keyed by workspace, source and vendor alert id).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSlaRow {
    pub workspace_id: WorkspaceId,
    pub source: String,
    pub alert_id: String,
    pub severity: Severity,
    pub created_at: DateTime<Utc>,
    pub policy_version: i64,
    pub tta_due: Option<DateTime<Utc>>,
    pub ttr_due: Option<DateTime<Utc>>,
    pub clock: Option<StoredClock>,
    pub first_seen_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const POLICY_COLUMNS: &str = "version, workspace_id, body, actor, created_at";
const ALERT_COLUMNS: &str = "workspace_id, source, alert_id, severity, created_at, policy_version, tta_due, ttr_due, clock, first_seen_at, acknowledged_at, resolved_at";

/// The ledger's lookup key of one alert: 4 bytes of the vendor's creation minute (minutes since
/// 1970, big-endian; 0 when the alert has no stable creation time), then 12 bytes of SHA-256 of
/// (workspace, source, alert id), length-prefixed.
///
/// Why the minute first: the key index is the one structure every new alert is inserted into,
/// and alerts reach the gateway in roughly the order the vendor created them. Led by the
/// creation minute, a batch's new keys land at the index's right edge: a commit dirties a
/// handful of index pages instead of one page per alert, which SQLite would write to the WAL
/// and again at checkpoint (measured: about a quarter of a bulk pull's CPU went there). An
/// alert's creation time never changes between versions, so a later version computes the same
/// key; an alert whose mapping fell back to a changing time files under minute 0 instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LedgerKey([u8; 16]);

impl LedgerKey {
    /// `created`: the vendor's creation time when it is stable across versions
    /// ([`seliq_connectors::Alert::created_stable`]), else `None`.
    pub fn of(
        workspace_id: WorkspaceId,
        source: &str,
        alert_id: &str,
        created: Option<DateTime<Utc>>,
    ) -> LedgerKey {
        let mut h = Sha256::new();
        h.update(b"seliq alert ledger key\0");
        h.update(workspace_id.as_bytes());
        for part in [source, alert_id] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&created.map_or(0, minute_prefix).to_be_bytes());
        key[4..].copy_from_slice(&digest[..12]);
        LedgerKey(key)
    }

    /// The identity part (without the creation minute).
    fn identity(&self) -> &[u8] {
        &self.0[4..]
    }
}

/// Minutes since 1970 of `t`, kept in 1..=u32::MAX (0 is the bucket of unstable times; u32
/// minutes reach past the year 10,000).
fn minute_prefix(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().div_euclid(60).clamp(1, i64::from(u32::MAX))).unwrap_or(1)
}

/// A ledger time as text: RFC 3339 UTC with all nine fractional digits, so every time of years
/// 0000–9999 has one width and text order is time order (the report's range scans rely on it).
/// Written without chrono's strftime machinery, which cost more than the insert it fed.
#[derive(Debug, Clone, Copy)]
struct LedgerTime(DateTime<Utc>);

impl ToValue for LedgerTime {
    fn to_value(&self) -> Value {
        Value::Text(self.0.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }
}

impl FromValue for LedgerTime {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        let text = String::from_value(v)?;
        // `FromStr` reads every width chrono writes, years beyond 9999 included; it also reads
        // the form rusqlite wrote for 0004's rows.
        text.parse::<DateTime<Utc>>()
            .map(LedgerTime)
            .map_err(|e| DbError::Decode(format!("{text:?} is not a time: {e}")))
    }
}

fn at(t: DateTime<Utc>) -> LedgerTime {
    LedgerTime(t)
}

fn at_opt(t: Option<DateTime<Utc>>) -> Option<LedgerTime> {
    t.map(LedgerTime)
}

fn get_at(r: &Row<'_>, i: usize) -> DbResult<DateTime<Utc>> {
    Ok(r.get::<LedgerTime>(i)?.0)
}

fn get_at_opt(r: &Row<'_>, i: usize) -> DbResult<Option<DateTime<Utc>>> {
    Ok(r.get::<Option<LedgerTime>>(i)?.map(|t| t.0))
}

fn policy_row(r: &Row<'_>) -> DbResult<PolicyRow> {
    let ws: Option<String> = r.get(1)?;
    Ok(PolicyRow {
        version: r.get(0)?,
        workspace_id: ws
            .map(|w| WorkspaceId::parse(&w).map_err(|e| corrupt("sla policy workspace", e)))
            .transpose()?,
        body: r.get(2)?,
        actor: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn severity(text: &str) -> DbResult<Severity> {
    Severity::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| corrupt("alert severity", format!("{:?} is not a severity", text)))
}

fn clock(text: Option<String>) -> DbResult<Option<StoredClock>> {
    match text.as_deref() {
        None => Ok(None),
        Some("wall") => Ok(Some(StoredClock::Wall)),
        Some("business") => Ok(Some(StoredClock::Business)),
        Some(other) => Err(corrupt("sla clock", format!("{other:?} is not a clock"))),
    }
}

fn alert_row(r: &Row<'_>) -> DbResult<AlertSlaRow> {
    let ws: String = r.get(0)?;
    let sev: String = r.get(3)?;
    Ok(AlertSlaRow {
        workspace_id: WorkspaceId::parse(&ws).map_err(|e| corrupt("alert workspace", e))?,
        source: r.get(1)?,
        alert_id: r.get(2)?,
        severity: severity(&sev)?,
        created_at: get_at(r, 4)?,
        policy_version: r.get(5)?,
        tta_due: get_at_opt(r, 6)?,
        ttr_due: get_at_opt(r, 7)?,
        clock: clock(r.get(8)?)?,
        first_seen_at: get_at(r, 9)?,
        acknowledged_at: get_at_opt(r, 10)?,
        resolved_at: get_at_opt(r, 11)?,
    })
}

/// The minute an instant falls in, counted from the epoch.
fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

impl ReadTx<'_> {
    /// The newest version of the gateway-wide template, if anyone changed it from the baseline.
    pub fn latest_sla_template(&self) -> Result<Option<PolicyRow>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {POLICY_COLUMNS} FROM sla_policies WHERE workspace_id IS NULL ORDER BY version DESC LIMIT 1"
                ),
                &[],
                policy_row,
            )
            .optional()?)
    }

    /// The newest version of one workspace's own policy, if it has one.
    pub fn latest_sla_policy(&self, workspace_id: WorkspaceId) -> Result<Option<PolicyRow>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {POLICY_COLUMNS} FROM sla_policies WHERE workspace_id = ?1 ORDER BY version DESC LIMIT 1"
                ),
                args![workspace_id.to_string()],
                policy_row,
            )
            .optional()?)
    }

    /// What the ledger holds of one alert; `key` is its [`LedgerKey`] (the stamper has it
    /// already, and sorts its lookups by it).
    pub fn alert_sla(
        &self,
        key: LedgerKey,
        workspace_id: WorkspaceId,
        source: &str,
        alert_id: &str,
    ) -> Result<Option<AlertSlaRow>> {
        let row = self
            .tx
            .query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alert_ledger WHERE key = ?1"),
                args![&key.0[..]],
                alert_row,
            )
            .optional()?;
        match row {
            Some(r)
                if r.workspace_id != workspace_id
                    || r.source != source
                    || r.alert_id != alert_id =>
            {
                Err(corrupt(
                    "alert ledger",
                    "a row's key does not match its alert (a key collision or an edited row)",
                )
                .into())
            }
            other => Ok(other),
        }
    }

    /// How many alerts of a workspace the gateway first saw in the hour before `now`, to the
    /// minute (the tiered model's "alerts in the last hour").
    pub fn alerts_first_seen_last_hour(
        &self,
        workspace_id: WorkspaceId,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let n: i64 = self.tx.query_row(
            "SELECT CAST(coalesce(sum(alerts), 0) AS BIGINT) FROM alert_first_seen_minutes WHERE workspace_id = ?1 AND minute > ?2 AND minute <= ?3",
            args![workspace_id.to_string(), minute_of(now) - 60, minute_of(now)],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Alerts of a workspace created by the vendor in `[since, until)`, oldest first.
    pub fn alert_sla_created_between(
        &self,
        workspace_id: WorkspaceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<AlertSlaRow>> {
        Ok(self.tx.query_map(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert_ledger WHERE workspace_id = ?1 AND created_at >= ?2 AND created_at < ?3 ORDER BY created_at, source, alert_id"
        ), args![workspace_id.to_string(), at(since), at(until)],
            alert_row,)?)
    }
}

impl WriteTx<'_> {
    /// Append a policy version; returns its number (one sequence for every workspace).
    pub fn insert_sla_policy(
        &self,
        workspace_id: Option<WorkspaceId>,
        body: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(self.tx.query_row(
            "INSERT INTO sla_policies (workspace_id, body, actor, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING version",
            args![workspace_id.map(|w| w.to_string()), body, actor, at],
            |r| r.get(0),
        )?)
    }

    /// Record one alert version. Severity, due times and policy version are the caller's (kept
    /// or recomputed by the stamper); `first_seen_at` and the first acknowledged and resolved
    /// times are never moved once set.
    /// `key` must be the row's own [`LedgerKey`] (the stamper has it already).
    pub fn upsert_alert_sla(&self, key: LedgerKey, row: &AlertSlaRow) -> Result<()> {
        debug_assert_eq!(
            key.identity(),
            LedgerKey::of(row.workspace_id, &row.source, &row.alert_id, None).identity()
        );
        upsert_ledger_row(&self.tx, key, row)?;
        Ok(())
    }

    /// Count `alerts` first seen at `at` into the workspace's minute buckets, and drop buckets
    /// older than two hours (only the last hour is ever read).
    pub fn count_first_seen(
        &self,
        workspace_id: WorkspaceId,
        at: DateTime<Utc>,
        alerts: u64,
    ) -> Result<()> {
        let minute = minute_of(at);
        let ws = workspace_id.to_string();
        self.tx.execute(
            "INSERT INTO alert_first_seen_minutes (workspace_id, minute, alerts) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace_id, minute) DO UPDATE SET alerts = alert_first_seen_minutes.alerts + excluded.alerts",
            args![ws, minute, i64::try_from(alerts).unwrap_or(i64::MAX)],
        )?;
        self.tx.execute(
            "DELETE FROM alert_first_seen_minutes WHERE workspace_id = ?1 AND minute < ?2",
            args![ws, minute - 120],
        )?;
        Ok(())
    }
}

fn upsert_ledger_row(tx: &Tx<'_>, key: LedgerKey, row: &AlertSlaRow) -> DbResult<()> {
    let changed = tx.execute(
        "INSERT INTO alert_ledger (key, workspace_id, source, alert_id, severity, created_at, policy_version, tta_due, ttr_due, clock, first_seen_at, acknowledged_at, resolved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (key) DO UPDATE SET
            severity = excluded.severity,
            created_at = excluded.created_at,
            policy_version = excluded.policy_version,
            tta_due = excluded.tta_due,
            ttr_due = excluded.ttr_due,
            clock = excluded.clock,
            acknowledged_at = coalesce(alert_ledger.acknowledged_at, excluded.acknowledged_at),
            resolved_at = coalesce(alert_ledger.resolved_at, excluded.resolved_at)
         WHERE alert_ledger.workspace_id = excluded.workspace_id
           AND alert_ledger.source = excluded.source
           AND alert_ledger.alert_id = excluded.alert_id",
        args![
        &key.0[..],
        row.workspace_id.to_string(),
        row.source,
        row.alert_id,
        row.severity.as_str(),
        at(row.created_at),
        row.policy_version,
        at_opt(row.tta_due),
        at_opt(row.ttr_due),
        row.clock.map(StoredClock::as_str),
        at(row.first_seen_at),
        at_opt(row.acknowledged_at),
            at_opt(row.resolved_at),
        ],
    )?;
    if changed != 1 {
        // The key's row belongs to another alert: refuse rather than merge two alerts.
        return Err(corrupt(
            "alert ledger",
            "a row's key does not match its alert (a key collision or an edited row)",
        ));
    }
    Ok(())
}

/// Migration 0005: copy 0004's `alert_sla` into `alert_ledger`, oldest first seen
/// first, then drop it. Runs inside the migration's transaction.
pub(super) fn copy_alert_sla_v4(tx: &Tx<'_>) -> DbResult<()> {
    let rows = tx.query_map(
        &format!(
            "SELECT {ALERT_COLUMNS} FROM alert_sla ORDER BY first_seen_at, workspace_id, source, alert_id"
        ),
        &[],
        alert_row,
    )?;
    for row in &rows {
        upsert_ledger_row(tx, stored_key(row), row)?;
    }
    tx.execute_batch("DROP TABLE alert_sla;")
}

/// The key of a row already in the ledger, from its stored creation time. Whether that time was
/// stable is not stored: a row is taken to have one (every vendor sends a creation time; the
/// fallback is for odd records).
fn stored_key(row: &AlertSlaRow) -> LedgerKey {
    LedgerKey::of(
        row.workspace_id,
        &row.source,
        &row.alert_id,
        Some(row.created_at),
    )
}

/// Migration 0006: every row's key gets its creation minute in front (see [`LedgerKey`]).
/// Runs inside the migration's transaction, on SQLite and PostgreSQL alike.
pub(super) fn rekey_alert_ledger(tx: &Tx<'_>) -> DbResult<()> {
    let rows = tx.query_map(
        "SELECT id, workspace_id, source, alert_id, created_at FROM alert_ledger ORDER BY id",
        &[],
        |r| {
            let ws: String = r.get(1)?;
            let ws = WorkspaceId::parse(&ws).map_err(|e| corrupt("alert workspace", e))?;
            let (source, alert_id): (String, String) = (r.get(2)?, r.get(3)?);
            let key = LedgerKey::of(ws, &source, &alert_id, Some(get_at(r, 4)?));
            Ok((r.get::<i64>(0)?, key))
        },
    )?;
    for (id, key) in &rows {
        tx.execute(
            "UPDATE alert_ledger SET key = ?1 WHERE id = ?2",
            args![&key.0[..], *id],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{test_store, test_workspace as workspace};

    /// The ledger row of `source`/`id` in `ws`, looked up under its own key.
    fn lookup(
        store: &mut crate::store::Store,
        ws: WorkspaceId,
        source: &str,
        id: &str,
    ) -> Result<Option<AlertSlaRow>> {
        let key = LedgerKey::of(ws, source, id, Some(t(8, 0)));
        store.read(|tx| tx.alert_sla(key, ws, source, id))
    }

    fn key_of(row: &AlertSlaRow) -> LedgerKey {
        stored_key(row)
    }

    /// A SQLite database as migrations 1..=`version` left it, written with their own SQL, with
    /// workspace `ws` (acme-corp).
    fn database_at(
        path: &std::path::Path,
        version: usize,
        ws: WorkspaceId,
    ) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        let steps = [
            include_str!("migrations/0001_initial.sql"),
            include_str!("migrations/0002_gateway_keys.sql"),
            include_str!("migrations/0003_api_tokens.sql"),
            include_str!("migrations/0004_sla.sql"),
            include_str!("migrations/0005_alert_ledger.sql"),
        ];
        for sql in &steps[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn.execute(
            "INSERT INTO workspaces (id, slug, description, plan, created_at) VALUES (?1, 'acme-corp', '', 'pro', ?2)",
            rusqlite::params![ws.to_string(), t(7, 0)],
        )
        .unwrap();
        conn
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap()
    }

    #[test]
    fn policies_share_one_sequence_and_are_append_only() {
        let (_d, mut store) = test_store();
        let ws = workspace(&mut store);
        let (a, b, c) = store
            .write(|tx| {
                Ok::<_, crate::store::StoreError>((
                    tx.insert_sla_policy(None, "{}", "alice", t(9, 0))?,
                    tx.insert_sla_policy(Some(ws), "{\"x\":1}", "alice", t(9, 1))?,
                    tx.insert_sla_policy(None, "{\"y\":2}", "bob", t(9, 2))?,
                ))
            })
            .unwrap();
        assert!(a < b && b < c);
        let (tpl, own) = store
            .read(|tx| {
                Ok::<_, crate::store::StoreError>((
                    tx.latest_sla_template()?,
                    tx.latest_sla_policy(ws)?,
                ))
            })
            .unwrap();
        assert_eq!(tpl.unwrap().version, c);
        let own = own.unwrap();
        assert_eq!((own.version, own.workspace_id), (b, Some(ws)));
        for sql in [
            "UPDATE sla_policies SET body = '{}'",
            "DELETE FROM sla_policies",
        ] {
            let refused = store.write(|tx| {
                tx.tx
                    .execute(sql, &[])
                    .map_err(crate::store::StoreError::from)
            });
            assert!(
                format!("{refused:?}").contains("append-only"),
                "{sql}: {refused:?}"
            );
        }
    }

    #[test]
    fn upsert_keeps_first_seen_and_the_first_acknowledgement() {
        let (_d, mut store) = test_store();
        let ws = workspace(&mut store);
        let mut row = AlertSlaRow {
            workspace_id: ws,
            source: "crowdstrike:abc".into(),
            alert_id: "a1".into(),
            severity: Severity::High,
            created_at: t(8, 0),
            policy_version: 0,
            tta_due: Some(t(9, 0)),
            ttr_due: Some(t(16, 0)),
            clock: Some(StoredClock::Wall),
            first_seen_at: t(8, 1),
            acknowledged_at: None,
            resolved_at: None,
        };
        store
            .write(|tx| tx.upsert_alert_sla(key_of(&row), &row))
            .unwrap();
        let mut later = row.clone();
        later.first_seen_at = t(8, 30);
        later.acknowledged_at = Some(t(8, 20));
        store
            .write(|tx| tx.upsert_alert_sla(key_of(&later), &later))
            .unwrap();
        let mut again = later.clone();
        again.acknowledged_at = Some(t(8, 50));
        again.severity = Severity::Critical;
        again.tta_due = Some(t(8, 15));
        store
            .write(|tx| tx.upsert_alert_sla(key_of(&again), &again))
            .unwrap();
        let got = lookup(&mut store, ws, "crowdstrike:abc", "a1")
            .unwrap()
            .unwrap();
        row.acknowledged_at = Some(t(8, 20));
        row.severity = Severity::Critical;
        row.tta_due = Some(t(8, 15));
        assert_eq!(got, row);
        store
            .write(|tx| {
                tx.count_first_seen(ws, t(8, 1), 1)?;
                tx.count_first_seen(ws, t(8, 1), 2)?;
                // Two hours and more before the newest bucket: pruned, never counted.
                tx.count_first_seen(ws, t(5, 0), 7)?;
                tx.count_first_seen(ws, t(9, 0), 4)
            })
            .unwrap();
        let mut seen = |at| {
            store
                .read(|tx| tx.alerts_first_seen_last_hour(ws, at))
                .unwrap()
        };
        assert_eq!(seen(t(8, 30)), 3);
        assert_eq!(seen(t(9, 0)), 7);
        assert_eq!(seen(t(9, 1)), 4, "8:01 is more than an hour before 9:01");
        assert_eq!(seen(t(6, 0)), 0, "the 5:00 bucket was pruned");
        let between = store
            .read(|tx| tx.alert_sla_created_between(ws, t(7, 0), t(8, 1)))
            .unwrap();
        assert_eq!(between.len(), 1);
    }

    #[test]
    fn a_row_is_found_only_under_its_own_alert_and_an_edited_row_is_refused() {
        let (_d, mut store) = test_store();
        let ws = workspace(&mut store);
        let row = AlertSlaRow {
            workspace_id: ws,
            source: "crowdstrike:abc".into(),
            alert_id: "a1".into(),
            severity: Severity::Low,
            created_at: t(8, 0),
            policy_version: 3,
            tta_due: None,
            ttr_due: None,
            clock: None,
            first_seen_at: t(8, 1),
            acknowledged_at: None,
            resolved_at: Some(t(8, 2)),
        };
        store
            .write(|tx| tx.upsert_alert_sla(key_of(&row), &row))
            .unwrap();
        let get = |store: &mut crate::store::Store, src: &str, id: &str| lookup(store, ws, src, id);
        assert_eq!(
            get(&mut store, "crowdstrike:abc", "a1").unwrap(),
            Some(row.clone())
        );
        // Length-prefixed parts: ("crowdstrike:ab", "ca1") is another alert.
        assert_eq!(get(&mut store, "crowdstrike:ab", "ca1").unwrap(), None);
        // A row whose identity no longer matches its key (edited by hand) is refused, on read
        // and on write, instead of being taken for the alert asked about.
        store
            .write(|tx| {
                tx.tx
                    .execute("UPDATE alert_ledger SET alert_id = 'other'", &[])
                    .map_err(crate::store::StoreError::from)
            })
            .unwrap();
        let read = get(&mut store, "crowdstrike:abc", "a1");
        assert!(format!("{read:?}").contains("does not match"), "{read:?}");
        let write = store.write(|tx| tx.upsert_alert_sla(key_of(&row), &row));
        assert!(format!("{write:?}").contains("does not match"), "{write:?}");
    }

    #[test]
    fn migration_5_carries_the_rows_of_0004_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seliq.db");
        let ws = WorkspaceId::new();
        {
            let conn = database_at(&path, 4, ws);
            conn.execute(
                "INSERT INTO alert_sla VALUES (?1, 'crowdstrike:abc', 'a1', 'high', ?2, 5, ?3, NULL, 'wall', ?4, ?5, NULL)",
                rusqlite::params![ws.to_string(), t(8, 0), t(9, 0), t(8, 1), t(8, 20)],
            )
            .unwrap();
        }
        let mut store = crate::store::Store::open(&path).unwrap();
        let got = lookup(&mut store, ws, "crowdstrike:abc", "a1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.severity, got.policy_version, got.tta_due, got.ttr_due),
            (Severity::High, 5, Some(t(9, 0)), None)
        );
        assert_eq!(
            (got.first_seen_at, got.acknowledged_at, got.clock),
            (t(8, 1), Some(t(8, 20)), Some(StoredClock::Wall))
        );
        let old: i64 = store
            .read(|tx| {
                Ok::<_, crate::store::StoreError>(tx.tx.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'alert_sla'",
                    &[],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(old, 0, "0004's table is dropped");
    }

    #[test]
    fn migration_6_puts_the_creation_minute_in_front_of_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seliq.db");
        let ws = WorkspaceId::new();
        {
            // With a row under a 0005 key (a bare hash).
            let conn = database_at(&path, 5, ws);
            conn.execute(
                "INSERT INTO alert_ledger (key, workspace_id, source, alert_id, severity, created_at, policy_version, first_seen_at) VALUES (?1, ?2, 'crowdstrike:abc', 'a1', 'high', ?3, 5, ?4)",
                rusqlite::params![
                    [7u8; 16],
                    ws.to_string(),
                    "2026-12-03T08:00:00.000000000Z",
                    "2026-12-03T08:01:00.000000000Z"
                ],
            )
            .unwrap();
        }
        let mut store = crate::store::Store::open(&path).unwrap();
        let got = lookup(&mut store, ws, "crowdstrike:abc", "a1")
            .unwrap()
            .expect("found under its new key");
        assert_eq!((got.policy_version, got.first_seen_at), (5, t(8, 1)));
    }

    #[test]
    fn migration_6_rekeys_on_postgres_too() {
        if std::env::var(crate::store::TEST_STORE_ENV).map_or(true, |v| v != "postgres") {
            return; // CI runs the unit tests once more with SELIQ_TEST_STORE=postgres
        }
        let (_schema, url) = crate::store::test_postgres_url();
        let ws = WorkspaceId::new();
        {
            // A schema as version 5 left it, with a row under a 0005 key.
            let target = crate::store::PgTarget::parse(&url).unwrap();
            let c = super::super::pg::PgConn::connect(&target).unwrap();
            c.batch(include_str!("pg/0001_schema.sql")).unwrap();
            c.batch(&format!(
                "INSERT INTO seliq_schema (singleton, version) VALUES (TRUE, 5);
                 INSERT INTO workspaces (id, slug, description, plan, created_at) VALUES ('{ws}', 'acme-corp', '', 'pro', 'x');
                 INSERT INTO alert_ledger (key, workspace_id, source, alert_id, severity, created_at, policy_version, first_seen_at)
                 VALUES ('\\x07070707070707070707070707070707', '{ws}', 'crowdstrike:abc', 'a1', 'high', '2026-12-03T08:00:00.000000000Z', 5, '2026-12-03T08:01:00.000000000Z');"
            ))
            .unwrap();
        }
        let database = crate::store::Database::parse(&url).unwrap();
        let mut store = crate::store::Store::connect(&database).unwrap();
        let got = lookup(&mut store, ws, "crowdstrike:abc", "a1")
            .unwrap()
            .expect("found under its new key");
        assert_eq!((got.policy_version, got.first_seen_at), (5, t(8, 1)));
    }

    #[test]
    fn keys_sort_by_creation_minute_and_an_unstable_time_files_under_zero() {
        let ws = WorkspaceId::new();
        let key = |id: &str, created| LedgerKey::of(ws, "crowdstrike:abc", id, created);
        // Whatever the hashes, a later minute sorts after: new alerts go to the index's edge.
        for (a, b) in [("a1", "a2"), ("a2", "a1"), ("zz", "a")] {
            assert!(key(a, Some(t(8, 0))) < key(b, Some(t(8, 1))));
        }
        assert_eq!(key("a1", None).0[..4], [0, 0, 0, 0]);
        assert!(key("a1", None) < key("a1", Some(DateTime::<Utc>::MIN_UTC)));
        assert_eq!(
            key("a1", Some(t(8, 0) + chrono::Duration::seconds(59))),
            key("a1", Some(t(8, 0))),
            "one minute, one key"
        );
        assert_eq!(
            key("a1", None).identity(),
            key("a1", Some(t(8, 0))).identity()
        );
        assert_ne!(key("a1", None).identity(), key("a2", None).identity());
    }

    #[test]
    fn ledger_times_round_trip_at_any_instant_and_sort_as_text() {
        let (_d, mut store) = test_store();
        for t in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::from_timestamp(1_000_000_000_000, 5).unwrap(),
            t(8, 0) + chrono::Duration::nanoseconds(810),
        ] {
            let back: LedgerTime = store
                .read(|tx| {
                    Ok::<_, crate::store::StoreError>(tx.tx.query_row(
                        "SELECT ?1",
                        args![at(t)],
                        |r| r.get(0),
                    )?)
                })
                .unwrap();
            assert_eq!(back.0, t);
        }
        // One width for years 0000-9999: text order is time order, to the nanosecond.
        let (a, b) = (at(t(8, 0)), at(t(8, 0) + chrono::Duration::nanoseconds(1)));
        let (a, b) = (a.to_value(), b.to_value());
        let text = |o: &Value| match o {
            Value::Text(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&a).len(), text(&b).len());
        assert!(text(&a) < text(&b));
    }
}
