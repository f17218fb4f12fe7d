//! Shared helpers for the gateway's integration tests: a temp data dir and the real binary.
#![allow(dead_code)]

pub mod pg;
pub mod serve;
pub mod vendors;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Env {
    pub dir: tempfile::TempDir,
    /// Variables every command of this env runs with (a database URL, a master key).
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// A fresh, initialised data dir.
    pub fn new() -> Env {
        Env::with_vars(&[])
    }

    /// A fresh data dir whose commands run with `vars`, initialised.
    pub fn with_vars(vars: &[(&str, &str)]) -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        env.ok(&["init"]);
        env
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_seliq-gateway"));
        c.env("SELIQ_DATA_DIR", self.data_dir())
            .env_remove("SELIQ_MASTER_KEY")
            .env_remove("SELIQ_DATABASE_URL")
            .env("SELIQ_ACTOR", "test-operator")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run gateway")
    }

    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = self.cmd();
        for (k, v) in vars {
            c.env(k, v);
        }
        c.args(args).output().expect("run gateway")
    }

    /// [`falcon_offline_args`], run with `secret` as `FALCON_SECRET`.
    pub fn add_falcon_offline(
        &self,
        ws: &str,
        name: &str,
        client_id: &str,
        cid: &str,
        secret: &str,
    ) -> Output {
        self.run_env(
            &falcon_offline_args(ws, name, client_id, cid),
            &[("FALCON_SECRET", secret)],
        )
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join("seliq.db")).expect("open db")
    }
}

/// `integration add WS NAME` of Falcon CID `cid` through `client_id`, offline: `--no-verify`
/// and a base URL where nothing answers; the secret comes from `FALCON_SECRET`.
pub fn falcon_offline_args<'a>(
    ws: &'a str,
    name: &'a str,
    client_id: &'a str,
    cid: &'a str,
) -> [&'a str; 16] {
    [
        "integration",
        "add",
        ws,
        name,
        "--kind",
        "crowdstrike",
        "--client-id",
        client_id,
        "--cid",
        cid,
        "--base-url",
        "http://127.0.0.1:9",
        "--allow-insecure-http",
        "--secret-env",
        "FALCON_SECRET",
        "--no-verify",
    ]
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Fifty workspaces, then fifty `integration add` processes started at once, each binding the
/// Falcon CID `cid` (mixed spellings: bare lowercase and upper case with a checksum suffix)
/// into its own workspace. Their outputs, in start order.
pub fn race_fifty_binds(env: &Env, cid: &str) -> Vec<Output> {
    let slugs: Vec<String> = (0..50).map(|i| format!("client-{i:02}")).collect();
    for s in &slugs {
        env.ok(&["workspace", "create", s]);
    }
    let children: Vec<_> = slugs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let cid = if i % 2 == 0 {
                cid.to_owned()
            } else {
                format!("{}-A7", cid.to_uppercase())
            };
            let mut c = env.cmd();
            c.args(falcon_offline_args(s, "falcon", "parent", &cid))
                .env("FALCON_SECRET", "s3cret-value")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            c.spawn().expect("spawn")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect()
}

/// Every line of these NDJSON files, in order, parsed; a torn line fails the test.
pub fn ndjson_lines(files: &[PathBuf]) -> Vec<serde_json::Value> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("torn line in {}: {l:?}: {e}", f.display()))
                })
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}
