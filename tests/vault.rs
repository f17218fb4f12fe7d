//! The vault issue's checklist: envelope encryption scoped to one workspace, opaque failures,
//! isolation of rotations, DEK rotation, nonce uniqueness, no plaintext anywhere, master-key
//! rotation (including interrupted ones) and crypto-shredding.
//!
//! Library-level tests go through the public API; the storage-isolation tests drive the real
//! binary and compare raw rows with rusqlite.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::Utc;
use rusqlite::Connection;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use seliq_gateway::app::{self, App, Config};
use seliq_gateway::error::Error;
use seliq_gateway::ids::{CredentialVersion, IntegrationId, WorkspaceId};
use seliq_gateway::slug::Slug;
use seliq_gateway::store::{CredentialRow, CredentialState, Plan, Store, WorkspaceRow};
use seliq_gateway::vault::{
    CredentialContext, FailAfter, MasterKey, Vault, VaultError, WorkspaceVault,
};

const BIN: &str = env!("CARGO_BIN_EXE_seliq-gateway");
const SOURCE: &str = "crowdstrike:0123456789abcdef0123456789abcdef";
/// Blob layout: format (1) | DEK version (4) | nonce (12) | ciphertext || tag.
const NONCE_AT: usize = 5;
const NONCE_LEN: usize = 12;

// ---------------------------------------------------------------------------------------------
// Library-level fixtures
// ---------------------------------------------------------------------------------------------

struct Lib {
    _dir: tempfile::TempDir,
    store: Store,
    vault: Vault,
}

impl Lib {
    fn new() -> Lib {
        Lib::with_vault(|v| v)
    }

    fn with_vault(f: impl FnOnce(Vault) -> Vault) -> Lib {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(&dir.path().join("seliq.db")).expect("create store");
        let vault = f(Vault::new(MasterKey::generate().expect("master key")));
        Lib {
            _dir: dir,
            store,
            vault,
        }
    }

    fn workspace(&mut self, slug: &str) -> WorkspaceId {
        let id = WorkspaceId::new();
        let row = WorkspaceRow {
            id,
            slug: Slug::parse(slug).expect("slug"),
            description: String::new(),
            plan: Plan::Pro,
            created_at: Utc::now(),
            deleted_at: None,
        };
        let vault = self.vault.clone();
        self.store
            .write(|tx| {
                tx.insert_workspace(&row)?;
                vault.init_workspace(tx, id)?;
                Ok::<_, Error>(())
            })
            .expect("create workspace");
        id
    }

    fn seal(&mut self, ws: WorkspaceId, ctx: &CredentialContext<'_>, secret: &str) -> Vec<u8> {
        let vault = self.vault.clone();
        let secret = SecretString::from(secret.to_owned());
        self.store
            .write(|tx| {
                let mut wv = vault.workspace(tx, &live(tx, ws))?;
                Ok::<_, Error>(wv.seal(tx, ctx, &secret)?)
            })
            .expect("seal")
    }

    fn handle(&mut self, ws: WorkspaceId) -> WorkspaceVault {
        let vault = self.vault.clone();
        self.store
            .read(|tx| Ok::<_, Error>(vault.workspace(tx, &live(tx, ws))?))
            .expect("workspace handle")
    }

    fn open(
        &mut self,
        ws: WorkspaceId,
        ctx: &CredentialContext<'_>,
        blob: &[u8],
    ) -> Result<String, VaultError> {
        self.handle(ws)
            .open(ctx, blob)
            .map(|s| s.expose_secret().to_owned())
    }
}

fn ctx(integration_id: IntegrationId, version: u32) -> CredentialContext<'static> {
    CredentialContext {
        integration_id,
        source: SOURCE,
        version: CredentialVersion::new(version).expect("a version is at least 1"),
    }
}

fn assert_opaque(result: Result<String, VaultError>, what: &str) -> VaultError {
    match result {
        Ok(_) => panic!("{what}: the blob opened"),
        Err(e) => {
            assert!(
                matches!(e, VaultError::CannotOpen),
                "{what}: not the opaque error: {e:?}"
            );
            e
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope: round trip and every way a blob must fail to open
// ---------------------------------------------------------------------------------------------

#[test]
fn round_trip_opens_exactly_what_was_sealed() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let c = ctx(IntegrationId::new(), 1);
    for secret in [
        "s",
        "a longer secret with spaces",
        "ünïcødé-🔑",
        &"x".repeat(4096),
    ] {
        let blob = lib.seal(ws, &c, secret);
        assert_eq!(blob[0], 1, "format byte");
        assert_eq!(WorkspaceVault::blob_dek_version(&blob), Some(1));
        assert_eq!(blob.len(), 1 + 4 + NONCE_LEN + secret.len() + 16);
        assert_eq!(lib.open(ws, &c, &blob).expect("open"), secret);
    }
}

#[test]
fn sealing_the_same_secret_twice_gives_different_blobs() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let c = ctx(IntegrationId::new(), 1);
    assert_ne!(lib.seal(ws, &c, "same"), lib.seal(ws, &c, "same"));
}

#[test]
fn opening_through_another_workspaces_handle_fails() {
    let mut lib = Lib::new();
    let a = lib.workspace("acme-corp");
    let b = lib.workspace("globex");
    let c = ctx(IntegrationId::new(), 1);
    let blob = lib.seal(a, &c, "acme secret");
    assert_opaque(lib.open(b, &c, &blob), "A's blob through B's handle");
    assert_eq!(lib.open(a, &c, &blob).expect("own handle"), "acme secret");
}

#[test]
fn blob_swapped_between_two_integrations_of_one_workspace_fails() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let (one, two) = (ctx(IntegrationId::new(), 1), ctx(IntegrationId::new(), 1));
    let blob_one = lib.seal(ws, &one, "secret one");
    let blob_two = lib.seal(ws, &two, "secret two");
    assert_opaque(lib.open(ws, &two, &blob_one), "one's blob in two's row");
    assert_opaque(lib.open(ws, &one, &blob_two), "two's blob in one's row");
}

#[test]
fn blob_moved_to_another_source_identity_fails() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let c = ctx(IntegrationId::new(), 1);
    let blob = lib.seal(ws, &c, "secret");
    let other = CredentialContext {
        source: "crowdstrike:fedcba9876543210fedcba9876543210",
        ..c
    };
    assert_opaque(lib.open(ws, &other, &blob), "blob under another source");
}

