//! Issue 13: each attack on landed main, replayed against the real binary (raw SQL where the
//! attacker used database access), must now fail without bricking anything.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use common::{Env, code, path_str, stderr, stdout};
use rusqlite::params;
use seliq_gateway::app::{App, Config};
use seliq_gateway::audit::{self, Action, Event, Outcome, entry_hash};
use seliq_gateway::store::AuditRow;

const CID: &str = "0123456789abcdef0123456789abcdef";
const OTHER_CID: &str = "fedcba9876543210fedcba9876543210";

fn add_falcon(env: &Env, ws: &str, name: &str, cid: &str) -> std::process::Output {
    env.add_falcon_offline(ws, name, "parent-client", cid, "s3cret-value")
}

fn new_key_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("new.key");
    let key: [u8; 32] = rand_bytes();
    std::fs::write(
        &p,
        base64::engine::general_purpose::STANDARD.encode(key) + "\n",
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let u = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&u.as_bytes()[..16]);
        chunk[0] ^= i as u8;
    }
    out
}

/// Append `n` audit entries to `slug`'s chain through the library (as many commands would).
fn append_entries(env: &Env, slug: &str, n: usize) {
    let mut app = App::open(Config {
        data_dir: env.data_dir(),
        database_url: None,
        actor: "test-operator".into(),
    })
    .expect("open app");
    let who = app.who().clone();
    let ws = app
        .store()
        .read(|tx| {
            Ok::<_, seliq_gateway::error::Error>(
                tx.workspace_by_slug(&seliq_gateway::slug::Slug::parse(slug).unwrap())?
                    .unwrap(),
            )
        })
        .unwrap();
    app.store()
        .write(|tx| {
            for i in 0..n {
                audit::append(
                    tx,
                    ws.id,
                    &who,
                    Event::new(
                        Action::IntegrationTested,
                        format!("probe-{i}"),
                        Outcome::Success,
                    ),
                )?;
            }
            Ok::<_, seliq_gateway::error::Error>(())
        })
        .unwrap();
}

