//! Retention by plan tier: `audit prune` deletes whole calendar-month segments (UTC, by the
//! entries' `at`) whose month ended more than the plan's retention ago. Only a prefix of the
//! chain is ever pruned, so what remains is one gapless run after a row of manifests.
//!
//! Each pruned segment leaves a manifest `{first_seq, last_seq, last_hash, checkpoint}` whose
//! checkpoint is signed when the segment is sealed; the first kept entry links to `last_hash`,
//! so `verify` passes across the gap and names it. A chain that fails verification is never
//! pruned: sealing it would bless the tampering and destroy the evidence.
//!
//! Retention days: starter 90, pro 365, enterprise 2555 (7 years); override per plan with
//! `SELIQ_RETENTION_DAYS_STARTER`, `SELIQ_RETENTION_DAYS_PRO`, `SELIQ_RETENTION_DAYS_ENTERPRISE`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;

use super::Action;
use super::chain::{self, Attribution, Event, Outcome};
use super::clock;
use super::verify::verify_stored;
use crate::error::{Error, Result};
use crate::slug::Slug;
use crate::store::{AuditRow, Plan, SegmentManifest, Store, WorkspaceRow};

pub const STARTER_DAYS: u32 = 90;
pub const PRO_DAYS: u32 = 365;
pub const ENTERPRISE_DAYS: u32 = 7 * 365;

/// Audit retention per plan tier, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub starter: u32,
    pub pro: u32,
    pub enterprise: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            starter: STARTER_DAYS,
            pro: PRO_DAYS,
            enterprise: ENTERPRISE_DAYS,
        }
    }
}

fn env_var(plan: Plan) -> String {
    format!(
        "SELIQ_RETENTION_DAYS_{}",
        plan.as_str().to_ascii_uppercase()
    )
}

impl Retention {
    pub fn days(&self, plan: Plan) -> u32 {
        match plan {
            Plan::Starter => self.starter,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
        }
    }

    /// The defaults, overridden by `SELIQ_RETENTION_DAYS_<PLAN>` where set.
    pub fn from_env() -> Result<Retention> {
        let mut r = Retention::default();
        for plan in [Plan::Starter, Plan::Pro, Plan::Enterprise] {
            let var = env_var(plan);
            let Ok(raw) = std::env::var(&var) else {
                continue;
            };
            let days: u32 = raw.trim().parse().ok().filter(|d| *d >= 1).ok_or_else(|| {
                Error::Invalid(format!(
                    "{var}={raw:?} is not a number of days (a whole number, at least 1)"
                ))
            })?;
            match plan {
                Plan::Starter => r.starter = days,
                Plan::Pro => r.pro = days,
                Plan::Enterprise => r.enterprise = days,
            }
        }
        Ok(r)
    }
}

/// One pruned month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `YYYY-MM`.
    pub month: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

/// What prune did (or refused to do) to one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub slug: Slug,
    pub plan: Plan,
    pub retention_days: u32,
    pub segments: Vec<Segment>,
    pub entries: u64,
    /// Why nothing was pruned although the workspace was looked at (a broken chain).
    pub refused: Option<String>,
}

fn month_key(t: DateTime<Utc>) -> (i32, u32) {
    (t.year(), t.month())
}

/// The first instant of the month after `t`'s month.
fn next_month_start(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    Some(
        NaiveDate::from_ymd_opt(y, m, 1)?
            .and_hms_opt(0, 0, 0)?
            .and_utc(),
    )
}

/// The expired prefix of a chain, split into month segments. An entry is expired when its
/// whole month ended at or before `cutoff`; the prefix stops at the first one that is not.
pub fn expired_segments(entries: &[AuditRow], cutoff: DateTime<Utc>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut current: Option<(i32, u32)> = None;
    for e in entries {
        let Some(at) = clock::parse(&e.at) else { break };
        if next_month_start(at).is_none_or(|end| end > cutoff) {
            break;
        }
        let key = month_key(at);
        match out.last_mut() {
            Some(s) if current == Some(key) => {
                s.last_seq = e.seq;
                s.last_hash = e.hash.clone();
            }
            _ => out.push(Segment {
                month: format!("{:04}-{:02}", key.0, key.1),
                first_seq: e.seq,
                last_seq: e.seq,
                last_hash: e.hash.clone(),
            }),
        }
        current = Some(key);
    }
    out
}

