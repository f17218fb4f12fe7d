//! `bench --part serve`: W workspaces × 3 integrations (the scale part's setup, against the same
//! mock processes) polled by a real `seliq-gateway serve` child process for `--serve-seconds`
//! at the default 60 s interval. Figures: the child's peak RSS, polls per integration and
//! vendor, how stale the stalest integration got, and how SIGTERM ended it.
//!
//! Nothing is lifted in the gateway: `serve` runs with its production defaults, including the
//! Falcon token pacing of 250 mints per minute per API host (the vendor allows 300 per source
//! IP), so W child CIDs need W/250 minutes for their first tokens. The report shows that per
//! vendor rather than hiding it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::BenchArgs;
use super::proc_stats::{mib, status_kib};
use super::scale::{setup, start_mocks};
use crate::app::{self, App, Config};
use crate::error::{Error, Result};
use seliq_connectors::http::HttpOptions;

/// The end of the window whose CPU is reported as the steady state: two 60 s intervals.
const STEADY_TAIL: Duration = Duration::from_secs(120);

/// One GET as HTTP/1.0, so the body is never chunked (a large `/v1/status` would be over 1.1)
/// and ends when the server closes the connection.
fn get(port: u16, path: &str, token: &SecretString) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        token.expose_secret()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    Some(raw.split_once("\r\n\r\n")?.1.to_owned())
}

/// `name{labels} value` lines of one metric, as (labels text, value).
fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.split_once("} ")?;
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels
        .split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\"")?.strip_suffix('"'))
}

/// One `serve` child.
struct Replica {
    child: std::process::Child,
    port: u16,
    tail_start: Option<(Instant, f64)>,
}

