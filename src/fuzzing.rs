//! Fuzz harnesses of the gateway crate, and the table of every fuzz target. Not an API.
//!
//! The `fuzz/` crate's targets are one-line calls into these functions (and into
//! `seliq_connectors::fuzzing`), and `tests/fuzz_corpus.rs` replays every committed corpus file
//! and crash artifact through [`TARGETS`], so `cargo test` keeps each fixed crash fixed without
//! a fuzzer installed. Each function asserts what must hold for any input; a panic is a finding.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit::bundle::{EntryRecord, Header, SCHEMA, line};
use crate::audit::{CheckpointSigner, entry_hash, genesis_hash, parse_bundle, verify};
use crate::ids::WorkspaceId;
use crate::slug::{IntegrationName, Slug};
use crate::store::AuditRow;
use crate::timespec::{MAX_SPAN, parse_span, parse_time};

/// A harness: one fuzz input in, a panic on a finding.
pub type Harness = fn(&[u8]);

/// Every fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    (
        "crowdstrike_page",
        seliq_connectors::fuzzing::crowdstrike_page,
    ),
    ("sentinel_page", seliq_connectors::fuzzing::sentinel_page),
    ("splunk_page", seliq_connectors::fuzzing::splunk_page),
    ("source_id", seliq_connectors::fuzzing::source_id),
    ("glob_overlap", seliq_connectors::fuzzing::glob_overlap),
    ("timespec", timespec),
    ("slug", slug),
    ("audit_export", audit_export),
];

/// `TIME` and span arguments (`--since`, `--look-back`, ...): never a panic, a parsed span is
/// within its bounds, and an error names the flag.
pub fn timespec(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    match parse_span("--look-back", &raw) {
        Ok(d) => assert!(d > Duration::ZERO && d <= MAX_SPAN, "{raw:?} -> {d:?}"),
        Err(e) => assert!(e.to_string().contains("--look-back"), "{e}"),
    }
    let fixed = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
        .expect("a valid time")
        .with_timezone(&Utc);
    // The extremes of the clock: a span back from them must fail cleanly, not overflow.
    for now in [fixed, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        match parse_time("--since", &raw, now) {
            Ok(t) => assert!(
                t <= now || DateTime::parse_from_rfc3339(raw.trim()).is_ok(),
                "a span goes back from now: {raw:?} -> {t}"
            ),
            Err(e) => assert!(e.to_string().contains("--since"), "{e}"),
        }
    }
}

/// Workspace slugs and integration names: whatever parses follows the documented rules.
pub fn slug(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let slug = Slug::parse(&raw);
    let name = IntegrationName::parse(&raw);
    assert_eq!(slug.is_ok(), name.is_ok(), "one rule set for both: {raw:?}");
    match slug {
        Ok(s) => {
            let s = s.as_str();
            assert!((3..=63).contains(&s.len()), "{s:?}");
            assert!(s.starts_with(|c: char| c.is_ascii_lowercase()), "{s:?}");
            assert!(!s.ends_with('-') && !s.contains("--"), "{s:?}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{s:?}"
            );
        }
        Err(e) => assert!(e.to_string().contains(&format!("{raw:?}")), "{e}"),
    }
}

/// The key every golden export is signed with: fixed, so the corpus seeds stay valid.
pub fn golden_signer() -> CheckpointSigner {
    CheckpointSigner::from_key(Zeroizing::new([0x5e; 32]), "fuzz-audit-key".to_owned())
}

/// Valid exports signed by [`golden_signer`]: a whole chain (seq 1-3) and a filtered one that
/// starts at seq 2. They are the audit corpus seeds and the reference of [`audit_export`].
pub fn golden_exports() -> [String; 2] {
    let signer = golden_signer();
    let ws = WorkspaceId::from_uuid(Uuid::from_u128(0x5e11_0000_0000_4000_8000_0000_0000_0001));
    let mut rows: Vec<AuditRow> = Vec::new();
    let mut prev = genesis_hash(ws);
    for (seq, action, details) in [
        (1u64, "workspace.created", r#"{}"#),
        (
            2,
            "integration.added",
            r#"{"kind":"crowdstrike","source":"crowdstrike:1a2b"}"#,
        ),
        (3, "audit.exported", r#"{"entries":2,"format":"jsonl"}"#),
    ] {
        let mut row = AuditRow {
            workspace_id: ws,
            seq,
            request_id: Uuid::from_u128(u128::from(seq)).to_string(),
            at: format!("2026-11-28T12:00:0{seq}.000Z"),
            actor: "fuzz".to_owned(),
            action: action.to_owned(),
            target: "acme-corp".to_owned(),
            outcome: "success".to_owned(),
            details: details.to_owned(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        row.hash = entry_hash(&row);
        prev = row.hash.clone();
        rows.push(row);
    }
    let last = rows.last().expect("three rows");
    let checkpoint = signer.sign(ws, last.seq, &last.hash, "2026-11-28T12:00:04.000Z");
    let export = |from: usize| {
        let part = &rows[from..];
        let header = Header {
            schema: SCHEMA.to_owned(),
            workspace: "acme-corp".to_owned(),
            workspace_id: ws,
            exported_at: "2026-11-28T12:00:04.000Z".to_owned(),
            exported_by: "fuzz".to_owned(),
            since: (from > 0).then(|| part[0].at.clone()),
            until: None,
            first_seq: Some(part[0].seq),
            last_seq: Some(last.seq),
            first_prev_hash: Some(part[0].prev_hash.clone()),
            entries: part.len() as u64,
            key_id: String::new(),
            signature: String::new(),
        }
        .sign(&signer);
        let mut text = line("header", &header);
        for r in part {
            text.push_str(&line("entry", &EntryRecord::from_row(r)));
        }
        text.push_str(&line("checkpoint", &checkpoint));
        text
    };
    [export(0), export(1)]
}

/// The lines the parser reads: it skips blank lines and ignores trailing whitespace, so two
/// files equal under this view say the same thing.
fn significant_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The audit export verifier: `parse_bundle` + `verify_bundle` never panic, and nothing but an
/// unchanged golden export verifies (the fuzzer starts from the goldens and mutates them; it
/// cannot forge the HMAC, so any other verifying file would be a hole in the checks).
pub fn audit_export(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(bundle) = parse_bundle(&text) else {
        return;
    };
    if verify::verify_bundle(&bundle, &golden_signer()).is_ok() {
        let got = significant_lines(&text);
        let goldens = golden_exports();
        assert!(
            goldens.iter().any(|g| significant_lines(g) == got),
            "an edited export verified:\n{text}"
        );
    }
}