#[test]
fn blob_swapped_between_workspaces_fails() {
    let mut lib = Lib::new();
    let a = lib.workspace("acme-corp");
    let b = lib.workspace("globex");
    let (ca, cb) = (ctx(IntegrationId::new(), 1), ctx(IntegrationId::new(), 1));
    let blob_a = lib.seal(a, &ca, "acme secret");
    let blob_b = lib.seal(b, &cb, "globex secret");
    // Each blob in the other workspace's row: the other handle, the other row's context.
    assert_opaque(lib.open(b, &cb, &blob_a), "A's blob in B's row");
    assert_opaque(lib.open(a, &ca, &blob_b), "B's blob in A's row");
    // Even with the original integration id and version, the workspace binds it.
    assert_opaque(
        lib.open(b, &ca, &blob_a),
        "A's blob, A's context, B's handle",
    );
}

#[test]
fn every_flipped_bit_fails() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let c = ctx(IntegrationId::new(), 1);
    let blob = lib.seal(ws, &c, "flip me");
    let wv = lib.handle(ws);
    for byte in 0..blob.len() {
        for bit in 0..8 {
            let mut bad = blob.clone();
            bad[byte] ^= 1 << bit;
            let r = wv.open(&c, &bad).map(|s| s.expose_secret().to_owned());
            assert_opaque(r, &format!("bit {bit} of byte {byte} flipped"));
        }
    }
}

#[test]
fn old_versions_blob_replayed_into_the_current_row_fails() {
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let id = IntegrationId::new();
    let v1 = lib.seal(ws, &ctx(id, 1), "old secret");
    let v2 = lib.seal(ws, &ctx(id, 2), "new secret");
    assert_eq!(lib.open(ws, &ctx(id, 2), &v2).expect("v2"), "new secret");
    assert_opaque(lib.open(ws, &ctx(id, 2), &v1), "v1 replayed as v2");
    assert_opaque(lib.open(ws, &ctx(id, 3), &v2), "v2 replayed as v3");
}

#[test]
fn every_failure_is_the_same_opaque_error() {
    let mut lib = Lib::new();
    let a = lib.workspace("acme-corp");
    let b = lib.workspace("globex");
    let id = IntegrationId::new();
    let blob = lib.seal(a, &ctx(id, 1), "secret");
    let mut flipped = blob.clone();
    flipped[20] ^= 0x80;
    let mut bad_format = blob.clone();
    bad_format[0] = 2;
    let mut unknown_dek = blob.clone();
    unknown_dek[1..5].copy_from_slice(&99u32.to_be_bytes());
    let failures = vec![
        assert_opaque(lib.open(b, &ctx(id, 1), &blob), "other workspace"),
        assert_opaque(
            lib.open(a, &ctx(IntegrationId::new(), 1), &blob),
            "other integration",
        ),
        assert_opaque(lib.open(a, &ctx(id, 2), &blob), "other version"),
        assert_opaque(lib.open(a, &ctx(id, 1), &flipped), "flipped bit"),
        assert_opaque(lib.open(a, &ctx(id, 1), &bad_format), "unknown format"),
        assert_opaque(
            lib.open(a, &ctx(id, 1), &unknown_dek),
            "unknown DEK version",
        ),
        assert_opaque(
            lib.open(a, &ctx(id, 1), &blob[..blob.len() - 1]),
            "truncated",
        ),
        assert_opaque(lib.open(a, &ctx(id, 1), &blob[..3]), "header only"),
        assert_opaque(lib.open(a, &ctx(id, 1), &[]), "empty"),
    ];
    let messages: HashSet<String> = failures.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages.len(),
        1,
        "failures are distinguishable: {messages:?}"
    );
    let message = messages.into_iter().next().expect("one message");
    for leak in [
        id.to_string(),
        a.to_string(),
        b.to_string(),
        SOURCE.to_owned(),
    ] {
        assert!(!message.contains(&leak), "{message} names {leak}");
    }
    let debugs: HashSet<String> = failures.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(debugs.len(), 1, "Debug output differs: {debugs:?}");
}

// ---------------------------------------------------------------------------------------------
// DEK rotation and nonces
// ---------------------------------------------------------------------------------------------

