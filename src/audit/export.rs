//! `audit export`: CSV and JSON for people and spreadsheets, JSON Lines as the verifiable form.
//!
//! One write transaction verifies the stored chain (a broken chain is never exported under a
//! fresh signature), selects the range, signs a checkpoint at its last entry, appends
//! `audit.exported` and signs the new head, and writes the file (0600, atomically). If the file
//! cannot be written nothing is recorded; if the commit fails the file is removed again.
//!
//! The range runs from the first entry at or after `--since` to the last entry before `--until`
//! (both optional), every entry in between included, so a jsonl range is always a gapless piece
//! of the chain.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Action;
use super::bundle::{self, EntryRecord, Header, ManifestRecord};
use super::chain::{self, Event, Outcome};
use super::checkpoint::Checkpoint;
use super::clock;
use super::csv;
use super::verify::verify_stored;
use crate::app::App;
use crate::error::{Error, Result};
use crate::slug::Slug;
use crate::store::{AuditRow, WorkspaceRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Where the export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `<slug>-audit-<YYYYMMDD>.<ext>` in the current directory.
    Default,
    File(PathBuf),
    Stdout,
    /// Returned to the caller (the HTTP API), byte for byte what `Stdout` would print.
    Memory,
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub slug: Slug,
    pub format: Format,
    pub target: Target,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// `None` when written to stdout.
    pub path: Option<PathBuf>,
    pub entries: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

pub fn default_file_name(slug: &Slug, format: Format, now: DateTime<Utc>) -> String {
    format!("{slug}-audit-{}.{}", now.format("%Y%m%d"), format.ext())
}

pub const CSV_COLUMNS: [&str; 11] = [
    "workspace",
    "seq",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "details",
    "prev_hash",
    "hash",
    "request_id",
];

/// The range `[first, last]` of entries between `since` (inclusive) and `until` (exclusive).
fn select(
    entries: &[AuditRow],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> &[AuditRow] {
    let inside = |e: &AuditRow| {
        let Some(at) = clock::parse(&e.at) else {
            return false;
        };
        since.is_none_or(|s| at >= s) && until.is_none_or(|u| at < u)
    };
    match (
        entries.iter().position(inside),
        entries.iter().rposition(inside),
    ) {
        (Some(a), Some(b)) => &entries[a..=b],
        _ => &[],
    }
}

fn csv_text(ws: &WorkspaceRow, rows: &[AuditRow]) -> String {
    let mut out = csv::record(CSV_COLUMNS);
    for r in rows {
        let seq = r.seq.to_string();
        out.push_str(&csv::record([
            ws.slug.as_str(),
            &seq,
            &r.at,
            &r.actor,
            &r.action,
            &r.target,
            &r.outcome,
            &r.details,
            &r.prev_hash,
            &r.hash,
            &r.request_id,
        ]));
    }
    out
}

/// A presentation entry: the slug for humans, `details` as an object.
#[derive(Serialize)]
struct JsonEntry<'a> {
    workspace: &'a str,
    workspace_id: String,
    seq: u64,
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    details: Box<RawValue>,
    prev_hash: &'a str,
    hash: &'a str,
    request_id: &'a str,
}

fn json_text(ws: &WorkspaceRow, rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "[]\n".to_owned();
    }
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            let e = JsonEntry {
                workspace: ws.slug.as_str(),
                workspace_id: r.workspace_id.to_string(),
                seq: r.seq,
                at: &r.at,
                actor: &r.actor,
                action: &r.action,
                target: &r.target,
                outcome: &r.outcome,
                details: bundle::raw_or_string(&r.details),
                prev_hash: &r.prev_hash,
                hash: &r.hash,
                request_id: &r.request_id,
            };
            // Proven invariant: strings, numbers and valid raw JSON always serialise.
            serde_json::to_string(&e).expect("audit entries serialise")
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

struct JsonlParts<'a> {
    header: Header,
    manifests: &'a [crate::store::SegmentManifest],
    rows: &'a [AuditRow],
    checkpoint: Option<Checkpoint>,
}

fn jsonl_text(p: JsonlParts<'_>) -> String {
    let mut out = bundle::line("header", &p.header);
    for m in p.manifests {
        out.push_str(&bundle::line("manifest", &ManifestRecord::from_stored(m)));
    }
    for r in p.rows {
        out.push_str(&bundle::line("entry", &EntryRecord::from_row(r)));
    }
    if let Some(c) = &p.checkpoint {
        out.push_str(&bundle::line("checkpoint", c));
    }
    out
}

fn rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(clock::format)
}

pub fn export(app: &mut App, req: &ExportRequest) -> Result<Exported> {
    let (done, text) = run(app, req)?;
    if let Some(text) = text {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::Runtime(format!("cannot write the export to stdout: {e}")))?;
    }
    Ok(done)
}

/// The export as text (for [`Target::Memory`]): the same bytes `--output -` prints, recorded in
/// the chain as `audit.exported` with file `api`.
pub fn export_to_memory(app: &mut App, req: &ExportRequest) -> Result<(Exported, String)> {
    let req = ExportRequest {
        target: Target::Memory,
        ..req.clone()
    };
    let (done, text) = run(app, &req)?;
    Ok((done, text.unwrap_or_default()))
}

