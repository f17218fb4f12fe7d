//! The verifiable export (`--format jsonl`): one JSON object per line, each tagged by `type`.
//!
//! ```text
//! {"type":"header","schema":"seliq.audit.export/v1","workspace":"acme-corp","workspace_id":…,
//!  "exported_at":…,"exported_by":…,"since":null,"until":null,"first_seq":1,"last_seq":12,
//!  "first_prev_hash":…,"entries":12,"key_id":…,"signature":…}
//! {"type":"manifest","workspace":…,"first_seq":…,"last_seq":…,"last_hash":…,"checkpoint":{…},"pruned_at":…}
//! {"type":"entry","workspace":<id>,"seq":1,"request_id":…,"at":…,"actor":…,"action":…,
//!  "target":…,"outcome":…,"details":{…},"prev_hash":…,"hash":…}
//! {"type":"checkpoint","workspace":<id>,"seq":12,"hash":…,"at":…,"key_id":…,"signature":…}
//! ```
//!
//! Entries are the stored rows exactly (`details` is the stored canonical JSON, byte for byte).
//! The header is HMAC'd with the checkpoint key: it pins where the exported range starts
//! (`first_seq`, `first_prev_hash`) and ends, so dropping lines at either end of the file is
//! detected, not mistaken for a narrower `--since`/`--until`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::checkpoint::{Checkpoint, CheckpointSigner};
use crate::ids::WorkspaceId;
use crate::store::{AuditRow, SegmentManifest};

pub const SCHEMA: &str = "seliq.audit.export/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub schema: String,
    /// The slug, for humans; `workspace_id` is what the chain commits to.
    pub workspace: String,
    pub workspace_id: WorkspaceId,
    pub exported_at: String,
    pub exported_by: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// `prev_hash` of the first exported entry: the anchor a filtered export starts from.
    pub first_prev_hash: Option<String>,
    pub entries: u64,
    pub key_id: String,
    pub signature: String,
}

impl Header {
    /// The MAC'd text: every field but the signature, as sorted-key compact JSON.
    fn canonical(&self) -> String {
        serde_json::json!({
            "schema": self.schema,
            "workspace": self.workspace,
            "workspace_id": self.workspace_id,
            "exported_at": self.exported_at,
            "exported_by": self.exported_by,
            "since": self.since,
            "until": self.until,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_prev_hash": self.first_prev_hash,
            "entries": self.entries,
            "key_id": self.key_id,
        })
        .to_string()
    }

    pub fn sign(mut self, signer: &CheckpointSigner) -> Header {
        self.key_id = signer.key_id().to_owned();
        self.signature = signer.sign_header(&self.canonical());
        self
    }

    pub fn verifies(&self, signer: &CheckpointSigner) -> bool {
        self.key_id == signer.key_id() && signer.verifies_header(&self.canonical(), &self.signature)
    }
}

/// A pruned segment's manifest, with its checkpoint as an object rather than stored text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub workspace: WorkspaceId,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hash: String,
    pub checkpoint: Box<RawValue>,
    pub pruned_at: String,
}

impl ManifestRecord {
    pub fn from_stored(m: &SegmentManifest) -> ManifestRecord {
        ManifestRecord {
            workspace: m.workspace_id,
            first_seq: m.first_seq,
            last_seq: m.last_seq,
            last_hash: m.last_hash.clone(),
            checkpoint: raw_or_string(&m.checkpoint),
            pruned_at: m.pruned_at.clone(),
        }
    }

    pub fn into_stored(self) -> SegmentManifest {
        SegmentManifest {
            workspace_id: self.workspace,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            last_hash: self.last_hash,
            checkpoint: self.checkpoint.get().to_owned(),
            pruned_at: self.pruned_at,
        }
    }
}

/// One stored entry; field names and order follow the hashed canonical form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryRecord {
    pub workspace: WorkspaceId,
    pub seq: u64,
    pub request_id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: Box<RawValue>,
    pub prev_hash: String,
    pub hash: String,
}