pub fn run(args: &BenchArgs) -> Result<Value> {
    let replicas = args.serve_replicas.max(1);
    if replicas > 1 && args.store_database_url.is_none() {
        return Err(Error::Invalid(
            "--serve-replicas above 1 needs --store-database-url (replicas share a PostgreSQL database)"
                .to_owned(),
        ));
    }
    let mocks = start_mocks(args)?;
    let dir = tempfile::tempdir()
        .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
    let config = Config {
        data_dir: dir.path().join("data"),
        database_url: args.store_database_url.clone().map(SecretString::from),
        actor: "bench".to_owned(),
    };
    app::init(&config)?;
    // `/v1/status` needs a token: a read token over every workspace, made as `token create` does.
    let token = {
        let mut app = App::open(config.clone())?;
        let rt = super::runtime(2)?;
        rt.block_on(setup(
            &mut app,
            &HttpOptions::default_timeouts()?,
            &mocks,
            args.workspaces,
        ))?;
        crate::api::tokens::create(
            &mut app,
            &crate::api::tokens::NewToken {
                workspace: None,
                scope: crate::store::TokenScope::Read,
                name: "bench".to_owned(),
                expires_in: None,
            },
        )?
        .token
    };
    // Every replica its own data dir (spool, lock) with the first one's master key.
    let mut data_dirs = vec![config.data_dir.clone()];
    for i in 1..replicas {
        let d = dir.path().join(format!("data-{i}"));
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&d)
            .and_then(|()| std::fs::copy(config.key_path(), d.join(app::KEY_FILE)).map(drop))
            .map_err(|e| Error::Runtime(format!("cannot prepare {}: {e}", d.display())))?;
        data_dirs.push(d);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot locate this executable: {e}")))?;
    let mut children = Vec::with_capacity(replicas);
    for data_dir in &data_dirs {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::Runtime(format!("cannot find a free port: {e}")))?
            .port();
        let mut serve_args = vec![
            "serve".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        if let Some(n) = args.serve_concurrency {
            serve_args.extend(["--max-concurrent-polls".to_owned(), n.to_string()]);
        }
        let mut cmd = Command::new(&exe);
        cmd.args(&serve_args)
            .env("SELIQ_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match &args.store_database_url {
            Some(url) => cmd.env("SELIQ_DATABASE_URL", url),
            None => cmd.env_remove("SELIQ_DATABASE_URL"),
        };
        let child = cmd
            .spawn()
            .map_err(|e| Error::Runtime(format!("cannot start serve: {e}")))?;
        children.push(Replica {
            child,
            port,
            tail_start: None,
        });
    }
    let started = Instant::now();
    let window = Duration::from_secs(args.serve_seconds);
    // The children's CPU over the last two intervals of the window: by then (for a window well
    // past the first round) the mocks add nothing, so every poll finds nothing new.
    let tail = STEADY_TAIL.min(window / 2);
    while started.elapsed() < window {
        for r in &mut children {
            if let Some(status) = r.child.try_wait().ok().flatten() {
                return Err(Error::Runtime(format!("serve exited early: {status}")));
            }
            if r.tail_start.is_none() && started.elapsed() + tail >= window {
                r.tail_start =
                    super::proc_stats::cpu_seconds(Some(r.child.id())).map(|c| (Instant::now(), c));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut per_replica = Vec::with_capacity(replicas);
    let mut metrics = String::new();
    for r in &children {
        let pid = r.child.id();
        let tail_cpu_share = r.tail_start.and_then(|(at, before)| {
            let after = super::proc_stats::cpu_seconds(Some(pid))?;
            Some((after - before) / at.elapsed().as_secs_f64())
        });
        let proc_status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let peak_rss = status_kib(&proc_status, "VmHWM").map(|k| k * 1024);
        let rss_at_end = status_kib(&proc_status, "VmRSS").map(|k| k * 1024);
        let text = get(r.port, "/metrics", &token).unwrap_or_default();
        let held = samples(&text, "seliq_lease_held")
            .iter()
            .filter(|(_, v)| *v > 0.0)
            .count();
        metrics.push_str(&text);
        per_replica.push(json!({
            "peak_rss_mib": peak_rss.map(|b| super::proc_stats::round(mib(b), 1)),
            "rss_at_end_mib": rss_at_end.map(|b| super::proc_stats::round(mib(b), 1)),
            "cpu_share_of_one_core_in_tail": tail_cpu_share.map(|c| super::proc_stats::round(c, 3)),
            "integrations_held": args.store_database_url.as_ref().map(|_| held),
        }));
    }
    let database_sessions = match &args.store_database_url {
        Some(_) => {
            let mut app = App::open(config.clone())?;
            // Less this bench's own session.
            Some(
                app.store()
                    .read(|tx| Ok::<_, Error>(tx.gateway_sessions()?))?
                    .saturating_sub(1),
            )
        }
        None => None,
    };
    let port = children[0].port;
    let status: Value = get(port, "/v1/status", &token)
        .and_then(|b| serde_json::from_str(&b).ok())
        .ok_or_else(|| {
            Error::Runtime("serve's /v1/status did not answer with its JSON".to_owned())
        })?;

    // Polls per integration and vendor.
    let mut ok_polls: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut by_outcome: BTreeMap<String, f64> = BTreeMap::new();
    for (labels, v) in samples(&metrics, "seliq_polls_total") {
        let outcome = label(labels, "outcome").unwrap_or("?").to_owned();
        *by_outcome.entry(outcome.clone()).or_default() += v;
        if outcome == "ok" {
            let key = (
                label(labels, "vendor").unwrap_or("?").to_owned(),
                format!(
                    "{}/{}",
                    label(labels, "workspace").unwrap_or("?"),
                    label(labels, "integration").unwrap_or("?")
                ),
            );
            *ok_polls.entry(key).or_default() += v;
        }
    }
    let mut per_vendor = serde_json::Map::new();
    let integrations = status["integrations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for vendor in ["crowdstrike", "sentinel", "splunk"] {
        let mine: Vec<&Value> = integrations
            .iter()
            .filter(|i| i["vendor"] == vendor)
            .collect();
        let polls: Vec<f64> = mine
            .iter()
            .map(|i| {
                let key = (
                    vendor.to_owned(),
                    format!(
                        "{}/{}",
                        i["workspace"].as_str().unwrap_or(""),
                        i["integration"].as_str().unwrap_or("")
                    ),
                );
                ok_polls.get(&key).copied().unwrap_or(0.0)
            })
            .collect();
        let stalest = mine
            .iter()
            .filter_map(|i| i["seconds_since_last_success"].as_f64())
            .fold(0.0f64, f64::max);
        let never = mine
            .iter()
            .filter(|i| i["seconds_since_last_success"].is_null())
            .count();
        per_vendor.insert(
            vendor.to_owned(),
            json!({
                "integrations": mine.len(),
                "min_ok_polls": polls.iter().copied().fold(f64::INFINITY, f64::min),
                "max_ok_polls": polls.iter().copied().fold(0.0, f64::max),
                "never_succeeded": never,
                "stalest_seconds_since_success": super::proc_stats::round(stalest, 1),
            }),
        );
    }

    let stop = Instant::now();
    for r in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &r.child.id().to_string()])
            .status();
    }
    let mut exits = Vec::with_capacity(replicas);
    for r in &mut children {
        let exit = r
            .child
            .wait()
            .map_err(|e| Error::Runtime(format!("cannot wait for serve: {e}")))?;
        exits.push(exit.code());
    }
    let stop_s = stop.elapsed().as_secs_f64();
    drop(mocks);
    let one = &per_replica[0];
    Ok(json!({
        "part": "serve",
        "workspaces": args.workspaces,
        "integrations": integrations.len(),
        "interval_s": 60,
        "window_s": args.serve_seconds,
        "max_concurrent_polls": args.serve_concurrency,
        "replicas": replicas,
        "database": if args.store_database_url.is_some() { "postgres" } else { "sqlite" },
        "database_sessions_at_end": database_sessions,
        "peak_rss_mib": one["peak_rss_mib"],
        "rss_at_end_mib": one["rss_at_end_mib"],
        "steady_tail_s": tail.as_secs(),
        "cpu_share_of_one_core_in_tail": one["cpu_share_of_one_core_in_tail"],
        "per_replica": per_replica,
        "polls_by_outcome": by_outcome,
        "per_vendor": per_vendor,
        "sigterm_exit_codes": exits,
        "sigterm_to_exit_s": super::proc_stats::round(stop_s, 2),
        "method": "setup as the scale part (store + guard, no vendor calls); then `seliq-gateway serve` with its defaults (60 s interval, spool delivery, Falcon token pacing 250/min) as child processes (one per replica, sharing the PostgreSQL database when given) against the same mock processes; peak RSS is each child's VmHWM; polls summed over the replicas' /metrics; staleness from the first replica's /v1/status at the end of the window",
    }))
}
