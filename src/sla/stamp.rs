//! Stamping a batch: each alert's `sla` and `routing` fields, and its ledger row.
//!
//! Due times come from the vendor's creation time and the alert's severity under the policy in
//! force when the gateway first saw the alert; a later version keeps them (and the policy version
//! that set them) unless its severity changed, in which case they are recomputed from the creation
//! time under the policy in force now. Routing is decided at the moment of stamping (the instant
//! the alert reaches the stream), with the workspace's count of alerts first seen in the last
//! hour.
//!
//! The ledger is read through its own connection (SQLite's WAL or PostgreSQL's MVCC: readers
//! never wait for the committer), and written by the committer in the batch's checkpoint transaction, so a batch
//! that is not committed leaves no ledger trace and is stamped the same way when fetched again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use seliq_connectors::{Alert, Stage};
use seliq_sla::{Clock, Policy};
use serde::Serialize;

use super::{from_ts, severity, to_ts};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::store::{AlertSlaRow, LedgerKey, Store, StoredClock};

/// A read connection to the alert ledger, shared by every integration of one process, and the
/// one thread that stamps with it.
pub struct Ledger {
    store: Mutex<Store>,
    /// Work for the ledger's thread. Its connection serves one stamp at a time anyway, so one
    /// thread does all of it: the blocking pool would start a thread per waiting batch (about a
    /// hundred in the first round of 10,000 polls), each keeping its own allocator heap.
    jobs: std::sync::mpsc::Sender<LedgerJob>,
}

type LedgerJob = Box<dyn FnOnce() + Send>;

impl Ledger {
    /// A second connection to `store`'s database, and its thread (which ends with the ledger).
    pub fn open(store: &Store) -> Result<Arc<Ledger>> {
        let (jobs, queue) = std::sync::mpsc::channel::<LedgerJob>();
        std::thread::Builder::new()
            .name("sla-ledger".to_owned())
            .spawn(move || {
                for job in queue {
                    // A panicking job fails its own batch (its answer is dropped), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| Error::Runtime(format!("cannot start the SLA ledger thread: {e}")))?;
        Ok(Arc::new(Ledger {
            store: Mutex::new(store.reopen()?),
            jobs,
        }))
    }

    /// Run `f` on the ledger's thread, so async workers keep fetching meanwhile.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(f());
            }))
            .map_err(|_| Error::Runtime("the SLA ledger thread has stopped".to_owned()))?;
        answered.await.map_err(|_| {
            Error::Runtime("stamping the batch failed on the SLA ledger thread".to_owned())
        })
    }
}

/// One workspace's policy for one pull (or one `serve` poll): a change applies from the next.
pub struct Stamper {
    pub workspace_id: WorkspaceId,
    /// Shared: every integration of a workspace stamps under one policy value.
    pub policy: Arc<Policy>,
    pub ledger: Arc<Ledger>,
}

/// What stamping a batch gives: per alert, the fields to add to its line (empty when the alert
/// has neither an SLA nor routing), and what the committer writes: one ledger row per alert
/// (two versions of one alert in a batch give one row) and how many were first seen, at `at`.
#[derive(Debug)]
pub struct Stamped {
    pub workspace_id: WorkspaceId,
    pub extras: Vec<Vec<u8>>,
    /// Sorted by key.
    pub rows: Vec<(LedgerKey, AlertSlaRow)>,
    pub first_seen: u64,
    pub at: DateTime<Utc>,
}

