//! SLA policy versions and what the gateway has seen of each alert (issue 19).
//!
//! Policy bodies are JSON owned by [`crate::sla`]; the store keeps them opaque and append-only.
//! Alert rows carry typed severities and times, re-validated when read back.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use seliq_connectors::Severity;

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

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRow> {
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

fn severity(text: &str) -> rusqlite::Result<Severity> {
    Severity::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| corrupt("alert severity", format!("{:?} is not a severity", text)))
}

fn clock(text: Option<String>) -> rusqlite::Result<Option<StoredClock>> {
    match text.as_deref() {
        None => Ok(None),
        Some("wall") => Ok(Some(StoredClock::Wall)),
        Some("business") => Ok(Some(StoredClock::Business)),
        Some(other) => Err(corrupt("sla clock", format!("{other:?} is not a clock"))),
    }
}

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertSlaRow> {
    let ws: String = r.get(0)?;
    let sev: String = r.get(3)?;
    Ok(AlertSlaRow {
        workspace_id: WorkspaceId::parse(&ws).map_err(|e| corrupt("alert workspace", e))?,
        source: r.get(1)?,
        alert_id: r.get(2)?,
        severity: severity(&sev)?,
        created_at: r.get(4)?,
        policy_version: r.get(5)?,
        tta_due: r.get(6)?,
        ttr_due: r.get(7)?,
        clock: clock(r.get(8)?)?,
        first_seen_at: r.get(9)?,
        acknowledged_at: r.get(10)?,
        resolved_at: r.get(11)?,
    })
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
                [],
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
                [workspace_id.to_string()],
                policy_row,
            )
            .optional()?)
    }

    /// What the ledger holds of one alert.
    pub fn alert_sla(
        &self,
        workspace_id: WorkspaceId,
        source: &str,
        alert_id: &str,
    ) -> Result<Option<AlertSlaRow>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert_sla WHERE workspace_id = ?1 AND source = ?2 AND alert_id = ?3"
        ))?;
        Ok(stmt
            .query_row(
                params![workspace_id.to_string(), source, alert_id],
                alert_row,
            )
            .optional()?)
    }

    /// How many alerts of a workspace the gateway first saw at or after `since` (the tiered
    /// model's "alerts in the last hour").
    pub fn alerts_first_seen_since(
        &self,
        workspace_id: WorkspaceId,
        since: DateTime<Utc>,
    ) -> Result<u64> {
        let n: i64 = self.tx.query_row(
            "SELECT count(*) FROM alert_sla WHERE workspace_id = ?1 AND first_seen_at >= ?2",
            params![workspace_id.to_string(), since],
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
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert_sla WHERE workspace_id = ?1 AND created_at >= ?2 AND created_at < ?3 ORDER BY created_at, source, alert_id"
        ))?;
        let rows = stmt.query_map(params![workspace_id.to_string(), since, until], alert_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
        self.tx.execute(
            "INSERT INTO sla_policies (workspace_id, body, actor, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![workspace_id.map(|w| w.to_string()), body, actor, at],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Record one alert version. Severity, due times and policy version are the caller's (kept
    /// or recomputed by the stamper); `first_seen_at` and the first acknowledged and resolved
    /// times are never moved once set.
    pub fn upsert_alert_sla(&self, row: &AlertSlaRow) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO alert_sla (workspace_id, source, alert_id, severity, created_at, policy_version, tta_due, ttr_due, clock, first_seen_at, acknowledged_at, resolved_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (workspace_id, source, alert_id) DO UPDATE SET
                severity = excluded.severity,
                created_at = excluded.created_at,
                policy_version = excluded.policy_version,
                tta_due = excluded.tta_due,
                ttr_due = excluded.ttr_due,
                clock = excluded.clock,
                acknowledged_at = coalesce(alert_sla.acknowledged_at, excluded.acknowledged_at),
                resolved_at = coalesce(alert_sla.resolved_at, excluded.resolved_at)",
        )?;
        stmt.execute(params![
            row.workspace_id.to_string(),
            row.source,
            row.alert_id,
            row.severity.as_str(),
            row.created_at,
            row.policy_version,
            row.tta_due,
            row.ttr_due,
            row.clock.map(StoredClock::as_str),
            row.first_seen_at,
            row.acknowledged_at,
            row.resolved_at,
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::slug::Slug;
    use crate::store::test_store;
    use crate::store::{Plan, WorkspaceRow};

    fn workspace(store: &mut crate::store::Store) -> WorkspaceId {
        let id = WorkspaceId::new();
        store
            .write(|tx| {
                tx.insert_workspace(&WorkspaceRow {
                    id,
                    slug: Slug::parse("acme-corp").unwrap(),
                    description: String::new(),
                    plan: Plan::Pro,
                    created_at: Utc::now(),
                    deleted_at: None,
                })
            })
            .unwrap();
        id
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
                    .execute(sql, [])
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
        store.write(|tx| tx.upsert_alert_sla(&row)).unwrap();
        let mut later = row.clone();
        later.first_seen_at = t(8, 30);
        later.acknowledged_at = Some(t(8, 20));
        store.write(|tx| tx.upsert_alert_sla(&later)).unwrap();
        let mut again = later.clone();
        again.acknowledged_at = Some(t(8, 50));
        again.severity = Severity::Critical;
        again.tta_due = Some(t(8, 15));
        store.write(|tx| tx.upsert_alert_sla(&again)).unwrap();
        let got = store
            .read(|tx| tx.alert_sla(ws, "crowdstrike:abc", "a1"))
            .unwrap()
            .unwrap();
        row.acknowledged_at = Some(t(8, 20));
        row.severity = Severity::Critical;
        row.tta_due = Some(t(8, 15));
        assert_eq!(got, row);
        let seen = store
            .read(|tx| tx.alerts_first_seen_since(ws, t(8, 0)))
            .unwrap();
        assert_eq!(seen, 1);
        let between = store
            .read(|tx| tx.alert_sla_created_between(ws, t(7, 0), t(8, 1)))
            .unwrap();
        assert_eq!(between.len(), 1);
    }
}
