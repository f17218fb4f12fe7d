//! The foundation issue's checklist, driven through the real binary: `init`, workspaces with
//! immutable slugs, exit codes, refusal of bad databases and key files, help texts, and the rule
//! that no flag takes a secret value.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::CommandFactory;
use seliq_gateway::cli::args::Cli;

const BIN: &str = env!("CARGO_BIN_EXE_seliq-gateway");

/// A temporary directory whose `data` child is the gateway's data dir (not created yet).
struct Gw {
    tmp: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Gw {
    fn fresh() -> Gw {
        Gw {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn initialised() -> Gw {
        let gw = Gw::fresh();
        gw.ok(&["init"]);
        gw
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn db(&self) -> PathBuf {
        self.data().join("seliq.db")
    }

    fn key(&self) -> PathBuf {
        self.data().join("master.key")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("SELIQ_MASTER_KEY")
            .env_remove("SELIQ_DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("SELIQ_DATA_DIR", self.data())
            .env("SELIQ_ACTOR", "cli-foundation-test")
            .stdin(Stdio::null());
        c
    }

    fn run_with(&self, mut c: Command, args: &[&str]) -> Out {
        let out = c.args(args).output().expect("run seliq-gateway");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(self.cmd(), args)
    }

    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?} failed: {}", out.stderr);
        out
    }

    /// Run and require `code`; returns the output for further checks.
    fn exits(&self, code: i32, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(
            out.code, code,
            "{args:?}: expected exit {code}, got {}\nstdout: {}\nstderr: {}",
            out.code, out.stdout, out.stderr
        );
        out
    }

    fn slugs(&self) -> Vec<String> {
        let out = self.ok(&["workspace", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("list --json is JSON");
        v.as_array()
            .expect("list --json is an array")
            .iter()
            .map(|w| w["slug"].as_str().expect("slug").to_owned())
            .collect()
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Every file in a directory with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let bytes = if e.path().is_file() {
                fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn init_creates_a_private_data_dir_a_database_and_a_0600_key_file() {
    let gw = Gw::fresh();
    let out = gw.ok(&["init"]);
    assert!(out.stdout.contains("master.key"), "{}", out.stdout);
    assert_eq!(mode(&gw.data()), 0o700);
    assert!(gw.db().is_file());
    assert_eq!(mode(&gw.key()), 0o600);

    use base64::Engine;
    let text = fs::read_to_string(gw.key()).expect("key file");
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("key file is base64");
    assert_eq!(key.len(), 32, "the master key is 256 bits");

    let conn = rusqlite::Connection::open(gw.db()).expect("open db");
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal, "wal");
}

#[test]
fn two_inits_make_two_different_master_keys() {
    let (a, b) = (Gw::initialised(), Gw::initialised());
    assert_ne!(
        fs::read(a.key()).expect("key a"),
        fs::read(b.key()).expect("key b")
    );
}

#[test]
fn second_init_changes_nothing_and_says_so() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    let before = snapshot(&gw.data());
    let out = gw.ok(&["init"]);
    assert!(
        out.stdout.contains("already initialised") && out.stdout.contains("nothing changed"),
        "{}",
        out.stdout
    );
    assert_eq!(snapshot(&gw.data()), before, "a second init changed a file");
    assert_eq!(gw.slugs(), ["acme-corp"]);
    assert_eq!(mode(&gw.key()), 0o600);
}

#[test]
fn init_with_master_key_in_env_writes_no_key_file() {
    use base64::Engine;
    let gw = Gw::fresh();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let mut c = gw.cmd();
    c.env("SELIQ_MASTER_KEY", &key);
    let out = gw.run_with(c, &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(gw.db().is_file());
    assert!(
        !gw.key().exists(),
        "init wrote a key file although SELIQ_MASTER_KEY is set"
    );
    assert!(!out.stdout.contains(&key) && !out.stderr.contains(&key));

    let mut c = gw.cmd();
    c.env("SELIQ_MASTER_KEY", &key);
    let out = gw.run_with(c, &["workspace", "create", "acme-corp"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn second_init_without_the_env_key_does_not_mint_a_new_key_for_an_existing_database() {
    use base64::Engine;
    let gw = Gw::fresh();
    let key = base64::engine::general_purpose::STANDARD.encode([11u8; 32]);
    for args in [&["init"][..], &["workspace", "create", "acme-corp"]] {
        let mut c = gw.cmd();
        c.env("SELIQ_MASTER_KEY", &key);
        let out = gw.run_with(c, args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    let before = snapshot(&gw.data());
    let out = gw.run(&["init"]);
    assert!(
        !gw.key().exists(),
        "init minted a new master key for an existing database (exit {}): {}",
        out.code,
        out.stdout
    );
    assert_eq!(snapshot(&gw.data()), before);
}

#[test]
fn init_tightens_an_existing_empty_data_dir_to_0700() {
    let gw = Gw::fresh();
    fs::create_dir(gw.data()).expect("mkdir");
    fs::set_permissions(gw.data(), fs::Permissions::from_mode(0o755)).expect("chmod");
    gw.ok(&["init"]);
    assert_eq!(mode(&gw.data()), 0o700);
    assert_eq!(mode(&gw.key()), 0o600);
}

#[test]
fn malformed_master_key_env_exits_2_naming_the_variable_not_the_value() {
    let gw = Gw::fresh();
    let mut c = gw.cmd();
    c.env("SELIQ_MASTER_KEY", "c2hvcnQta2V5"); // base64 of "short-key"
    let out = gw.run_with(c, &["init"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("SELIQ_MASTER_KEY"), "{}", out.stderr);
    assert!(!out.stderr.contains("c2hvcnQta2V5"), "{}", out.stderr);
}

#[test]
fn every_command_before_init_exits_2_and_says_to_run_init() {
    let gw = Gw::fresh();
    let commands: &[&[&str]] = &[
        &["workspace", "list"],
        &["workspace", "create", "acme-corp"],
        &["workspace", "show", "acme-corp"],
        &["workspace", "delete", "acme-corp", "--confirm", "acme-corp"],
        &["integration", "list", "acme-corp"],
        &["integration", "remove", "acme-corp", "falcon"],
        &["credentials", "rollback", "acme-corp", "falcon"],
        &["pull", "acme-corp"],
        &["audit", "verify", "acme-corp"],
        &["audit", "export", "acme-corp", "--format", "jsonl"],
        &["vault", "rotate-master-key", "--new-key-env", "NEW_KEY"],
    ];
    for args in commands {
        let out = gw.exits(2, args);
        assert!(
            out.stderr.contains("seliq-gateway init"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            !gw.data().exists(),
            "{args:?} created the data dir before init"
        );
    }
}

#[test]
fn command_on_an_existing_but_empty_dir_says_to_run_init() {
    let gw = Gw::fresh();
    fs::create_dir(gw.data()).expect("mkdir");
    let out = gw.exits(2, &["workspace", "list"]);
    assert!(out.stderr.contains("seliq-gateway init"), "{}", out.stderr);
    assert!(
        !gw.db().exists(),
        "a command before init created the database"
    );
}

#[test]
fn acceptance_create_then_show_json_prints_slug_and_description() {
    let gw = Gw::initialised();
    gw.ok(&[
        "workspace",
        "create",
        "acme-corp",
        "--description",
        "Critical 15m/4h",
    ]);
    let out = gw.ok(&["workspace", "show", "acme-corp", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("show --json is JSON");
    assert_eq!(v["slug"], "acme-corp");
    assert_eq!(v["description"], "Critical 15m/4h");
    let id = v["id"].as_str().expect("id");
    uuid::Uuid::parse_str(id).expect("id is a UUID");
    let created = v["created_at"].as_str().expect("created_at");
    chrono::DateTime::parse_from_rfc3339(created).expect("created_at is RFC 3339");

    let text = gw.ok(&["workspace", "show", "acme-corp"]);
    assert!(
        text.stdout.contains("acme-corp") && text.stdout.contains("Critical 15m/4h"),
        "{}",
        text.stdout
    );

    let list = gw.ok(&["workspace", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).expect("list --json is JSON");
    let first = &v[0];
    for field in ["id", "slug", "description", "created_at"] {
        assert!(
            first.get(field).is_some(),
            "list --json lacks {field}: {first}"
        );
    }
}

#[test]
fn every_invalid_slug_exits_2_naming_the_slug_and_creates_nothing() {
    let gw = Gw::initialised();
    let long = "a".repeat(64);
    let bad = [
        "Acme",
        "ac",
        "-acme",
        "acme-",
        "acme--corp",
        "acme_corp",
        "acme corp",
        "acmé",
        long.as_str(),
        "",
    ];
    for slug in bad {
        // `--` so that `-acme` reaches the slug check instead of clap's flag parser.
        let out = gw.exits(2, &["workspace", "create", "--", slug]);
        let named = format!("{slug:?}");
        assert!(
            out.stderr.contains(&named),
            "error for {named} does not name it: {}",
            out.stderr
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "error for {named} is not one sentence: {}",
            out.stderr
        );
    }
    assert!(gw.slugs().is_empty());
}

#[test]
fn a_slug_of_exactly_63_characters_is_accepted() {
    let gw = Gw::initialised();
    let slug = format!("a{}", "b".repeat(62));
    gw.ok(&["workspace", "create", &slug]);
    assert_eq!(gw.slugs(), [slug]);
}

#[test]
fn duplicate_slug_exits_3() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp", "--description", "first"]);
    let out = gw.exits(
        3,
        &[
            "workspace",
            "create",
            "acme-corp",
            "--description",
            "second",
        ],
    );
    assert!(out.stderr.contains("acme-corp"), "{}", out.stderr);
    let show = gw.ok(&["workspace", "show", "acme-corp", "--json"]);
    assert!(
        show.stdout.contains("first"),
        "the duplicate overwrote the original"
    );
}

#[test]
fn a_deleted_workspace_slug_is_never_reused() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    gw.ok(&["workspace", "delete", "acme-corp", "--confirm", "acme-corp"]);
    assert!(gw.slugs().is_empty(), "a deleted workspace is still listed");
    gw.exits(4, &["workspace", "show", "acme-corp"]);
    gw.exits(3, &["workspace", "create", "acme-corp"]);
}

#[test]
fn unknown_workspace_exits_4_naming_it() {
    let gw = Gw::initialised();
    let commands: &[&[&str]] = &[
        &["workspace", "show", "no-such-ws"],
        &[
            "workspace",
            "delete",
            "no-such-ws",
            "--confirm",
            "no-such-ws",
        ],
        &["integration", "list", "no-such-ws"],
        &["credentials", "rollback", "no-such-ws", "falcon"],
    ];
    for args in commands {
        let out = gw.exits(4, args);
        assert!(
            out.stderr.contains("no-such-ws"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn delete_without_matching_confirm_exits_2_and_deletes_nothing() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    let before = snapshot(&gw.data());
    let out = gw.exits(
        2,
        &[
            "workspace",
            "delete",
            "acme-corp",
            "--confirm",
            "acme-corp-prod",
        ],
    );
    assert!(out.stderr.contains("acme-corp"), "{}", out.stderr);
    // Without --confirm at all, clap refuses it.
    gw.exits(2, &["workspace", "delete", "acme-corp"]);
    assert_eq!(gw.slugs(), ["acme-corp"]);
    let db_before = before.iter().find(|(n, _)| n == "seliq.db").map(|(_, b)| b);
    let db_after = fs::read(gw.db()).expect("db");
    assert_eq!(
        db_before,
        Some(&db_after),
        "a refused delete wrote to the database"
    );
}

#[test]
fn description_over_4_kib_exits_2() {
    let gw = Gw::initialised();
    let long = "x".repeat(4097);
    let out = gw.exits(
        2,
        &["workspace", "create", "acme-corp", "--description", &long],
    );
    assert!(out.stderr.contains("acme-corp"), "{}", out.stderr);
    assert!(gw.slugs().is_empty());
    gw.ok(&[
        "workspace",
        "create",
        "acme-corp",
        "--description",
        &"x".repeat(4096),
    ]);
}

#[test]
fn a_file_that_is_not_a_database_exits_1_naming_it_and_is_left_untouched() {
    let gw = Gw::initialised();
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 251) as u8).collect();
    fs::write(gw.db(), &junk).expect("write junk");
    let db = gw.db().display().to_string();
    for args in [
        &["workspace", "list"][..],
        &["init"],
        &["workspace", "create", "acme-corp"],
    ] {
        let out = gw.exits(1, args);
        assert!(
            out.stderr.contains(&db),
            "{args:?} does not name {db}: {}",
            out.stderr
        );
        assert_eq!(
            fs::read(gw.db()).expect("db"),
            junk,
            "{args:?} wrote to the file"
        );
    }
    for sidecar in ["seliq.db-wal", "seliq.db-journal"] {
        let p = gw.data().join(sidecar);
        assert!(
            fs::metadata(&p).map(|m| m.len() == 0).unwrap_or(true),
            "{sidecar} was written next to a non-database"
        );
    }
}

#[test]
fn a_database_from_a_newer_gateway_is_refused_and_left_untouched() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    let conn = rusqlite::Connection::open(gw.db()).expect("open db");
    conn.pragma_update(None, "user_version", 99)
        .expect("user_version");
    drop(conn);
    let before = fs::read(gw.db()).expect("db");
    let out = gw.exits(1, &["workspace", "list"]);
    assert!(
        out.stderr.contains(&gw.db().display().to_string()),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("newer"), "{}", out.stderr);
    assert_eq!(fs::read(gw.db()).expect("db"), before);
}

#[test]
fn a_database_that_cannot_be_opened_exits_1_naming_it() {
    let gw = Gw::initialised();
    fs::remove_file(gw.db()).expect("rm db");
    for side in ["seliq.db-wal", "seliq.db-shm"] {
        let _ = fs::remove_file(gw.data().join(side));
    }
    fs::create_dir(gw.db()).expect("a directory where the database should be");
    let out = gw.exits(1, &["workspace", "list"]);
    assert!(
        out.stderr.contains(&gw.db().display().to_string()),
        "{}",
        out.stderr
    );
    assert!(gw.db().is_dir());
}

#[test]
fn a_key_file_readable_by_group_or_others_is_refused_naming_it_and_chmod_600() {
    let gw = Gw::initialised();
    let key_bytes = fs::read(gw.key()).expect("key");
    for bad in [0o640, 0o604, 0o644, 0o660] {
        fs::set_permissions(gw.key(), fs::Permissions::from_mode(bad)).expect("chmod");
        let out = gw.exits(2, &["workspace", "list"]);
        assert!(
            out.stderr.contains(&gw.key().display().to_string()),
            "{bad:o}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("chmod 600"), "{bad:o}: {}", out.stderr);
        let init = gw.run(&["init"]);
        assert_ne!(init.code, 0, "init accepted a {bad:o} key file");
        assert!(init.stderr.contains("chmod 600"), "{}", init.stderr);
        assert_eq!(mode(&gw.key()), bad, "the gateway changed the mode itself");
    }
    assert_eq!(fs::read(gw.key()).expect("key"), key_bytes);
    fs::set_permissions(gw.key(), fs::Permissions::from_mode(0o600)).expect("chmod");
    gw.ok(&["workspace", "list"]);
}

#[test]
fn a_new_key_file_readable_by_others_is_refused_by_master_key_rotation() {
    let gw = Gw::initialised();
    let new = gw.tmp.path().join("new.key");
    seliq_gateway::vault::MasterKey::generate()
        .expect("key")
        .write_file(&new)
        .expect("write");
    fs::set_permissions(&new, fs::Permissions::from_mode(0o644)).expect("chmod");
    let old = fs::read(gw.key()).expect("key");
    let out = gw.exits(
        2,
        &[
            "vault",
            "rotate-master-key",
            "--new-key-file",
            new.to_str().expect("utf8"),
        ],
    );
    assert!(
        out.stderr.contains("chmod 600") && out.stderr.contains("new.key"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(gw.key()).expect("key"), old);
}

#[test]
fn raw_sql_cannot_change_a_slug() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    let conn = rusqlite::Connection::open(gw.db()).expect("open db");
    let err = conn
        .execute(
            "UPDATE workspaces SET slug = 'evil-corp' WHERE slug = 'acme-corp'",
            [],
        )
        .expect_err("the store let raw SQL change a slug");
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(
        conn.execute("DELETE FROM workspaces WHERE slug = 'acme-corp'", [])
            .is_err(),
        "raw SQL deleted a workspace row"
    );
    drop(conn);
    assert_eq!(gw.slugs(), ["acme-corp"]);
}

#[test]
fn raw_sql_cannot_change_a_slug_by_replacing_the_row() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"]);
    let conn = rusqlite::Connection::open(gw.db()).expect("open db");
    for verb in ["INSERT OR REPLACE", "REPLACE"] {
        let result = conn.execute(
            &format!(
                "{verb} INTO workspaces (id, slug, description, plan, created_at)
                 SELECT id, 'evil-corp', description, plan, created_at FROM workspaces"
            ),
            [],
        );
        let slugs: String = conn
            .query_row("SELECT group_concat(slug) FROM workspaces", [], |r| {
                r.get(0)
            })
            .expect("slugs");
        assert!(
            result.is_err() && slugs == "acme-corp",
            "{verb}: {result:?}, slugs now {slugs:?}"
        );
    }
}

/// Every command path of the CLI, from clap's own tree: `[]`, `["workspace"]`, `["workspace",
/// "create"]`, ...
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        for sub in cmd.get_subcommands() {
            let mut p = prefix.clone();
            p.push(sub.get_name().to_owned());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

fn leaf_paths() -> Vec<Vec<String>> {
    let root = Cli::command();
    command_paths()
        .into_iter()
        .filter(|p| {
            let mut c = &root;
            for name in p {
                c = c.find_subcommand(name).expect("subcommand");
            }
            !c.has_subcommands()
        })
        .collect()
}

#[test]
fn help_of_every_command_that_runs_has_an_example() {
    let gw = Gw::fresh();
    let paths = leaf_paths();
    assert!(paths.len() >= 17, "only {} commands found", paths.len());
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = gw.exits(0, &args);
        assert!(
            out.stdout.contains("Example"),
            "`{}` has no example",
            args.join(" ")
        );
    }
}

#[test]
fn help_of_every_command_group_has_an_example() {
    let gw = Gw::fresh();
    let mut missing = Vec::new();
    for path in command_paths() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = gw.exits(0, &args);
        if !out.stdout.contains("Example") {
            missing.push(args.join(" "));
        }
    }
    assert!(missing.is_empty(), "no example in: {missing:?}");
}

#[test]
fn no_flag_anywhere_takes_a_secret_value() {
    let allowed: BTreeSet<&str> = [
        "secret-env",
        "secret-file",
        "secret-stdin",
        "new-key-env",
        "new-key-file",
        // A number: the mock token endpoint's requests per minute during `bench`.
        "falcon-token-quota",
    ]
    .into();
    let suspicious = [
        "secret",
        "password",
        "passwd",
        "token",
        "key",
        "credential",
        "apikey",
    ];
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, String)>) {
        for a in cmd.get_arguments() {
            if let Some(l) = a.get_long() {
                out.push((cmd.get_name().to_owned(), l.to_owned()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut longs = Vec::new();
    walk(&Cli::command(), &mut longs);
    for (cmd, long) in &longs {
        let lower = long.to_lowercase();
        if suspicious.iter().any(|s| lower.contains(s)) {
            assert!(
                allowed.contains(long.as_str()),
                "`{cmd} --{long}` looks like it takes a secret on the command line"
            );
        }
    }
}

#[test]
fn secret_commands_offer_env_file_and_stdin_and_reject_secret_values() {
    let gw = Gw::initialised();
    for cmd in [&["integration", "add"][..], &["credentials", "rotate"]] {
        let mut help = cmd.to_vec();
        help.push("--help");
        let out = gw.ok(&help);
        for flag in ["--secret-env", "--secret-file", "--secret-stdin"] {
            assert!(out.stdout.contains(flag), "{cmd:?} --help lacks {flag}");
        }
    }
    let value = "hunter2-argv-secret-value";
    for flag in [
        "--secret",
        "--client-secret",
        "--password",
        "--token",
        "--api-key",
    ] {
        let add = [
            "integration",
            "add",
            "acme-corp",
            "falcon",
            "--kind",
            "crowdstrike",
            "--client-id",
            "abc",
            "--cid",
            "0123456789abcdef0123456789abcdef",
            "--no-verify",
            flag,
            value,
        ];
        let rotate = [
            "credentials",
            "rotate",
            "acme-corp",
            "falcon",
            "--no-verify",
            flag,
            value,
        ];
        let with_eq = format!("{flag}={value}");
        let rotate_eq = [
            "credentials",
            "rotate",
            "acme-corp",
            "falcon",
            with_eq.as_str(),
        ];
        for args in [&add[..], &rotate[..], &rotate_eq[..]] {
            let out = gw.exits(2, args);
            assert!(
                out.stderr.contains("unexpected argument"),
                "{flag} was not rejected by the parser: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains(value) && !out.stdout.contains(value),
                "the rejected value was echoed: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn errors_are_one_line_on_stderr_and_data_is_on_stdout() {
    let gw = Gw::initialised();
    let created = gw.ok(&["workspace", "create", "acme-corp"]);
    assert!(created.stdout.contains("acme-corp"));
    let out = gw.exits(4, &["workspace", "show", "globex"]);
    assert!(
        out.stdout.is_empty(),
        "error went to stdout: {}",
        out.stdout
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
