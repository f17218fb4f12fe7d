//! A running `serve` (the real binary) for the integration tests: start, HTTP GETs with a read
//! token, signals, and its log.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Env;

/// A running `serve` and the port its HTTP side listens on.
pub struct Serve {
    pub child: Child,
    pub port: u16,
    pub stderr_path: PathBuf,
    /// An all-workspaces read token for `/v1/status`.
    pub token: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Serve {
    pub fn start(env: &Env, extra: &[&str]) -> Serve {
        let port = free_port();
        let stderr_path = env.dir.path().join(format!("serve-{port}.log"));
        let mut c = env.cmd();
        c.env("RUST_LOG", "info")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        let child = c.spawn().expect("start serve");
        let created = env.ok(&[
            "token",
            "create",
            "--all-workspaces",
            "--scope",
            "read",
            "--name",
            "serve-test",
            "--json",
        ]);
        let token = serde_json::from_str::<serde_json::Value>(&created).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let s = Serve {
            child,
            port,
            stderr_path,
            token,
        };
        let started = Instant::now();
        while s.get("/livez").is_none_or(|(c, _)| c != 200) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve did not answer /livez within 20 s: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// A GET over a plain socket: status code and body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.token
        )
        .ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let code = raw.split_whitespace().nth(1)?.parse().ok()?;
        let body = raw.split_once("\r\n\r\n")?.1.to_owned();
        // axum answers small bodies with a Content-Length; chunked only for streams.
        Some((code, body))
    }

    pub fn status(&self) -> Vec<serde_json::Value> {
        let (code, body) = self.get("/v1/status").expect("status");
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        v["integrations"]
            .as_array()
            .unwrap_or_else(|| {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "/v1/status answered {code}: {body}\nlast log lines, newest first:\n{}",
                    tail.join("\n")
                )
            })
            .clone()
    }

    /// One integration's `/v1/status` entry; `null` until the scheduler first publishes (its
    /// first tick after start), so a `wait_until` on a field simply waits longer.
    pub fn integration(&self, name: &str) -> serde_json::Value {
        self.status()
            .into_iter()
            .find(|i| i["integration"] == name)
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// SIGTERM, then the exit code, which must come within `within`.
    pub fn terminate(mut self, within: Duration) -> i32 {
        self.signal("-TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < within,
                "serve did not exit within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether a `/v1/status` entry names this process as the replica holding it (the default
    /// replica id ends in the pid).
    pub fn is_holder(&self, entry: &serde_json::Value) -> bool {
        entry["replica"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!("-{}", self.child.id())))
    }

    /// How many integrations this replica holds, by its own `/v1/status`.
    pub fn integration_holder_count(&self) -> usize {
        self.status().iter().filter(|s| self.is_holder(s)).count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