#[derive(Serialize)]
struct SlaField<'a> {
    policy_version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tta_due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttr_due: Option<String>,
    clock: &'a str,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Stamper {
    /// What stamping an empty batch gives, without touching the ledger.
    pub fn nothing(&self, now: DateTime<Utc>) -> Stamped {
        Stamped {
            workspace_id: self.workspace_id,
            extras: Vec::new(),
            rows: Vec::new(),
            first_seen: 0,
            at: now,
        }
    }

    /// Stamp `alerts` (in order: two versions of one alert in a batch see each other).
    pub fn stamp(&self, alerts: &[Alert], now: DateTime<Utc>) -> Result<Stamped> {
        if alerts.is_empty() {
            return Ok(self.nothing(now));
        }
        let mut store = self
            .ledger
            .store
            .lock()
            .map_err(|_| Error::Runtime("the SLA ledger lock is poisoned".to_owned()))?;
        let ws = self.workspace_id;
        store.read(|tx| {
            // Only a tiered model with a peak threshold reads the count: skip the query otherwise.
            let mut recent = if self.policy.counts_recent_alerts() {
                tx.alerts_first_seen_last_hour(ws, now)?
            } else {
                0
            };
            // The ledger is read in key order: neighbouring keys share index pages, so each page
            // is read once per batch instead of once per alert (the read connection's cache is
            // emptied by every commit of another connection).
            let keys: Vec<LedgerKey> = alerts
                .iter()
                .map(|a| {
                    LedgerKey::of(
                        ws,
                        &a.source,
                        &a.id,
                        a.created_stable.then_some(a.created_at),
                    )
                })
                .collect();
            let mut order: Vec<usize> = (0..alerts.len()).collect();
            order.sort_unstable_by_key(|&i| keys[i]);
            order.dedup_by_key(|i| keys[*i]);
            let mut stored: HashMap<LedgerKey, AlertSlaRow> = HashMap::new();
            for i in order {
                let (a, key) = (&alerts[i], keys[i]);
                if let Some(row) = tx.alert_sla(key, ws, &a.source, &a.id)? {
                    stored.insert(key, row);
                }
            }
            let mut in_batch: HashMap<LedgerKey, usize> = HashMap::new();
            let mut out = Stamped {
                workspace_id: ws,
                extras: Vec::with_capacity(alerts.len()),
                rows: Vec::with_capacity(alerts.len()),
                first_seen: 0,
                at: now,
            };
            for (alert, &key) in alerts.iter().zip(&keys) {
                let earlier = in_batch.get(&key).copied();
                let prior = match earlier {
                    Some(i) => Some(&out.rows[i].1),
                    None => stored.get(&key),
                };
                if prior.is_none() {
                    recent += 1;
                    out.first_seen += 1;
                }
                let row = self.row(alert, prior, now);
                let routing = to_ts(now).and_then(|at| seliq_sla::route(&self.policy, at, recent));
                out.extras.push(extra(&row, routing.as_ref())?);
                match earlier {
                    // The later version carries the earlier one's first times: it replaces it.
                    Some(i) => out.rows[i].1 = row,
                    None => {
                        in_batch.insert(key, out.rows.len());
                        out.rows.push((key, row));
                    }
                }
            }
            // Written in key order too, for the same reason.
            out.rows.sort_unstable_by_key(|(key, _)| *key);
            Ok(out)
        })
    }

    fn row(&self, alert: &Alert, prior: Option<&AlertSlaRow>, now: DateTime<Utc>) -> AlertSlaRow {
        let (policy_version, tta_due, ttr_due, clock) = match prior {
            Some(p) if p.severity == alert.severity => {
                (p.policy_version, p.tta_due, p.ttr_due, p.clock)
            }
            _ => {
                let stamp = to_ts(alert.created_at).and_then(|created| {
                    seliq_sla::sla_for(&self.policy, severity(alert.severity), created)
                });
                match stamp {
                    Some(s) => (
                        s.policy_version,
                        s.tta_due.and_then(from_ts),
                        s.ttr_due.and_then(from_ts),
                        Some(match s.clock {
                            Clock::Wall => StoredClock::Wall,
                            Clock::Business => StoredClock::Business,
                        }),
                    ),
                    None => (self.policy.version, None, None, None),
                }
            }
        };
        // The vendor's last-modified time of the first version seen in a stage, kept within
        // [created, now]: a vendor clock ahead of ours cannot make an alert look answered early
        // or in the future. The upsert never moves a time once set.
        let seen_at = alert
            .updated_at
            .clamp(alert.created_at, now.max(alert.created_at));
        AlertSlaRow {
            workspace_id: self.workspace_id,
            source: alert.source.clone(),
            alert_id: alert.id.clone(),
            severity: alert.severity,
            created_at: alert.created_at,
            policy_version,
            tta_due,
            ttr_due,
            clock,
            first_seen_at: prior.map_or(now, |p| p.first_seen_at),
            acknowledged_at: prior
                .and_then(|p| p.acknowledged_at)
                .or((alert.stage >= Stage::Acknowledged).then_some(seen_at)),
            resolved_at: prior
                .and_then(|p| p.resolved_at)
                .or((alert.stage >= Stage::Resolved).then_some(seen_at)),
        }
    }
}