fn run(app: &mut App, req: &ExportRequest) -> Result<(Exported, Option<String>)> {
    let now = clock::now();
    let path = match &req.target {
        Target::Default => Some(PathBuf::from(default_file_name(&req.slug, req.format, now))),
        Target::File(p) => Some(p.clone()),
        Target::Stdout | Target::Memory => None,
    };
    let file_label = match (&req.target, &path) {
        (Target::Memory, _) => "api".to_owned(),
        (_, Some(p)) => p.display().to_string(),
        (_, None) => "-".to_owned(),
    };
    let who = app.who().clone();
    let mut wrote: Option<PathBuf> = None;
    let result = app.store().write(|tx| {
        let ws = tx
            .workspace_by_slug_any(&req.slug)?
            .ok_or_else(|| Error::NotFound(format!("workspace {:?} does not exist", req.slug.as_str())))?;
        if let Err(b) = verify_stored(tx, ws.id, &who.signer)? {
            return Err(Error::Runtime(format!(
                "refusing to export the audit log of {}: its chain fails verification at {b}; nothing was exported",
                ws.slug
            )));
        }
        let all = tx.audit_entries(ws.id)?;
        let rows = select(&all, req.since, req.until);
        let (first, last) = (rows.first(), rows.last());
        let text = match req.format {
            Format::Csv => csv_text(&ws, rows),
            Format::Json => json_text(&ws, rows),
            Format::Jsonl => {
                let checkpoint = last.map(|r| chain::checkpoint_at(tx, r, &who.signer)).transpose()?;
                let manifests = tx.audit_segments(ws.id)?;
                let header = Header {
                    schema: bundle::SCHEMA.to_owned(),
                    workspace: ws.slug.to_string(),
                    workspace_id: ws.id,
                    exported_at: clock::format(now),
                    exported_by: who.actor.clone(),
                    since: rfc3339(req.since),
                    until: rfc3339(req.until),
                    first_seq: first.map(|r| r.seq),
                    last_seq: last.map(|r| r.seq),
                    first_prev_hash: first.map(|r| r.prev_hash.clone()),
                    entries: rows.len() as u64,
                    key_id: String::new(),
                    signature: String::new(),
                }
                .sign(&who.signer);
                jsonl_text(JsonlParts {
                    header,
                    manifests: &manifests,
                    rows,
                    checkpoint,
                })
            }
        };
        chain::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::AuditExported, ws.slug.as_str(), Outcome::Success).details(json!({
                "format": req.format.ext(),
                "since": rfc3339(req.since),
                "until": rfc3339(req.until),
                "first_seq": first.map(|r| r.seq),
                "last_seq": last.map(|r| r.seq),
                "entries": rows.len(),
                "file": file_label,
            })),
        )?;
        chain::checkpoint_head(tx, ws.id, &who.signer)?;
        if let Some(p) = &path {
            write_file(p, text.as_bytes())?;
            wrote = Some(p.clone());
            Ok((None, rows.len() as u64, first.map(|r| r.seq), last.map(|r| r.seq)))
        } else {
            Ok((Some(text), rows.len() as u64, first.map(|r| r.seq), last.map(|r| r.seq)))
        }
    });
    let (stdout_text, entries, first_seq, last_seq) = match result {
        Ok(v) => v,
        Err(e) => {
            // The file was written but the transaction that records it did not commit.
            if let Some(p) = wrote {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    Ok((
        Exported {
            path,
            entries,
            first_seq,
            last_seq,
        },
        stdout_text,
    ))
}

/// Written atomically, mode 0600: an audit log is not for every local user to read.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs_atomic::write_atomic(path, bytes).map_err(|e| {
        Error::Runtime(format!(
            "cannot write the audit export {}: {e}",
            path.display()
        ))
    })
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
            actor: "=cmd|' /C calc'!A0".into(),
            action: "workspace.created".into(),
            target: "acme-corp".into(),
            outcome: "success".into(),
            details: r#"{"description":"=HYPERLINK(\"http://evil\",\"x\")"}"#.into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        clock::parse(s).unwrap()
    }

    #[test]
    fn the_range_is_gapless_between_the_first_and_last_match() {
        let rows = vec![
            row(1, "2026-01-01T00:00:00.000Z"),
            row(2, "2026-02-01T00:00:00.000Z"),
            // Clock skew: an older timestamp inside the range stays in it.
            row(3, "2025-12-01T00:00:00.000Z"),
            row(4, "2026-03-01T00:00:00.000Z"),
            row(5, "2026-04-01T00:00:00.000Z"),
        ];
        let sel = select(
            &rows,
            Some(t("2026-02-01T00:00:00Z")),
            Some(t("2026-04-01T00:00:00Z")),
        );
        assert_eq!(sel.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(select(&rows, None, None).len(), 5);
        assert!(select(&rows, Some(t("2027-01-01T00:00:00Z")), None).is_empty());
    }

    #[test]
    fn csv_has_the_design_columns_and_defuses_formulas() {
        let ws = WorkspaceRow {
            id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            slug: Slug::parse("acme-corp").unwrap(),
            description: String::new(),
            plan: crate::store::Plan::Pro,
            created_at: Utc::now(),
            deleted_at: None,
        };
        let text = csv_text(&ws, &[row(1, "2026-01-01T00:00:00.000Z")]);
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            "workspace,seq,at,actor,action,target,outcome,details,prev_hash,hash,request_id"
        );
        let data = lines.next().unwrap();
        assert!(
            data.starts_with("acme-corp,1,2026-01-01T00:00:00.000Z,'=cmd|' /C calc'!A0,"),
            "{data}"
        );
        assert!(
            data.contains(r#""{""description"":""=HYPERLINK(\""http://evil\"",\""x\"")""}""#),
            "{data}"
        );
    }

    #[test]
    fn default_file_name_follows_the_design() {
        let slug = Slug::parse("acme-corp").unwrap();
        assert_eq!(
            default_file_name(&slug, Format::Csv, t("2026-11-28T23:59:00Z")),
            "acme-corp-audit-20261128.csv"
        );
    }
}