/// Prune one workspace (or every workspace, deleted ones included) as of `now`. Each workspace
/// is its own transaction; a workspace whose chain fails verification is left untouched and
/// reported with `refused`.
pub fn prune(
    store: &mut Store,
    who: &Attribution,
    retention: &Retention,
    only: Option<&Slug>,
    now: DateTime<Utc>,
) -> Result<Vec<Pruned>> {
    let workspaces: Vec<WorkspaceRow> = store.read(|tx| match only {
        Some(slug) => tx
            .workspace_by_slug_any(slug)?
            .map(|w| vec![w])
            .ok_or_else(|| {
                Error::NotFound(format!("workspace {:?} does not exist", slug.as_str()))
            }),
        None => Ok(tx.list_workspaces(true)?),
    })?;
    let mut out = Vec::with_capacity(workspaces.len());
    for ws in workspaces {
        out.push(prune_one(store, who, retention, &ws, now)?);
    }
    Ok(out)
}

fn prune_one(
    store: &mut Store,
    who: &Attribution,
    retention: &Retention,
    ws: &WorkspaceRow,
    now: DateTime<Utc>,
) -> Result<Pruned> {
    let days = retention.days(ws.plan);
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let mut report = Pruned {
        slug: ws.slug.clone(),
        plan: ws.plan,
        retention_days: days,
        segments: Vec::new(),
        entries: 0,
        refused: None,
    };
    store.write(|tx| {
        if let Err(b) = verify_stored(tx, ws.id, &who.signer)? {
            report.refused = Some(format!(
                "its audit chain fails verification at {b}; nothing was pruned (run `seliq-gateway audit verify {}`)",
                ws.slug
            ));
            return Ok::<_, Error>(());
        }
        let entries = tx.audit_entries(ws.id)?;
        let segments = expired_segments(&entries, cutoff);
        if segments.is_empty() {
            return Ok(());
        }
        let sealed_at = clock::format(now);
        for s in &segments {
            let checkpoint = who.signer.sign(ws.id, s.last_seq, &s.last_hash, &sealed_at);
            // Proven invariant: a checkpoint holds only strings and numbers.
            let checkpoint = serde_json::to_string(&checkpoint).expect("checkpoints serialise");
            report.entries += tx.prune_audit_segment(&SegmentManifest {
                workspace_id: ws.id,
                first_seq: s.first_seq,
                last_seq: s.last_seq,
                last_hash: s.last_hash.clone(),
                checkpoint,
                pruned_at: sealed_at.clone(),
            })? as u64;
        }
        chain::append(
            tx,
            ws.id,
            who,
            Event::new(Action::AuditPruned, ws.slug.as_str(), Outcome::Success).details(json!({
                "plan": ws.plan,
                "retention_days": days,
                "cutoff": clock::format(cutoff),
                "entries": report.entries,
                "segments": segments.iter().map(|s| json!({
                    "month": s.month,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "last_hash": s.last_hash,
                })).collect::<Vec<_>>(),
            })),
        )?;
        chain::checkpoint_head(tx, ws.id, &who.signer)?;
        report.segments = segments;
        Ok(())
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::WorkspaceId;

    fn row(seq: u64, at: &str) -> AuditRow {
        AuditRow {
            workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            seq,
            request_id: "r".into(),
            at: at.into(),
            actor: "a".into(),
            action: "x".into(),
            target: "t".into(),
            outcome: "success".into(),
            details: "{}".into(),
            prev_hash: "p".into(),
            hash: format!("h{seq}"),
        }
    }

    #[test]
    fn only_whole_months_that_ended_before_the_cutoff_go() {
        let rows = vec![
            row(1, "2024-01-03T00:00:00.000Z"),
            row(2, "2024-01-31T23:59:59.999Z"),
            row(3, "2024-02-01T00:00:00.000Z"),
            row(4, "2024-03-15T00:00:00.000Z"),
            row(5, "2024-01-20T00:00:00.000Z"),
        ];
        let cutoff = clock::parse("2024-03-01T00:00:00Z").unwrap();
        let segs = expired_segments(&rows, cutoff);
        assert_eq!(
            segs.iter()
                .map(|s| (s.month.as_str(), s.first_seq, s.last_seq))
                .collect::<Vec<_>>(),
            vec![("2024-01", 1, 2), ("2024-02", 3, 3)]
        );
        assert_eq!(segs[1].last_hash, "h3");
        // February is still inside the retention a day earlier.
        let segs = expired_segments(&rows, clock::parse("2024-02-29T23:59:59Z").unwrap());
        assert_eq!(segs.len(), 1);
    }

    #[test]
    fn the_prefix_stops_at_the_first_kept_entry() {
        // Seq 2 is recent (clock skew): nothing after it may go, or the chain would have a hole.
        let rows = vec![
            row(1, "2020-01-01T00:00:00.000Z"),
            row(2, "2030-01-01T00:00:00.000Z"),
            row(3, "2020-02-01T00:00:00.000Z"),
        ];
        let segs = expired_segments(&rows, clock::parse("2025-01-01T00:00:00Z").unwrap());
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].last_seq, 1);
    }

    /// Writes a chain whose entries carry the given timestamps, as `append` would have.
    fn backdated_chain(store: &mut Store, ws: WorkspaceId, ats: &[&str]) {
        store
            .write(|tx| {
                tx.insert_workspace(&WorkspaceRow {
                    id: ws,
                    slug: Slug::parse("acme-corp").unwrap(),
                    description: String::new(),
                    plan: Plan::Pro,
                    created_at: chrono::Utc::now(),
                    deleted_at: None,
                })?;
                let mut prev = chain::genesis_hash(ws);
                for (i, at) in ats.iter().enumerate() {
                    let mut r = row(i as u64 + 1, at);
                    r.workspace_id = ws;
                    r.prev_hash = prev;
                    r.hash = chain::entry_hash(&r);
                    prev = r.hash.clone();
                    tx.insert_audit(&r)?;
                }
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn prune_takes_the_clock_as_a_parameter_and_verify_names_the_gaps() {
        let (_d, mut store) = crate::store::test_store();
        let who = chain::tests::test_who();
        let ws = WorkspaceId::new();
        backdated_chain(
            &mut store,
            ws,
            &[
                "2024-01-05T00:00:00.000Z",
                "2024-01-06T00:00:00.000Z",
                "2024-02-01T00:00:00.000Z",
                "2026-05-01T00:00:00.000Z",
            ],
        );
        let now = clock::parse("2026-06-01T00:00:00Z").unwrap();
        let done = prune(&mut store, &who, &Retention::default(), None, now).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].entries, 3);
        assert_eq!(
            done[0]
                .segments
                .iter()
                .map(|s| (s.month.as_str(), s.first_seq, s.last_seq))
                .collect::<Vec<_>>(),
            vec![("2024-01", 1, 2), ("2024-02", 3, 3)]
        );
        let report = store
            .read(|tx| verify_stored(tx, ws, &who.signer))
            .unwrap()
            .unwrap();
        assert_eq!((report.first_seq, report.last_seq), (Some(4), Some(5)));
        assert_eq!(report.pruned.len(), 2);
        assert!(
            report
                .summary("x")
                .contains("gap: seq 1–2 pruned by retention on 2026-06-01T00:00:00.000Z")
        );
        let last = store.read(|tx| tx.audit_head(ws)).unwrap().unwrap();
        assert_eq!(last.action, "audit.pruned");

        // A second run at the same time finds nothing more to do.
        let again = prune(&mut store, &who, &Retention::default(), None, now).unwrap();
        assert!(again[0].segments.is_empty());
    }

    #[test]
    fn retention_defaults_by_plan() {
        let r = Retention::default();
        assert_eq!(
            (
                r.days(Plan::Starter),
                r.days(Plan::Pro),
                r.days(Plan::Enterprise)
            ),
            (90, 365, 2555)
        );
        assert_eq!(env_var(Plan::Enterprise), "SELIQ_RETENTION_DAYS_ENTERPRISE");
    }
}