/// `,"sla":{…},"routing":{…}`, each only when there is one.
fn extra(row: &AlertSlaRow, routing: Option<&seliq_sla::RoutingStamp>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let json = |e: serde_json::Error| Error::Runtime(format!("cannot encode a stamp: {e}"));
    if let Some(clock) = row.clock {
        out.extend_from_slice(b",\"sla\":");
        serde_json::to_writer(
            &mut out,
            &SlaField {
                policy_version: row.policy_version,
                tta_due: row.tta_due.map(rfc3339),
                ttr_due: row.ttr_due.map(rfc3339),
                clock: clock.as_str(),
            },
        )
        .map_err(json)?;
    }
    if let Some(r) = routing {
        out.extend_from_slice(b",\"routing\":");
        serde_json::to_writer(&mut out, r).map_err(json)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use seliq_connectors::Severity;
    use seliq_connectors::alert::AlertParts;
    use serde_json::value::RawValue;

    use super::*;
    use crate::store::{test_store, test_workspace};

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap()
    }

    fn alert(id: &str, severity: Severity, stage: Stage, updated: DateTime<Utc>) -> Alert {
        Alert::new(
            "crowdstrike:abc",
            seliq_connectors::Kind::Crowdstrike,
            AlertParts {
                id: id.into(),
                title: "t".into(),
                severity,
                status: "new".into(),
                created_at: t(8, 0),
                created_stable: true,
                updated_at: updated,
                version: updated.to_rfc3339(),
                link: None,
                stage,
            },
            RawValue::from_string("{}".into()).unwrap(),
        )
    }

    fn sla_of(extra: &[u8]) -> serde_json::Value {
        let text = format!("{{{}}}", std::str::from_utf8(&extra[1..]).unwrap());
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["sla"].clone()
    }

    #[test]
    fn versions_in_one_batch_give_one_row_and_a_severity_change_recomputes_the_dues() {
        let (_dir, mut store) = test_store();
        let ws = test_workspace(&mut store);
        let stamper = Stamper {
            workspace_id: ws,
            policy: Arc::new(Policy {
                version: 1,
                targets: seliq_sla::Template::baseline(),
                ..Policy::default()
            }),
            ledger: Ledger::open(&store).unwrap(),
        };
        let batch = [
            alert("a1", Severity::High, Stage::Open, t(8, 1)),
            alert("a2", Severity::Critical, Stage::Open, t(8, 2)),
            alert("a1", Severity::High, Stage::Acknowledged, t(8, 3)),
        ];
        let s = stamper.stamp(&batch, t(8, 5)).unwrap();
        assert_eq!((s.extras.len(), s.rows.len(), s.first_seen), (3, 2, 2));
        assert_eq!(
            sla_of(&s.extras[0]),
            sla_of(&s.extras[2]),
            "same alert, same dues"
        );
        assert_eq!(sla_of(&s.extras[0])["tta_due"], "2026-12-03T09:00:00Z");
        let a1 = &s.rows.iter().find(|(_, r)| r.alert_id == "a1").unwrap().1;
        assert_eq!(a1.acknowledged_at, Some(t(8, 3)));
        assert_eq!(a1.first_seen_at, t(8, 5));
        store
            .write(|tx| {
                for (key, row) in &s.rows {
                    tx.upsert_alert_sla(*key, row)?;
                }
                tx.count_first_seen(ws, s.at, s.first_seen)
            })
            .unwrap();

        // A later pull: an unchanged severity keeps the dues; an escalation recomputes them from
        // the creation time; first seen and first acknowledged never move.
        let later = [
            alert("a2", Severity::Critical, Stage::Open, t(9, 0)),
            alert("a1", Severity::Critical, Stage::Resolved, t(9, 1)),
        ];
        let s2 = stamper.stamp(&later, t(9, 5)).unwrap();
        assert_eq!(s2.first_seen, 0);
        assert_eq!(sla_of(&s2.extras[0]), sla_of(&s.extras[1]));
        assert_eq!(sla_of(&s2.extras[1])["tta_due"], "2026-12-03T08:15:00Z");
        let a1 = &s2.rows.iter().find(|(_, r)| r.alert_id == "a1").unwrap().1;
        assert_eq!(
            (a1.first_seen_at, a1.acknowledged_at, a1.resolved_at),
            (t(8, 5), Some(t(8, 3)), Some(t(9, 1)))
        );
    }

    #[tokio::test]
    async fn the_ledger_thread_runs_jobs_in_order_and_survives_a_panicking_one() {
        let (_dir, store) = test_store();
        let ledger = Ledger::open(&store).unwrap();
        let thread = ledger
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(
            thread.as_deref(),
            Some("sla-ledger"),
            "not the blocking pool"
        );
        let failed = ledger.run(|| -> u8 { panic!("a bug in one stamp") }).await;
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("SLA ledger thread"),
            "the panicking job's caller gets an error"
        );
        // The thread is still there for the next batch.
        assert_eq!(ledger.run(|| 7).await.unwrap(), 7);
    }
}