fn load_chain(db: &rusqlite::Connection, ws_id: &str) -> Vec<AuditRow> {
    let mut stmt = db
        .prepare("SELECT workspace_id, seq, request_id, at, actor, action, target, outcome, details, prev_hash, hash FROM audit_entries WHERE workspace_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([ws_id], |r| {
        Ok(AuditRow {
            workspace_id: seliq_gateway::ids::WorkspaceId::parse(&r.get::<_, String>(0)?).unwrap(),
            seq: r.get::<_, i64>(1)? as u64,
            request_id: r.get(2)?,
            at: r.get(3)?,
            actor: r.get(4)?,
            action: r.get(5)?,
            target: r.get(6)?,
            outcome: r.get(7)?,
            details: r.get(8)?,
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Rewrite the stored chain from `from` on: recompute every hash, as an attacker without any key
/// can, after dropping the triggers that guard the audit tables.
fn rewrite_chain(db: &rusqlite::Connection, ws_id: &str, edit: impl Fn(&mut AuditRow)) {
    db.execute_batch(
        "DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_checkpoints_no_delete;",
    )
    .unwrap();
    let mut rows = load_chain(db, ws_id);
    let mut prev = String::new();
    for (i, row) in rows.iter_mut().enumerate() {
        if i == 0 {
            prev = row.prev_hash.clone();
        }
        edit(row);
        row.prev_hash = prev.clone();
        row.hash = entry_hash(row);
        prev = row.hash.clone();
        db.execute(
            "UPDATE audit_entries SET target = ?3, details = ?4, prev_hash = ?5, hash = ?6 WHERE workspace_id = ?1 AND seq = ?2",
            params![ws_id, row.seq as i64, row.target, row.details, row.prev_hash, row.hash],
        )
        .unwrap();
    }
}

fn workspace_id(env: &Env, slug: &str) -> String {
    env.db()
        .query_row("SELECT id FROM workspaces WHERE slug = ?1", [slug], |r| {
            r.get(0)
        })
        .unwrap()
}

// 1. -------------------------------------------------------------------------------------------

#[test]
fn master_key_rotation_racing_30_workspace_creates_never_bricks_the_data_dir() {
    let env = Env::new();
    env.ok(&["workspace", "create", "seed-ws"]);
    let key = new_key_file(env.dir.path());
    let creates: Vec<_> = (0..30)
        .map(|i| {
            env.cmd()
                .args(["workspace", "create", &format!("race-{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let rotate = env.run(&[
        "vault",
        "rotate-master-key",
        "--new-key-file",
        path_str(&key),
    ]);
    assert_eq!(code(&rotate), 0, "{}", stderr(&rotate));
    let mut created = 0;
    for c in creates {
        let out = c.wait_with_output().unwrap();
        if out.status.success() {
            created += 1;
        } else {
            // The only acceptable failure: this process held the old key when the rotation
            // committed, and was told so before writing anything.
            let err = stderr(&out);
            assert!(
                err.contains("rotated while this command ran") || err.contains("is not the key"),
                "{err}"
            );
        }
    }
    let list = env.run(&["workspace", "list"]);
    assert_eq!(code(&list), 0, "the data dir is bricked: {}", stderr(&list));
    assert_eq!(stdout(&list).lines().count(), created + 1);
    // Every workspace's keys open under the one current key: a credential can be sealed in each.
    assert_eq!(code(&add_falcon(&env, "seed-ws", "falcon", CID)), 0);
    let v = env.run(&["audit", "verify", "seed-ws"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let stray = std::fs::read_dir(env.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(stray, 0);
}

// 2. -------------------------------------------------------------------------------------------

#[test]
fn a_chain_rewritten_after_deleting_its_checkpoints_does_not_verify() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    append_entries(&env, "acme-corp", 140);
    env.ok(&["audit", "verify", "acme-corp"]);
    let ws = workspace_id(&env, "acme-corp");
    let db = env.db();
    rewrite_chain(&db, &ws, |row| {
        if row.seq == 10 {
            row.target = "FORGED".into();
        }
    });
    db.execute(
        "DELETE FROM audit_checkpoints WHERE workspace_id = ?1",
        [&ws],
    )
    .unwrap();
    let out = env.run(&["audit", "verify", "acme-corp"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("seq 64"), "{}", stderr(&out));
    // Nor does an export sign the forged chain.
    let export = env.run(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "jsonl",
        "--output",
        path_str(&env.dir.path().join("forged.jsonl")),
    ]);
    assert_ne!(code(&export), 0);
}

#[test]
fn a_duplicate_key_in_front_of_the_real_one_does_not_verify() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    let ws = workspace_id(&env, "acme-corp");
    let db = env.db();
    rewrite_chain(&db, &ws, |row| {
        if row.seq == 2 {
            row.details = format!("{{\"reason\":\"FORGED\",{}", &row.details[1..]);
        }
    });
    let out = env.run(&["audit", "verify", "acme-corp"]);
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(err.contains("seq 2") && err.contains("canonical"), "{err}");
}

#[test]
fn a_forged_rotation_entry_does_not_excuse_a_checkpoint_under_another_key() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    append_entries(&env, "acme-corp", 70);
    let ws = workspace_id(&env, "acme-corp");
    let db = env.db();
    db.execute_batch("DROP TRIGGER audit_checkpoints_no_update;")
        .unwrap();
    db.execute(
        "UPDATE audit_checkpoints SET key_id = 'feedfacefeedface' WHERE workspace_id = ?1",
        [&ws],
    )
    .unwrap();
    rewrite_chain(&db, &ws, |row| {
        if row.seq == 3 {
            row.action = "vault.master_key_rotated".into();
            row.details = r#"{"old_key_id":"feedfacefeedface"}"#.into();
        }
    });
    let out = env.run(&["audit", "verify", "acme-corp"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
}

// 4. -------------------------------------------------------------------------------------------

#[test]
fn settings_edited_to_another_cid_are_refused_before_any_vendor_call() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    let db = env.db();
    // Only the settings: the integration's source column and binding still name the old CID.
    db.execute(
        "UPDATE integrations SET settings = replace(settings, ?1, ?2)",
        [CID, OTHER_CID],
    )
    .unwrap();
    let out = env.run(&["pull", "acme-corp"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("no longer matches the source it is bound to"),
        "{}",
        stderr(&out)
    );
    // Everything, as an attacker who also drops the identity triggers: the credential's
    // associated data still names the old source, so it does not open.
    db.execute_batch("DROP TRIGGER integrations_identity_immutable;")
        .unwrap();
    let source = format!("crowdstrike:{OTHER_CID}");
    db.execute("UPDATE integrations SET source = ?1", [&source])
        .unwrap();
    db.execute(
        "UPDATE bindings SET source = ?1, binding_key = ?1, source_json = replace(source_json, ?2, ?3)",
        params![source, CID, OTHER_CID],
    )
    .unwrap();
    let out = env.run(&["pull", "acme-corp"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("cannot be opened"),
        "{}",
        stderr(&out)
    );
}

// 5. -------------------------------------------------------------------------------------------

#[test]
fn first_window_out_of_range_is_refused_on_input_and_in_the_store() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    for bad in ["0s", "99999999999999d", "3651d"] {
        let out = env.run_env(
            &[
                "integration",
                "add",
                "acme-corp",
                "falcon",
                "--kind",
                "crowdstrike",
                "--client-id",
                "c",
                "--cid",
                CID,
                "--secret-env",
                "S",
                "--no-verify",
                "--first-window",
                bad,
            ],
            &[("S", "secret-value")],
        );
        assert_eq!(code(&out), 2, "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--first-window"), "{}", stderr(&out));
    }
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    env.db()
        .execute("UPDATE integrations SET first_window_secs = -5", [])
        .unwrap();
    let out = env.run(&["pull", "acme-corp"]);
    assert_ne!(code(&out), 101, "panicked: {}", stderr(&out));
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("stored first window"),
        "{}",
        stderr(&out)
    );
}

// 7. -------------------------------------------------------------------------------------------

#[test]
fn after_a_rotation_deleted_workspaces_and_old_exports_still_verify() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "gone-corp"]);
    env.ok(&["workspace", "delete", "gone-corp", "--confirm", "gone-corp"]);
    let before = env.dir.path().join("before.jsonl");
    env.ok(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "jsonl",
        "--output",
        path_str(&before),
    ]);
    for _ in 0..2 {
        let key = new_key_file(env.dir.path());
        env.ok(&[
            "vault",
            "rotate-master-key",
            "--new-key-file",
            path_str(&key),
        ]);
    }
    for slug in ["acme-corp", "gone-corp"] {
        let out = env.run(&["audit", "verify", slug]);
        assert_eq!(code(&out), 0, "{slug}: {}", stderr(&out));
        let rotated = env
            .db()
            .query_row(
                "SELECT count(*) FROM audit_entries e JOIN workspaces w ON w.id = e.workspace_id WHERE w.slug = ?1 AND e.action = 'vault.master_key_rotated'",
                [slug],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        assert_eq!(rotated, 2, "{slug}");
    }
    let gone = env.dir.path().join("gone.jsonl");
    env.ok(&[
        "audit",
        "export",
        "gone-corp",
        "--format",
        "jsonl",
        "--output",
        path_str(&gone),
    ]);
    let out = env.run(&["audit", "verify", "acme-corp", "--file", path_str(&before)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

// 8. -------------------------------------------------------------------------------------------

#[test]
fn audit_export_never_replaces_a_symlink_or_a_fifo() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let target = env.dir.path().join("precious.txt");
    std::fs::write(&target, "keep me").unwrap();
    let link = env.dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = env.dir.path().join("fifo.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, what) in [(&link, "symbolic link"), (&fifo, "special file")] {
        let out = env.run(&[
            "audit",
            "export",
            "acme-corp",
            "--format",
            "jsonl",
            "--output",
            path_str(path),
        ]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(what), "{}", stderr(&out));
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

// Smaller items ------------------------------------------------------------------------------

#[test]
fn a_refused_bind_does_not_name_the_holder_in_the_asking_workspaces_audit_log() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    let out = add_falcon(&env, "globex-prod", "falcon", CID);
    assert_eq!(code(&out), 3);
    let csv = env.ok(&[
        "audit",
        "export",
        "globex-prod",
        "--format",
        "csv",
        "--output",
        "-",
    ]);
    assert!(csv.contains("integration.binding_rejected"), "{csv}");
    assert!(csv.contains("another workspace"), "{csv}");
    assert!(!csv.contains("acme-corp"), "{csv}");
}

#[test]
fn errors_name_slugs_plainly() {
    let env = Env::new();
    env.ok(&["workspace", "create", "ws-01"]);
    let out = env.run(&["integration", "test", "ws-01", "nope"]);
    assert_eq!(code(&out), 4);
    assert!(!stderr(&out).contains("Slug("), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("IntegrationName("),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("ws-01"), "{}", stderr(&out));
}

fn add_with_secret_flag(env: &Env, flag: &str, value: &str) -> std::process::Output {
    env.run(&[
        "integration",
        "add",
        "acme-corp",
        "falcon",
        "--kind",
        "crowdstrike",
        "--client-id",
        "c",
        "--cid",
        CID,
        flag,
        value,
        "--no-verify",
    ])
}

#[test]
fn a_secret_passed_as_the_flag_value_is_not_echoed() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    for (flag, secret) in [
        ("--secret-env", "hT9xQ2mLpZ7vK4wR8sN1"),
        ("--secret-file", "hT9xQ2mLpZ7vK4wR8sN1"),
        ("--secret-env", "p@ss w0rd!"),
    ] {
        let out = add_with_secret_flag(&env, flag, secret);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(!stderr(&out).contains(secret), "{flag}: {}", stderr(&out));
    }
    // A conventional variable name is still named, so the operator can fix a typo.
    let out = add_with_secret_flag(&env, "--secret-env", "FALCON_SECRET_UNSET");
    assert!(stderr(&out).contains("FALCON_SECRET_UNSET"));
}

#[test]
fn oversized_empty_nul_and_writerless_fifo_secrets_are_refused_quickly() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out = add_with_secret_flag(&env, "--secret-file", "/dev/zero");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("64 KiB"), "{}", stderr(&out));

    let nul = env.dir.path().join("nul.secret");
    std::fs::write(&nul, b"abc\0def").unwrap();
    let out = add_with_secret_flag(&env, "--secret-file", path_str(&nul));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("NUL"), "{}", stderr(&out));

    let blank = env.dir.path().join("blank.secret");
    std::fs::write(&blank, b"  \t \n").unwrap();
    let out = add_with_secret_flag(&env, "--secret-file", path_str(&blank));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));

    let fifo = env.dir.path().join("secret.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = env
        .cmd()
        .env("SELIQ_SECRET_FILE_TIMEOUT", "1")
        .args([
            "integration",
            "add",
            "acme-corp",
            "falcon",
            "--kind",
            "crowdstrike",
            "--client-id",
            "c",
            "--cid",
            CID,
            "--secret-file",
            path_str(&fifo),
            "--no-verify",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("nothing arrived"), "{}", stderr(&out));
    assert_eq!(
        env.db()
            .query_row("SELECT count(*) FROM integrations", [], |r| r
                .get::<_, i64>(0))
            .unwrap(),
        0
    );
}

#[test]
fn an_empty_or_foreign_database_file_is_refused_and_left_as_it_was() {
    let env = Env::new();
    let db = env.data_dir().join("seliq.db");
    for f in ["seliq.db", "seliq.db-wal", "seliq.db-shm"] {
        let _ = std::fs::remove_file(env.data_dir().join(f));
    }
    std::fs::write(&db, b"").unwrap();
    let out = env.run(&["workspace", "list"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);

    std::fs::remove_file(&db).unwrap();
    let foreign = rusqlite::Connection::open(&db).unwrap();
    foreign
        .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
        .unwrap();
    drop(foreign);
    let out = env.run(&["workspace", "list"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("something else"), "{}", stderr(&out));
    let tables: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn workspace_show_escapes_terminal_control_sequences() {
    let env = Env::new();
    env.ok(&[
        "workspace",
        "create",
        "acme-corp",
        "--description",
        "SLA \u{1b}[2J\u{1b}]0;pwned\u{7} gold",
    ]);
    for cmd in [
        &["workspace", "show", "acme-corp"][..],
        &["workspace", "list"],
    ] {
        let out = env.ok(cmd);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("gold"), "{out}");
    }
}

#[test]
fn a_new_ndjson_output_file_is_private_whatever_the_umask() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out_file = env.dir.path().join("alerts.ndjson");
    let out = env.run(&["pull", "acme-corp", "--output", path_str(&out_file)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_failed_test_on_an_unopenable_credential_is_audited() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    env.db()
        .execute(
            "UPDATE credentials SET blob = zeroblob(64) WHERE state = 'current'",
            [],
        )
        .unwrap();
    let out = env.run(&["integration", "test", "acme-corp", "falcon"]);
    assert_ne!(code(&out), 0);
    let failed: i64 = env
        .db()
        .query_row(
            "SELECT count(*) FROM audit_entries WHERE action = 'integration.tested' AND outcome = 'failure'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 1);
}

/// Issue 22: a credential opens only through the live workspace it belongs to. Handing the
/// library another workspace (one the caller could resolve) is refused before any key is used.
#[test]
fn a_credential_does_not_open_through_another_workspace() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    assert_eq!(code(&add_falcon(&env, "acme-corp", "falcon", CID)), 0);
    let mut app = App::open(Config {
        data_dir: env.data_dir(),
        database_url: None,
        actor: "test-operator".into(),
    })
    .expect("open app");
    let vault = app.vault().clone();
    let slug = |s: &str| seliq_gateway::slug::Slug::parse(s).unwrap();
    let (own, foreign) = app
        .store()
        .read(|tx| {
            let acme = seliq_gateway::workspaces::require(tx, &slug("acme-corp"))?;
            let globex = seliq_gateway::workspaces::require(tx, &slug("globex-prod"))?;
            let integ = tx.integrations(acme.id)?.remove(0);
            let own = seliq_gateway::integrations::open_current(tx, &vault, &acme, &integ);
            let foreign = seliq_gateway::integrations::open_current(tx, &vault, &globex, &integ);
            Ok::<_, seliq_gateway::error::Error>((own.is_ok(), foreign.err()))
        })
        .unwrap();
    assert!(own, "the owning workspace opens its credential");
    let err = foreign
        .expect("another workspace must not open it")
        .to_string();
    assert!(
        err.contains("does not belong to workspace globex-prod"),
        "{err}"
    );
}