impl EntryRecord {
    pub fn from_row(r: &AuditRow) -> EntryRecord {
        EntryRecord {
            workspace: r.workspace_id,
            seq: r.seq,
            request_id: r.request_id.clone(),
            at: r.at.clone(),
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            outcome: r.outcome.clone(),
            details: raw_or_string(&r.details),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }

    pub fn into_row(self) -> AuditRow {
        AuditRow {
            workspace_id: self.workspace,
            seq: self.seq,
            request_id: self.request_id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            outcome: self.outcome,
            details: self.details.get().to_owned(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Stored JSON text kept verbatim; text that is not JSON (a hand-edited row) becomes a JSON
/// string, which will then fail its hash check rather than the export.
pub(crate) fn raw_or_string(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| {
        // Proven invariant: a serialised JSON string is valid JSON.
        RawValue::from_string(serde_json::Value::String(text.to_owned()).to_string())
            .expect("a JSON string literal is valid JSON")
    })
}

/// Lines are written as `{"type": <kind>, ...fields}`.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

pub fn line<T: Serialize>(kind: &str, body: &T) -> String {
    // Proven invariant: these records hold only strings, numbers and valid raw JSON.
    let mut s = serde_json::to_string(&Tagged { kind, body }).expect("audit records serialise");
    s.push('\n');
    s
}

/// An export file, parsed.
#[derive(Debug, Default)]
pub struct Bundle {
    pub header: Option<Header>,
    pub manifests: Vec<SegmentManifest>,
    pub entries: Vec<AuditRow>,
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: String,
}

/// Parse an export. The error names the line (1-based) and what is wrong with it.
pub fn parse(text: &str) -> Result<Bundle, String> {
    let mut b = Bundle::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad =
            |e: serde_json::Error| format!("line {n} is not a valid audit export record: {e}");
        let kind: Kind = serde_json::from_str(raw).map_err(bad)?;
        // The exporter writes one canonical form; any other spelling of a record (renamed or
        // extra keys, reordering, spacing) means the file was edited, even where the meaning
        // survived.
        let canonical = |rewritten: String| {
            if rewritten.trim_end() == raw.trim_end() {
                Ok(())
            } else {
                Err(format!(
                    "line {n} is not in the form the exporter writes: the file was edited"
                ))
            }
        };
        match kind.kind.as_str() {
            "header" if b.header.is_none() && n == 1 => {
                let h: Header = serde_json::from_str(raw).map_err(bad)?;
                canonical(line("header", &h))?;
                b.header = Some(h);
            }
            "header" => {
                return Err(format!(
                    "line {n}: the header must be the first line, and only once"
                ));
            }
            "manifest" => {
                let m: ManifestRecord = serde_json::from_str(raw).map_err(bad)?;
                canonical(line("manifest", &m))?;
                b.manifests.push(m.into_stored());
            }
            "entry" => {
                let e: EntryRecord = serde_json::from_str(raw).map_err(bad)?;
                canonical(line("entry", &e))?;
                b.entries.push(e.into_row());
            }
            "checkpoint" => {
                let c: Checkpoint = serde_json::from_str(raw).map_err(bad)?;
                canonical(line("checkpoint", &c))?;
                b.checkpoints.push(c);
            }
            other => return Err(format!("line {n} has an unknown record type {other:?}")),
        }
    }
    if b.header.is_none() {
        return Err("the file has no header line; is it a `seliq-gateway audit export --format jsonl` file?".to_owned());
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            workspace_id: WorkspaceId::new(),
            seq: 3,
            request_id: uuid::Uuid::new_v4().to_string(),
            at: "2026-11-28T12:00:00.000Z".into(),
            actor: "alice".into(),
            action: "workspace.created".into(),
            target: "acme-corp".into(),
            outcome: "success".into(),
            details: r#"{"b":1,"a":"x y"}"#.into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn entries_round_trip_with_details_byte_for_byte() {
        let r = row();
        let l = line("entry", &EntryRecord::from_row(&r));
        assert!(l.starts_with(r#"{"type":"entry","workspace":""#), "{l}");
        assert!(l.contains(r#""details":{"b":1,"a":"x y"}"#), "{l}");
        let header = Header {
            schema: SCHEMA.into(),
            workspace: "acme-corp".into(),
            workspace_id: r.workspace_id,
            exported_at: "t".into(),
            exported_by: "alice".into(),
            since: None,
            until: None,
            first_seq: Some(3),
            last_seq: Some(3),
            first_prev_hash: Some("p".into()),
            entries: 1,
            key_id: String::new(),
            signature: String::new(),
        };
        let text = line("header", &header) + &l;
        let b = parse(&text).unwrap();
        assert_eq!(b.entries, vec![r]);
        assert_eq!(b.header.unwrap(), header);
    }

    #[test]
    fn rejects_unknown_records_and_a_missing_header() {
        assert!(
            parse("{\"type\":\"entry\"}\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse("").unwrap_err().contains("no header"));
        let h = r#"{"type":"header"}"#;
        assert!(parse(&format!("{h}\n{{\"type\":\"bogus\"}}")).is_err());
    }

    #[test]
    fn a_record_in_another_spelling_is_refused() {
        let c = Checkpoint {
            workspace: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            seq: 1,
            hash: "h".into(),
            at: "t".into(),
            key_id: "k".into(),
            signature: "s".into(),
        };
        let h = r#"{"type":"header","schema":"s","workspace":"w","workspace_id":"00000000-0000-0000-0000-000000000000","exported_at":"t","exported_by":"a","since":null,"until":null,"first_seq":null,"last_seq":null,"first_prev_hash":null,"entries":0,"key_id":"k","signature":"s"}"#;
        let ok = format!("{h}\n{}", line("checkpoint", &c));
        assert!(parse(&ok).is_ok(), "{:?}", parse(&ok));
        // Same meaning, other bytes: a renamed optional key, extra spacing.
        assert!(
            parse(&ok.replace("\"since\":null,", "\"sinc\":null,"))
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse(&ok.replace("\"seq\":1", "\"seq\": 1"))
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn stored_text_that_is_not_json_is_kept_as_a_string() {
        assert_eq!(raw_or_string("not json").get(), r#""not json""#);
        assert_eq!(raw_or_string(r#"{"a":1}"#).get(), r#"{"a":1}"#);
    }
}