#[test]
fn dek_rotation_past_the_seal_limit_makes_a_new_version_for_that_workspace_alone() {
    let mut lib = Lib::with_vault(|v| v.with_seal_limit(3));
    let a = lib.workspace("acme-corp");
    let b = lib.workspace("globex");
    let b_keys_before = lib
        .store
        .read(|tx| Ok::<_, Error>(tx.deks(b)?))
        .expect("deks");

    let mut sealed = Vec::new();
    for i in 0..7u32 {
        let c = ctx(IntegrationId::new(), 1);
        let secret = format!("secret {i}");
        let blob = lib.seal(a, &c, &secret);
        sealed.push((c, secret, blob));
    }
    let versions: Vec<u32> = sealed
        .iter()
        .map(|(_, _, b)| WorkspaceVault::blob_dek_version(b).expect("version"))
        .collect();
    assert_eq!(
        versions,
        [1, 1, 1, 2, 2, 2, 3],
        "DEK versions used by successive seals"
    );

    let (a_keys, b_keys) = lib
        .store
        .read(|tx| Ok::<_, Error>((tx.deks(a)?, tx.deks(b)?)))
        .expect("deks");
    assert_eq!(
        a_keys.iter().map(|k| k.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        a_keys.iter().map(|k| k.seals).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(b_keys, b_keys_before, "workspace B's keys changed");
    let wrapped: HashSet<&[u8]> = a_keys.iter().map(|k| k.wrapped.as_slice()).collect();
    assert_eq!(wrapped.len(), 3, "DEK versions are distinct keys");

    // A fresh handle (a later process) still opens the blobs of every DEK version.
    for (c, secret, blob) in &sealed {
        assert_eq!(&lib.open(a, c, blob).expect("old blob opens"), secret);
    }
    // B's handle still has its one key and seals under version 1.
    let bc = ctx(IntegrationId::new(), 1);
    let bb = lib.seal(b, &bc, "globex");
    assert_eq!(WorkspaceVault::blob_dek_version(&bb), Some(1));
}

#[test]
fn no_nonce_repeats_over_100000_seals() {
    const SEALS: usize = 100_000;
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let vault = lib.vault.clone();
    let c = ctx(IntegrationId::new(), 1);
    let secret = SecretString::from("n".to_owned());
    let nonces = lib
        .store
        .write(|tx| {
            let mut wv = vault.workspace(tx, &live(tx, ws))?;
            let mut nonces = HashSet::with_capacity(SEALS);
            for _ in 0..SEALS {
                let blob = wv.seal(tx, &c, &secret)?;
                let nonce: [u8; NONCE_LEN] = blob[NONCE_AT..NONCE_AT + NONCE_LEN]
                    .try_into()
                    .expect("12 bytes");
                nonces.insert(nonce);
            }
            Ok::<_, Error>(nonces)
        })
        .expect("seals");
    assert_eq!(nonces.len(), SEALS, "a nonce repeated");
    let seals = lib
        .store
        .read(|tx| Ok::<_, Error>(tx.deks(ws)?))
        .expect("deks")[0]
        .seals;
    assert_eq!(seals, SEALS as u64, "every seal is counted against the DEK");
}

// ---------------------------------------------------------------------------------------------
// Secret hygiene at the type level
// ---------------------------------------------------------------------------------------------

#[test]
fn debug_output_and_errors_of_types_holding_a_secret_never_show_it() {
    let marker = format!("MARKER-{}", Uuid::new_v4().simple());
    let mut lib = Lib::new();
    let ws = lib.workspace("acme-corp");
    let c = ctx(IntegrationId::new(), 1);
    let blob = lib.seal(ws, &c, &marker);
    let handle = lib.handle(ws);
    let opened = handle.open(&c, &blob).expect("open");
    assert_eq!(opened.expose_secret(), marker);
    let row = CredentialRow {
        integration_id: c.integration_id,
        version: CredentialVersion::FIRST,
        state: CredentialState::Current,
        blob: blob.clone(),
        created_at: Utc::now(),
    };
    let wrong = handle
        .open(&ctx(IntegrationId::new(), 1), &blob)
        .expect_err("wrong ctx");
    let gateway_error = Error::from(VaultError::CannotOpen);
    let outputs = [
        format!("{opened:?}"),
        format!("{opened:#?}"),
        format!("{:?}", SecretString::from(marker.clone())),
        format!("{handle:?}"),
        format!("{handle:#?}"),
        format!("{row:?}"),
        format!("{row:#?}"),
        format!("{:?}", lib.vault),
        format!("{c:?}"),
        format!("{wrong}"),
        format!("{wrong:?}"),
        format!("{gateway_error}"),
        format!("{gateway_error:?}"),
    ];
    for out in &outputs {
        assert!(!out.contains(&marker), "the secret leaked: {out}");
    }
    // Nor does the blob's Debug dump the ciphertext.
    assert!(!format!("{row:?}").contains(&format!("{:?}", &blob[..8])));
}

/// Compile-time trait probes for concrete types: the inherent const (bounded on the trait) wins
/// when the type implements the trait, the blanket trait's const otherwise.
macro_rules! implements {
    ($ty:ty: $trait:path) => {{
        #[allow(dead_code)]
        trait No {
            const YES: bool = false;
        }
        impl<T: ?Sized> No for T {}
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + $trait> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$ty>>::YES
    }};
}

#[test]
fn types_that_hold_secrets_are_neither_serialize_nor_display() {
    // The probe itself works.
    assert!(implements!(String: serde::Serialize));
    assert!(implements!(String: std::fmt::Display));
    assert!(implements!(CredentialRow: std::fmt::Debug));
    assert!(implements!(WorkspaceRow: serde::Serialize));
    assert!(!implements!(MasterKey: serde::Serialize));
    assert!(!implements!(MasterKey: std::fmt::Display));
    assert!(!implements!(Vault: serde::Serialize));
    assert!(!implements!(Vault: std::fmt::Display));
    assert!(!implements!(WorkspaceVault: serde::Serialize));
    assert!(!implements!(WorkspaceVault: std::fmt::Display));
    assert!(!implements!(SecretString: serde::Serialize));
    assert!(!implements!(SecretString: std::fmt::Display));
    assert!(!implements!(CredentialRow: serde::Serialize));
    assert!(!implements!(seliq_gateway::integrations::NewIntegration: serde::Serialize));
    assert!(!implements!(seliq_gateway::integrations::NewIntegration: std::fmt::Display));
    assert!(!implements!(seliq_gateway::integrations::NewIntegration: std::fmt::Debug));
}

#[test]
fn debug_output_of_the_master_key_never_shows_the_key() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    MasterKey::generate()
        .expect("key")
        .write_file(&path)
        .expect("write");
    let text = fs::read_to_string(&path).expect("read");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64");
    let key = MasterKey::read_file(&path).expect("read key");
    let vault = Vault::new(MasterKey::read_file(&path).expect("read key"));
    for out in [
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{vault:?}"),
    ] {
        assert!(!out.contains(text.trim()), "the key leaked: {out}");
        assert!(
            !out.contains(&hex::encode(&raw)),
            "the key leaked as hex: {out}"
        );
        assert!(
            !out.contains(&format!("{:?}", &raw[..])),
            "the key leaked as bytes: {out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CLI-level fixtures
// ---------------------------------------------------------------------------------------------

struct Gw {
    tmp: tempfile::TempDir,
    /// Every argv passed to the binary, for the "never on argv" check.
    argv: std::cell::RefCell<Vec<String>>,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Gw {
    fn initialised() -> Gw {
        let gw = Gw {
            tmp: tempfile::tempdir().expect("tempdir"),
            argv: Default::default(),
        };
        gw.ok(&["init"], &[]);
        gw
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn db_path(&self) -> PathBuf {
        self.data().join("seliq.db")
    }

    fn conn(&self) -> Connection {
        Connection::open(self.db_path()).expect("open db")
    }

    fn config(&self) -> Config {
        Config {
            data_dir: self.data(),
            database_url: None,
            actor: "vault-test".to_owned(),
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut c = Command::new(BIN);
        c.env_remove("SELIQ_MASTER_KEY")
            .env_remove("SELIQ_DATABASE_URL")
            .env("RUST_LOG", "trace")
            .env("SELIQ_DATA_DIR", self.data())
            .env("SELIQ_ACTOR", "vault-test")
            .current_dir(self.tmp.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            c.env(k, v);
        }
        self.argv
            .borrow_mut()
            .extend(args.iter().map(|a| a.to_string()));
        let mut child = c.spawn().expect("spawn seliq-gateway");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let out = self.run(args, env, None);
        assert_eq!(out.code, 0, "{args:?} failed: {}", tail(&out.stderr));
        out
    }

    /// `integration add` of a Sentinel workspace, stored without calling the vendor. Each
    /// `la_workspace` is a distinct source.
    fn add(&self, ws: &str, name: &str, la_workspace: &str, secret: &str) -> Out {
        let var = "SELIQ_TEST_SECRET";
        self.ok(
            &[
                "integration",
                "add",
                ws,
                name,
                "--kind",
                "sentinel",
                "--tenant-id",
                "11111111-2222-3333-4444-555555555555",
                "--client-id",
                "66666666-7777-8888-9999-000000000000",
                "--subscription-id",
                "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "--resource-group",
                "rg-soc",
                "--workspace-name",
                la_workspace,
                "--authority-url",
                "http://127.0.0.1:9",
                "--management-url",
                "http://127.0.0.1:9",
                "--allow-insecure-http",
                "--secret-env",
                var,
                "--no-verify",
            ],
            &[(var, secret)],
        )
    }

    /// `integration add` of a CrowdStrike child CID, stored without calling the vendor.
    fn add_crowdstrike(&self, ws: &str, name: &str, cid: &str, secret: &str) -> Out {
        let var = "SELIQ_TEST_SECRET";
        self.ok(
            &[
                "integration",
                "add",
                ws,
                name,
                "--kind",
                "crowdstrike",
                "--client-id",
                "0123abcd0123abcd0123abcd0123abcd",
                "--cid",
                cid,
                "--base-url",
                "http://127.0.0.1:9",
                "--allow-insecure-http",
                "--secret-env",
                var,
                "--no-verify",
            ],
            &[(var, secret)],
        )
    }

    fn rotate_env(&self, ws: &str, name: &str, secret: &str) -> Out {
        let var = "SELIQ_TEST_NEW_SECRET";
        self.ok(
            &[
                "credentials",
                "rotate",
                ws,
                name,
                "--secret-env",
                var,
                "--no-verify",
            ],
            &[(var, secret)],
        )
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

fn workspace_id(conn: &Connection, slug: &str) -> String {
    conn.query_row("SELECT id FROM workspaces WHERE slug = ?1", [slug], |r| {
        r.get(0)
    })
    .expect("workspace id")
}

fn integration_id(conn: &Connection, slug: &str, name: &str) -> String {
    conn.query_row(
        "SELECT i.id FROM integrations i JOIN workspaces w ON w.id = i.workspace_id WHERE w.slug = ?1 AND i.name = ?2",
        [slug, name],
        |r| r.get(0),
    )
    .expect("integration id")
}

/// Rows of a query, every column rendered with its exact type and bytes.
fn rows(conn: &Connection, sql: &str, id: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([id], |r| {
        (0..n)
            .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map(|cols| cols.join(" | "))
    })
    .expect("query")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("rows")
}

/// Every stored row that belongs to one workspace, table by table.
fn dump_workspace(conn: &Connection, ws: &str) -> BTreeMap<&'static str, Vec<String>> {
    let of_integrations = "IN (SELECT id FROM integrations WHERE workspace_id = ?1)";
    BTreeMap::from([
        (
            "workspaces",
            rows(conn, "SELECT * FROM workspaces WHERE id = ?1", ws),
        ),
        (
            "workspace_keys",
            rows(
                conn,
                "SELECT * FROM workspace_keys WHERE workspace_id = ?1 ORDER BY version",
                ws,
            ),
        ),
        (
            "integrations",
            rows(
                conn,
                "SELECT * FROM integrations WHERE workspace_id = ?1 ORDER BY id",
                ws,
            ),
        ),
        (
            "bindings",
            rows(
                conn,
                "SELECT * FROM bindings WHERE workspace_id = ?1 ORDER BY source",
                ws,
            ),
        ),
        (
            "credentials",
            rows(
                conn,
                &format!(
                    "SELECT * FROM credentials WHERE integration_id {of_integrations} ORDER BY integration_id, version"
                ),
                ws,
            ),
        ),
        (
            "checkpoints",
            rows(
                conn,
                &format!(
                    "SELECT * FROM checkpoints WHERE integration_id {of_integrations} ORDER BY integration_id"
                ),
                ws,
            ),
        ),
        (
            "audit_entries",
            rows(
                conn,
                "SELECT * FROM audit_entries WHERE workspace_id = ?1 ORDER BY seq",
                ws,
            ),
        ),
        (
            "audit_segments",
            rows(
                conn,
                "SELECT * FROM audit_segments WHERE workspace_id = ?1 ORDER BY first_seq",
                ws,
            ),
        ),
        (
            "audit_checkpoints",
            rows(
                conn,
                "SELECT * FROM audit_checkpoints WHERE workspace_id = ?1 ORDER BY seq",
                ws,
            ),
        ),
    ])
}

/// Every stored row of one integration.
fn dump_integration(conn: &Connection, id: &str) -> BTreeMap<&'static str, Vec<String>> {
    BTreeMap::from([
        (
            "integrations",
            rows(conn, "SELECT * FROM integrations WHERE id = ?1", id),
        ),
        (
            "credentials",
            rows(
                conn,
                "SELECT * FROM credentials WHERE integration_id = ?1 ORDER BY version",
                id,
            ),
        ),
        (
            "bindings",
            rows(conn, "SELECT * FROM bindings WHERE integration_id = ?1", id),
        ),
        (
            "checkpoints",
            rows(
                conn,
                "SELECT * FROM checkpoints WHERE integration_id = ?1",
                id,
            ),
        ),
    ])
}

fn count(conn: &Connection, sql: &str, id: &str) -> i64 {
    conn.query_row(sql, [id], |r| r.get(0)).expect("count")
}

/// Open every stored credential version of every live workspace with `vault`.
fn open_all(store: &mut Store, vault: &Vault) -> Result<Vec<String>, Error> {
    store.read(|tx| {
        let mut out = Vec::new();
        for ws in tx.list_workspaces(false)? {
            let wv = vault.workspace(tx, &live(tx, ws.id))?;
            for integ in tx.integrations(ws.id)? {
                for cred in tx.credentials(integ.id)? {
                    let c = CredentialContext {
                        integration_id: integ.id,
                        source: &integ.source,
                        version: cred.version,
                    };
                    out.push(wv.open(&c, &cred.blob)?.expose_secret().to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    })
}

fn no_master_key_env() {
    assert!(
        std::env::var_os(app::MASTER_KEY_ENV).is_none(),
        "run these tests without SELIQ_MASTER_KEY in the environment"
    );
}

// ---------------------------------------------------------------------------------------------
// Isolation of rotations (CLI + raw rows)
// ---------------------------------------------------------------------------------------------

#[test]
fn rotating_one_integration_leaves_workspace_b_and_as_other_integrations_byte_identical() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.ok(&["workspace", "create", "globex"], &[]);
    gw.add(
        "acme-corp",
        "sentinel-prod",
        "la-acme-prod",
        "acme-prod-secret-v1",
    );
    gw.add(
        "acme-corp",
        "sentinel-dev",
        "la-acme-dev",
        "acme-dev-secret-v1",
    );
    gw.add(
        "globex",
        "sentinel-prod",
        "la-globex-prod",
        "globex-secret-v1",
    );

    let conn = gw.conn();
    let b = workspace_id(&conn, "globex");
    let a_rotated = integration_id(&conn, "acme-corp", "sentinel-prod");
    let a_other = integration_id(&conn, "acme-corp", "sentinel-dev");
    let b_before = dump_workspace(&conn, &b);
    let a_other_before = dump_integration(&conn, &a_other);
    let a_rotated_before = dump_integration(&conn, &a_rotated);
    drop(conn);

    gw.rotate_env("acme-corp", "sentinel-prod", "acme-prod-secret-v2");

    let conn = gw.conn();
    assert_eq!(
        dump_workspace(&conn, &b),
        b_before,
        "workspace B's rows changed"
    );
    assert_eq!(
        dump_integration(&conn, &a_other),
        a_other_before,
        "A's other integration changed"
    );
    // Sanity: the rotation did write, and only to the rotated integration.
    assert_ne!(dump_integration(&conn, &a_rotated), a_rotated_before);
    let states: Vec<(u32, String)> = conn
        .prepare(
            "SELECT version, state FROM credentials WHERE integration_id = ?1 ORDER BY version",
        )
        .expect("prepare")
        .query_map([&a_rotated], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(
        states,
        [(1, "previous".to_owned()), (2, "current".to_owned())]
    );
    drop(conn);

    // The stored credentials open to exactly the secrets given.
    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    assert_eq!(
        open_all(&mut store, &vault).expect("open all"),
        [
            "acme-dev-secret-v1",
            "acme-prod-secret-v1",
            "acme-prod-secret-v2",
            "globex-secret-v1"
        ]
    );
}

#[test]
fn an_old_versions_blob_written_into_the_current_row_does_not_open_end_to_end() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.add(
        "acme-corp",
        "sentinel-prod",
        "la-acme-prod",
        "replay-secret-v1",
    );
    gw.rotate_env("acme-corp", "sentinel-prod", "replay-secret-v2");

    let conn = gw.conn();
    let id = integration_id(&conn, "acme-corp", "sentinel-prod");
    let changed = conn
        .execute(
            "UPDATE credentials SET blob = (SELECT blob FROM credentials WHERE integration_id = ?1 AND version = 1)
             WHERE integration_id = ?1 AND state = 'current'",
            [&id],
        )
        .expect("replay");
    assert_eq!(changed, 1);
    drop(conn);

    // `integration test` opens the current credential before it calls the vendor.
    let out = gw.run(
        &["integration", "test", "acme-corp", "sentinel-prod"],
        &[],
        None,
    );
    assert_eq!(out.code, 1, "{}", tail(&out.stderr));
    assert!(
        out.stderr.contains("cannot be opened"),
        "{}",
        tail(&out.stderr)
    );
    assert!(!out.stderr.contains("replay-secret"), "{}", out.stderr);

    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    let err = open_all(&mut store, &vault).expect_err("the replayed blob opened");
    assert!(
        matches!(err, Error::Vault(VaultError::CannotOpen)),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// No plaintext anywhere
// ---------------------------------------------------------------------------------------------

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_marker_secret_appears_nowhere_outside_the_ciphertext() {
    let gw = Gw::initialised();
    // Hold a connection open so the CLI processes are never the last to close: the WAL is then
    // neither checkpointed nor deleted, and every frame they wrote is still there to scan.
    let holder = gw.conn();
    let _: i64 = holder
        .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
        .expect("read");

    let m = Uuid::new_v4().simple().to_string();
    let markers = [
        format!("MARKER-ADD-{m}"),
        format!("MARKER-ENV-{m}"),
        format!("MARKER-FILE-{m}"),
        format!("MARKER-STDIN-{m}"),
        format!("MARKER-FALCON-{m}"),
    ];
    let mut outputs = vec![
        gw.ok(&["workspace", "create", "acme-corp"], &[]),
        gw.add("acme-corp", "sentinel-prod", "la-acme-prod", &markers[0]),
        gw.add_crowdstrike(
            "acme-corp",
            "falcon",
            "0123456789abcdef0123456789abcdef-3f",
            &markers[4],
        ),
        gw.rotate_env("acme-corp", "sentinel-prod", &markers[1]),
    ];

    let secret_file = gw.tmp.path().join("secret.txt");
    fs::write(&secret_file, format!("{}\n", markers[2])).expect("secret file");
    let file_arg = secret_file.to_str().expect("utf8").to_owned();
    outputs.push(gw.ok(
        &[
            "credentials",
            "rotate",
            "acme-corp",
            "sentinel-prod",
            "--secret-file",
            &file_arg,
            "--no-verify",
        ],
        &[],
    ));
    fs::remove_file(&secret_file).expect("rm secret file");
    let out = gw.run(
        &[
            "credentials",
            "rotate",
            "acme-corp",
            "sentinel-prod",
            "--secret-stdin",
            "--no-verify",
        ],
        &[],
        Some(&markers[3]),
    );
    assert_eq!(out.code, 0, "{}", tail(&out.stderr));
    outputs.push(out);
    outputs.push(gw.ok(
        &["credentials", "rollback", "acme-corp", "sentinel-prod"],
        &[],
    ));
    outputs.push(gw.ok(&["integration", "list", "acme-corp", "--json"], &[]));
    outputs.push(gw.ok(&["workspace", "show", "acme-corp", "--json"], &[]));
    let export = gw.tmp.path().join("audit.jsonl");
    outputs.push(gw.ok(
        &[
            "audit",
            "export",
            "acme-corp",
            "--format",
            "jsonl",
            "--output",
            export.to_str().expect("utf8"),
        ],
        &[],
    ));
    // A failing command that handles the credential: a rotation of an unknown integration.
    let failed = gw.run(
        &[
            "credentials",
            "rotate",
            "acme-corp",
            "nope",
            "--secret-env",
            "SELIQ_TEST_NEW_SECRET",
            "--no-verify",
        ],
        &[("SELIQ_TEST_NEW_SECRET", &markers[1])],
        None,
    );
    assert_eq!(failed.code, 4, "{}", tail(&failed.stderr));
    outputs.push(failed);

    for (i, o) in outputs.iter().enumerate() {
        for marker in &markers {
            assert!(
                !o.stdout.contains(marker.as_str()),
                "command {i}: marker in stdout"
            );
            assert!(
                !o.stderr.contains(marker.as_str()),
                "command {i}: marker in stderr"
            );
        }
    }
    for arg in gw.argv.borrow().iter() {
        for marker in &markers {
            assert!(!arg.contains(marker.as_str()), "marker on argv: {arg}");
        }
    }
    let wal = gw.data().join("seliq.db-wal");
    assert!(
        fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false),
        "the WAL should still hold the frames written by the CLI"
    );
    let mut scanned = Vec::new();
    for entry in fs::read_dir(gw.data()).expect("data dir") {
        let path = entry.expect("entry").path();
        let bytes = fs::read(&path).expect("read");
        for marker in &markers {
            assert!(
                !contains(&bytes, marker.as_bytes()),
                "marker {marker} found in {}",
                path.display()
            );
        }
        scanned.push(
            path.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
        );
    }
    for expected in ["seliq.db", "seliq.db-wal", "seliq.db-shm"] {
        assert!(
            scanned.iter().any(|s| s == expected),
            "{expected} was not scanned: {scanned:?}"
        );
    }
    let exported = fs::read(&export).expect("export");
    for marker in &markers {
        assert!(
            !contains(&exported, marker.as_bytes()),
            "marker in the audit export"
        );
    }
    drop(holder);

    // The secret is there, sealed: after the rollback, version 3 (from the file) is the only one
    // left (older versions are destroyed by rotation, the rolled-back one by the rollback).
    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    let opened = open_all(&mut store, &vault).expect("open");
    let mut expected = vec![markers[2].clone(), markers[4].clone()];
    expected.sort();
    assert_eq!(opened, expected);
}

// ---------------------------------------------------------------------------------------------
// Master-key rotation
// ---------------------------------------------------------------------------------------------

fn dek_rows(conn: &Connection) -> Vec<String> {
    rows(
        conn,
        "SELECT * FROM workspace_keys WHERE ?1 = ?1 ORDER BY workspace_id, version",
        "",
    )
}

fn credential_rows(conn: &Connection) -> Vec<String> {
    rows(
        conn,
        "SELECT * FROM credentials WHERE ?1 = ?1 ORDER BY integration_id, version",
        "",
    )
}

fn write_new_key(dir: &Path) -> (PathBuf, MasterKey) {
    let path = dir.join("new-master.key");
    MasterKey::generate()
        .expect("key")
        .write_file(&path)
        .expect("write");
    let key = MasterKey::read_file(&path).expect("read");
    (path, key)
}

#[test]
fn master_key_rotation_rewraps_every_dek_and_the_old_key_opens_nothing() {
    no_master_key_env();
    let gw = Gw::initialised();
    for ws in ["acme-corp", "globex", "initech"] {
        gw.ok(&["workspace", "create", ws], &[]);
    }
    gw.add("acme-corp", "sentinel-prod", "la-acme-prod", "acme-v1");
    gw.rotate_env("acme-corp", "sentinel-prod", "acme-v2");
    gw.add("globex", "sentinel-prod", "la-globex", "globex-v1");

    let old = app::load_master_key(&gw.config()).expect("old key");
    let old_text = fs::read_to_string(gw.data().join("master.key")).expect("old key text");
    let conn = gw.conn();
    let creds_before = credential_rows(&conn);
    let deks_before = dek_rows(&conn);
    drop(conn);

    let (new_path, new) = write_new_key(gw.tmp.path());
    let out = gw.ok(
        &[
            "vault",
            "rotate-master-key",
            "--new-key-file",
            new_path.to_str().expect("utf8"),
        ],
        &[],
    );
    assert!(out.stdout.contains(new.id()), "{}", out.stdout);

    // The key file now holds the new key, privately.
    let key_path = gw.data().join("master.key");
    assert_eq!(MasterKey::read_file(&key_path).expect("key").id(), new.id());
    assert!(!gw.data().join("master.key.next").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&key_path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the rotated key file is not private");
    let conn = gw.conn();
    assert_eq!(
        credential_rows(&conn),
        creds_before,
        "credential ciphertexts were touched"
    );
    let deks_after = dek_rows(&conn);
    assert_eq!(deks_after.len(), deks_before.len());
    let kek_ids: HashSet<String> = conn
        .prepare("SELECT kek_id FROM workspace_keys")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(kek_ids, HashSet::from([new.id().to_owned()]));
    drop(conn);

    // Everything opens under the new key ...
    let mut store = Store::open(&gw.db_path()).expect("store");
    let new_vault = Vault::new(MasterKey::read_file(&new_path).expect("new"));
    assert_eq!(
        open_all(&mut store, &new_vault).expect("new key opens all"),
        ["acme-v1", "acme-v2", "globex-v1"]
    );
    // ... and nothing under the old one, not even with the rows' key ids forged back.
    let old_vault = Vault::new(old);
    let ids: Vec<WorkspaceId> = store
        .read(|tx| {
            Ok::<_, Error>(
                tx.list_workspaces(false)?
                    .into_iter()
                    .map(|w| w.id)
                    .collect(),
            )
        })
        .expect("ids");
    for id in &ids {
        let r = store.read(|tx| Ok::<_, Error>(old_vault.workspace(tx, &live(tx, *id))?));
        assert!(
            matches!(r, Err(Error::Vault(VaultError::WrongMasterKey { .. }))),
            "old key unwrapped a DEK: {r:?}"
        );
    }
    drop(store);
    let conn = gw.conn();
    conn.execute(
        "UPDATE workspace_keys SET kek_id = ?1",
        [old_vault.master().id()],
    )
    .expect("forge kek ids");
    drop(conn);
    let mut store = Store::open(&gw.db_path()).expect("store");
    for id in &ids {
        let r = store.read(|tx| Ok::<_, Error>(old_vault.workspace(tx, &live(tx, *id))?));
        assert!(r.is_err(), "old key unwrapped a rewrapped DEK");
    }
    assert!(
        !fs::read_to_string(&key_path)
            .expect("key")
            .contains(old_text.trim())
    );
}

#[test]
fn master_key_rotation_from_an_env_var_then_the_cli_keeps_working() {
    use base64::Engine;
    no_master_key_env();
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.add(
        "acme-corp",
        "sentinel-prod",
        "la-acme-prod",
        "env-rotation-v1",
    );
    let raw = [42u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let out = gw.ok(
        &[
            "vault",
            "rotate-master-key",
            "--new-key-env",
            "SELIQ_TEST_NEW_KEY",
        ],
        &[("SELIQ_TEST_NEW_KEY", &encoded)],
    );
    assert!(!out.stdout.contains(&encoded) && !out.stderr.contains(&encoded));
    let key_text = fs::read_to_string(gw.data().join("master.key")).expect("key");
    assert_eq!(
        key_text.trim(),
        encoded,
        "master.key should hold the new key"
    );
    // Later commands use the new key: a rotation must unwrap the DEK to seal.
    gw.rotate_env("acme-corp", "sentinel-prod", "env-rotation-v2");
    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    assert_eq!(
        open_all(&mut store, &vault).expect("open"),
        ["env-rotation-v1", "env-rotation-v2"]
    );
}

/// An initialised data dir with three workspaces and one sealed blob each (kept in memory).
struct Sealed {
    gw: Gw,
    blobs: Vec<(WorkspaceId, IntegrationId, Vec<u8>, String)>,
}

fn sealed_fixture() -> Sealed {
    no_master_key_env();
    let gw = Gw::initialised();
    let mut app = App::open(gw.config()).expect("open app");
    let mut blobs = Vec::new();
    for slug in ["acme-corp", "globex", "initech"] {
        let ws = seliq_gateway::workspaces::create(
            &mut app,
            &Slug::parse(slug).expect("slug"),
            "",
            Plan::Pro,
        )
        .expect("create");
        let integ = IntegrationId::new();
        let secret = format!("{slug}-secret");
        let vault = app.vault().clone();
        let s = SecretString::from(secret.clone());
        let blob = app
            .store()
            .write(|tx| {
                Ok::<_, Error>(vault.workspace(tx, &live(tx, ws.id))?.seal(
                    tx,
                    &ctx(integ, 1),
                    &s,
                )?)
            })
            .expect("seal");
        blobs.push((ws.id, integ, blob, secret));
    }
    Sealed { gw, blobs }
}

impl Sealed {
    fn opens_with(&self, app: &mut App) -> bool {
        let vault = app.vault().clone();
        self.blobs.iter().all(|(ws, integ, blob, secret)| {
            app.store()
                .read(|tx| {
                    let wv = vault.workspace(tx, &live(tx, *ws))?;
                    Ok::<_, Error>(wv.open(&ctx(*integ, 1), blob)?)
                })
                .is_ok_and(|s| s.expose_secret() == secret)
        })
    }
}

/// The failure hook exists in debug builds only (`cargo test` builds them).
#[cfg(debug_assertions)]
#[test]
fn interrupted_master_key_rotation_leaves_every_dek_under_the_old_key() {
    let f = sealed_fixture();
    let key_path = f.gw.data().join("master.key");
    let key_before = fs::read(&key_path).expect("key");
    let deks_before = dek_rows(&f.gw.conn());
    let (_, new) = write_new_key(f.gw.tmp.path());

    for k in 0..f.blobs.len() {
        let mut app = App::open(f.gw.config()).expect("open");
        let err = seliq_gateway::rekey::rotate_master_key(&mut app, &new, FailAfter::after(k))
            .expect_err("the injected failure");
        assert!(
            matches!(err, Error::Vault(VaultError::Injected(n)) if n == k),
            "{err:?}"
        );
        drop(app);
        assert_eq!(
            dek_rows(&f.gw.conn()),
            deks_before,
            "fail_after {k}: DEKs changed"
        );
        assert_eq!(
            fs::read(&key_path).expect("key"),
            key_before,
            "fail_after {k}: key file changed"
        );
        assert!(
            !f.gw.data().join("master.key.next").exists(),
            "fail_after {k}: .next left behind"
        );
        let mut app = App::open(f.gw.config()).expect("reopen");
        assert!(
            f.opens_with(&mut app),
            "fail_after {k}: a blob no longer opens with the old key"
        );
    }

    // The same rotation, uninterrupted, then succeeds and switches keys.
    let mut app = App::open(f.gw.config()).expect("open");
    let n = seliq_gateway::rekey::rotate_master_key(&mut app, &new, FailAfter::never())
        .expect("rotate");
    assert_eq!(n, f.blobs.len());
    drop(app);
    let mut app = App::open(f.gw.config()).expect("reopen");
    assert_eq!(app.vault().master().id(), new.id());
    assert!(f.opens_with(&mut app));
}

#[cfg(debug_assertions)]
#[test]
fn interrupted_rewrap_inside_the_vault_rolls_back_the_transaction() {
    let f = sealed_fixture();
    let deks_before = dek_rows(&f.gw.conn());
    let new = MasterKey::generate().expect("key");
    let mut app = App::open(f.gw.config()).expect("open");
    let vault = app.vault().clone();
    let r = app
        .store()
        .write(|tx| Ok::<_, Error>(vault.rotate_master_key(tx, &new, FailAfter::after(2))?));
    assert!(
        matches!(r, Err(Error::Vault(VaultError::Injected(2)))),
        "{r:?}"
    );
    assert_eq!(dek_rows(&f.gw.conn()), deks_before);
    assert!(f.opens_with(&mut app));
}

#[test]
fn a_crash_after_the_rewrap_commits_but_before_the_key_file_moves_is_finished_at_next_open() {
    let f = sealed_fixture();
    let next = f.gw.data().join("master.key.next");
    let new = MasterKey::generate().expect("key");
    {
        let mut app = App::open(f.gw.config()).expect("open");
        new.write_file(&next).expect("write .next");
        let vault = app.vault().clone();
        app.store()
            .write(|tx| Ok::<_, Error>(vault.rotate_master_key(tx, &new, FailAfter::never())?))
            .expect("rewrap");
        // "Crash": master.key is never replaced.
    }
    let mut app = App::open(f.gw.config()).expect("open finishes the rotation");
    assert_eq!(app.vault().master().id(), new.id());
    assert!(!next.exists());
    let on_disk = MasterKey::read_file(&f.gw.data().join("master.key")).expect("key");
    assert_eq!(on_disk.id(), new.id());
    assert!(f.opens_with(&mut app));
}

#[test]
fn a_crash_before_the_rewrap_commits_discards_the_new_key_at_next_open() {
    let f = sealed_fixture();
    let next = f.gw.data().join("master.key.next");
    let key_before = fs::read(f.gw.data().join("master.key")).expect("key");
    MasterKey::generate()
        .expect("key")
        .write_file(&next)
        .expect("write .next");
    let mut app = App::open(f.gw.config()).expect("open");
    assert!(!next.exists(), "the useless .next file was kept");
    assert_eq!(
        fs::read(f.gw.data().join("master.key")).expect("key"),
        key_before
    );
    assert!(f.opens_with(&mut app));
}

#[test]
fn rotating_to_the_current_master_key_is_refused() {
    let f = sealed_fixture();
    let mut app = App::open(f.gw.config()).expect("open");
    let same = MasterKey::read_file(&f.gw.data().join("master.key")).expect("key");
    let err = seliq_gateway::rekey::rotate_master_key(&mut app, &same, FailAfter::never())
        .expect_err("refused");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Crypto-shredding
// ---------------------------------------------------------------------------------------------

#[test]
fn deleting_a_workspace_destroys_its_dek_and_credentials_and_leaves_others_byte_identical() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.ok(&["workspace", "create", "globex"], &[]);
    gw.add(
        "acme-corp",
        "sentinel-prod",
        "la-acme-prod",
        "acme-doomed-v1",
    );
    gw.rotate_env("acme-corp", "sentinel-prod", "acme-doomed-v2");
    gw.add(
        "acme-corp",
        "sentinel-dev",
        "la-acme-dev",
        "acme-doomed-dev",
    );
    gw.add("globex", "sentinel-prod", "la-globex", "globex-survivor");

    let conn = gw.conn();
    let a = workspace_id(&conn, "acme-corp");
    let b = workspace_id(&conn, "globex");
    let a_integrations: Vec<String> = conn
        .prepare("SELECT id FROM integrations WHERE workspace_id = ?1")
        .expect("prepare")
        .query_map([&a], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(a_integrations.len(), 2);
    let a_blob: Vec<u8> = conn
        .query_row(
            "SELECT blob FROM credentials WHERE integration_id = ?1 AND state = 'current'",
            [&a_integrations[0]],
            |r| r.get(0),
        )
        .expect("blob");
    let b_before = dump_workspace(&conn, &b);
    drop(conn);

    gw.ok(
        &["workspace", "delete", "acme-corp", "--confirm", "acme-corp"],
        &[],
    );

    let conn = gw.conn();
    assert_eq!(
        dump_workspace(&conn, &b),
        b_before,
        "workspace B's rows changed"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workspace_keys WHERE workspace_id = ?1",
            &a
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM integrations WHERE workspace_id = ?1",
            &a
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM bindings WHERE workspace_id = ?1",
            &a
        ),
        0
    );
    for id in &a_integrations {
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM credentials WHERE integration_id = ?1",
                id
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM checkpoints WHERE integration_id = ?1",
                id
            ),
            0
        );
    }
    // The tombstone and the audit log remain.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workspaces WHERE id = ?1 AND deleted_at IS NOT NULL",
            &a
        ),
        1
    );
    drop(conn);

    // A copy of A's blob taken before the delete can never be opened again.
    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    let a_id = WorkspaceId::parse(&a).expect("uuid");
    // No key handle can be had for a deleted workspace (the vault serves only live ones), and
    // its wrapped keys are gone from the store, so the copied blob has nothing to open it.
    let (still_live, deks_left) = store
        .read(|tx| Ok::<_, Error>((tx.live_workspace(a_id)?.is_some(), tx.deks(a_id)?.len())))
        .expect("read");
    assert!(!still_live, "a deleted workspace still resolves as live");
    assert_eq!(deks_left, 0, "a deleted workspace kept wrapped keys");
    assert!(!a_blob.is_empty());
    assert_eq!(
        open_all(&mut store, &vault).expect("B still opens"),
        ["globex-survivor"]
    );
}

#[test]
fn workspace_delete_is_one_transaction_all_or_nothing() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.add(
        "acme-corp",
        "sentinel-prod",
        "la-acme-prod",
        "atomic-secret",
    );
    let conn = gw.conn();
    let a = workspace_id(&conn, "acme-corp");
    let before = dump_workspace(&conn, &a);
    // Inject a failure at the last step of the delete (the tombstone): every earlier step —
    // integrations, credentials, keys — must roll back with it.
    conn.execute_batch(
        "CREATE TRIGGER test_fail_tombstone BEFORE UPDATE OF deleted_at ON workspaces
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .expect("trigger");
    drop(conn);

    let out = gw.run(
        &["workspace", "delete", "acme-corp", "--confirm", "acme-corp"],
        &[],
        None,
    );
    assert_ne!(out.code, 0, "the delete should have failed");
    let conn = gw.conn();
    assert_eq!(
        dump_workspace(&conn, &a),
        before,
        "a failed delete left partial changes"
    );
    conn.execute_batch("DROP TRIGGER test_fail_tombstone")
        .expect("drop trigger");
    drop(conn);

    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    assert_eq!(
        open_all(&mut store, &vault).expect("open"),
        ["atomic-secret"]
    );
    drop(store);
    gw.ok(
        &["workspace", "delete", "acme-corp", "--confirm", "acme-corp"],
        &[],
    );
}

#[test]
fn removing_an_integration_destroys_its_credentials_and_nothing_else() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    gw.add("acme-corp", "sentinel-prod", "la-acme-prod", "remove-me");
    gw.add("acme-corp", "sentinel-dev", "la-acme-dev", "keep-me");
    let conn = gw.conn();
    let gone = integration_id(&conn, "acme-corp", "sentinel-prod");
    let kept = integration_id(&conn, "acme-corp", "sentinel-dev");
    let kept_before = dump_integration(&conn, &kept);
    drop(conn);
    gw.ok(
        &["integration", "remove", "acme-corp", "sentinel-prod"],
        &[],
    );
    let conn = gw.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM credentials WHERE integration_id = ?1",
            &gone
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM bindings WHERE integration_id = ?1",
            &gone
        ),
        0
    );
    assert_eq!(dump_integration(&conn, &kept), kept_before);
}

// ---------------------------------------------------------------------------------------------
// Verification failures and mismatched keys
// ---------------------------------------------------------------------------------------------

#[test]
fn a_rotation_whose_verification_fails_leaves_the_current_credential_in_place() {
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    let m = Uuid::new_v4().simple().to_string();
    let (current, rejected) = (format!("MARKER-KEEP-{m}"), format!("MARKER-REJECTED-{m}"));
    gw.add_crowdstrike(
        "acme-corp",
        "falcon",
        "0123456789abcdef0123456789abcdef",
        &current,
    );
    let conn = gw.conn();
    let id = integration_id(&conn, "acme-corp", "falcon");
    let before = dump_integration(&conn, &id);
    drop(conn);

    // Verified against a port where nothing listens: the check fails.
    let var = "SELIQ_TEST_NEW_SECRET";
    let out = gw.run(
        &[
            "credentials",
            "rotate",
            "acme-corp",
            "falcon",
            "--secret-env",
            var,
        ],
        &[(var, &rejected)],
        None,
    );
    assert_eq!(out.code, 1, "{}", tail(&out.stderr));
    assert!(!out.stderr.contains(&rejected) && !out.stdout.contains(&rejected));

    let conn = gw.conn();
    assert_eq!(
        dump_integration(&conn, &id),
        before,
        "a failed rotation changed the stored credential"
    );
    let ws = workspace_id(&conn, "acme-corp");
    let failures = count(
        &conn,
        "SELECT count(*) FROM audit_entries WHERE workspace_id = ?1 AND action = 'credential.rotation_failed'",
        &ws,
    );
    assert_eq!(failures, 1, "the failed rotation is not in the audit log");
    drop(conn);
    let mut store = Store::open(&gw.db_path()).expect("store");
    let vault = Vault::new(app::load_master_key(&gw.config()).expect("key"));
    assert_eq!(open_all(&mut store, &vault).expect("open"), [current]);
}

#[test]
fn a_master_key_that_does_not_match_the_data_dir_is_refused_before_anything_is_written() {
    use base64::Engine;
    let gw = Gw::initialised();
    gw.ok(&["workspace", "create", "acme-corp"], &[]);
    let conn = gw.conn();
    let deks_before = dek_rows(&conn);
    drop(conn);
    let other = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let out = gw.run(
        &["workspace", "create", "globex"],
        &[("SELIQ_MASTER_KEY", &other)],
        None,
    );
    assert_ne!(
        out.code, 0,
        "a workspace was created under a foreign master key"
    );
    assert!(
        out.stderr.contains("SELIQ_MASTER_KEY"),
        "{}",
        tail(&out.stderr)
    );
    assert_eq!(dek_rows(&gw.conn()), deks_before);
}

/// The live workspace `id`, resolved in `tx` as the library does before it hands out a key handle.
fn live(
    tx: &seliq_gateway::store::ReadTx<'_>,
    id: WorkspaceId,
) -> seliq_gateway::store::LiveWorkspace {
    tx.live_workspace(id)
        .expect("read workspace")
        .expect("a live workspace")
}
