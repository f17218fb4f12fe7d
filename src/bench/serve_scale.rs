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
/// With `--serve-trickle-seconds`: each source gains one alert per this many seconds (the
/// integrations' interval), spread over it.
const TRICKLE_EVERY_S: u64 = 60;
/// From the last arrival to the quiet tail: an interval, its jitter, a poll and room to spare,
/// so every arrival is delivered before the tail measures an idle gateway.
const TRICKLE_GAP: Duration = Duration::from_secs(90);

/// When new alerts arrive, counted from the mocks' start (`--trickle-after`, `--trickle-for`).
struct Trickle {
    after: Duration,
    length: Duration,
}

impl Trickle {
    /// The arrivals fit before the gap and the tail, or the window is refused.
    fn plan(seconds: u64, window: Duration, tail: Duration) -> Result<Option<Trickle>> {
        if seconds == 0 {
            return Ok(None);
        }
        if !seconds.is_multiple_of(TRICKLE_EVERY_S) {
            return Err(Error::Invalid(format!(
                "--serve-trickle-seconds {seconds} must be a multiple of the {TRICKLE_EVERY_S} s interval"
            )));
        }
        let length = Duration::from_secs(seconds);
        let after = window.checked_sub(tail + TRICKLE_GAP + length).ok_or_else(|| {
            Error::Invalid(format!(
                "--serve-seconds {} leaves no room for {seconds} s of arrivals, the {} s to deliver them and the {} s quiet tail",
                window.as_secs(),
                TRICKLE_GAP.as_secs(),
                tail.as_secs()
            ))
        })?;
        Ok(Some(Trickle { after, length }))
    }

    fn mock_args(&self) -> Vec<String> {
        vec![
            "--trickle-every".to_owned(),
            TRICKLE_EVERY_S.to_string(),
            "--trickle-after".to_owned(),
            self.after.as_secs().to_string(),
            "--trickle-for".to_owned(),
            self.length.as_secs().to_string(),
        ]
    }

    /// Arrivals per source: one per interval of the length.
    fn per_source(&self) -> u64 {
        self.length.as_secs() / TRICKLE_EVERY_S
    }
}

/// Cumulative counts of the delivery lag histogram per vendor: `vendor -> [(le, count)]`,
/// summed over every scrape in `text` (one per replica).
fn lag_buckets(text: &str) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut sums: BTreeMap<String, BTreeMap<u64, (f64, f64)>> = BTreeMap::new();
    for (labels, v) in samples(text, "seliq_delivery_lag_seconds_bucket") {
        let (Some(vendor), Some(le)) = (label(labels, "vendor"), label(labels, "le")) else {
            continue;
        };
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse() {
                Ok(x) => x,
                Err(_) => continue,
            }
        };
        let e = sums
            .entry(vendor.to_owned())
            .or_default()
            .entry(le.to_bits())
            .or_insert((le, 0.0));
        e.1 += v;
    }
    sums.into_iter()
        .map(|(vendor, m)| {
            let mut b: Vec<(f64, f64)> = m.into_values().collect();
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            (vendor, b)
        })
        .collect()
}

/// The delivery lag of what arrived between two scrapes: per vendor, how many were delivered and
/// the bucket bounds their median, 99th percentile and maximum fall under.
fn lag_report(before: &str, after: &str, trickle: &Trickle, sources_per_vendor: usize) -> Value {
    let (b, a) = (lag_buckets(before), lag_buckets(after));
    let mut out = serde_json::Map::new();
    for vendor in ["crowdstrike", "sentinel", "splunk"] {
        let empty = Vec::new();
        let after_b = a.get(vendor).unwrap_or(&empty);
        let before_b = b.get(vendor).unwrap_or(&empty);
        let diff: Vec<(f64, f64)> = after_b
            .iter()
            .map(|&(le, n)| {
                let was = before_b.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1);
                (le, n - was)
            })
            .collect();
        let delivered = diff.last().map_or(0.0, |x| x.1);
        let at_most = |q: f64| {
            diff.iter()
                .find(|(_, n)| *n >= q * delivered && delivered > 0.0)
                .map(|(le, _)| {
                    if le.is_finite() {
                        json!(le)
                    } else {
                        json!("+Inf")
                    }
                })
        };
        out.insert(
            vendor.to_owned(),
            json!({
                "arrived": trickle.per_source() * sources_per_vendor as u64,
                "delivered": delivered,
                "p50_at_most_s": at_most(0.5),
                "p99_at_most_s": at_most(0.99),
                "max_at_most_s": at_most(1.0),
            }),
        );
    }
    Value::Object(out)
}

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
    let window = Duration::from_secs(args.serve_seconds);
    // The children's CPU over the last two intervals of the window: by then (for a window well
    // past the first round) the mocks add nothing, so every poll finds nothing new.
    let tail = STEADY_TAIL.min(window / 2);
    let trickle = Trickle::plan(args.serve_trickle_seconds, window, tail)?;
    let mocks = start_mocks(
        args,
        &trickle.as_ref().map(Trickle::mock_args).unwrap_or_default(),
    )?;
    let mocks_started = Instant::now();
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
    // The lag histograms just before the first arrival and once the last is delivered.
    let (mut lag_before, mut lag_after) = (None, None);
    let scrape = |children: &[Replica]| -> String {
        children
            .iter()
            .map(|r| get(r.port, "/metrics", &token).unwrap_or_default())
            .collect()
    };
    while started.elapsed() < window {
        if let Some(t) = &trickle {
            let since_mocks = mocks_started.elapsed();
            // Each mock counts from its own ready line, the first a few seconds before the last.
            if lag_before.is_none() && since_mocks + Duration::from_secs(30) >= t.after {
                lag_before = Some(scrape(&children));
            }
            if lag_after.is_none() && since_mocks >= t.after + t.length + TRICKLE_GAP {
                lag_after = Some(scrape(&children));
            }
        }
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

    let delivery_lag = match (&trickle, &lag_before, &lag_after) {
        (Some(t), Some(b), Some(a)) => Some(lag_report(b, a, t, args.workspaces)),
        _ => None,
    };

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
        "trickle_seconds": args.serve_trickle_seconds,
        "delivery_lag": delivery_lag,
        "sigterm_exit_codes": exits,
        "sigterm_to_exit_s": super::proc_stats::round(stop_s, 2),
        "method": "setup as the scale part (store + guard, no vendor calls); then `seliq-gateway serve` with its defaults (60 s interval, spool delivery, Falcon token pacing 250/min) as child processes (one per replica, sharing the PostgreSQL database when given) against the same mock processes; peak RSS is each child's VmHWM; polls summed over the replicas' /metrics; staleness from the first replica's /v1/status at the end of the window",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_end_a_gap_before_the_quiet_tail() {
        let w = Duration::from_secs(1500);
        assert!(Trickle::plan(0, w, STEADY_TAIL).unwrap().is_none());
        let t = Trickle::plan(240, w, STEADY_TAIL).unwrap().unwrap();
        assert_eq!(t.after, Duration::from_secs(1050));
        assert_eq!(t.per_source(), 4);
        assert_eq!(
            t.mock_args(),
            [
                "--trickle-every",
                "60",
                "--trickle-after",
                "1050",
                "--trickle-for",
                "240"
            ]
        );
        let odd = Trickle::plan(90, w, STEADY_TAIL).err().unwrap().to_string();
        assert!(odd.contains("multiple of the 60 s interval"), "{odd}");
        let short = Trickle::plan(240, Duration::from_secs(400), STEADY_TAIL)
            .err()
            .unwrap()
            .to_string();
        assert!(short.contains("leaves no room"), "{short}");
    }

    #[test]
    fn the_lag_report_counts_only_what_was_delivered_between_the_scrapes() {
        let scrape = |vendor: &str, counts: &[(&str, f64)]| -> String {
            counts
                .iter()
                .map(|(le, n)| {
                    format!(
                        "seliq_delivery_lag_seconds_bucket{{vendor=\"{vendor}\",le=\"{le}\"}} {n}\n"
                    )
                })
                .collect()
        };
        // 20 old backlog alerts before; then 100 new ones: 60 under 30 s, 39 under 60 s, 1 at 70.
        let before = scrape(
            "splunk",
            &[("30.0", 0.0), ("60.0", 0.0), ("70.0", 0.0), ("+Inf", 20.0)],
        );
        let after = scrape(
            "splunk",
            &[
                ("30.0", 60.0),
                ("60.0", 99.0),
                ("70.0", 100.0),
                ("+Inf", 120.0),
            ],
        );
        // Two replicas' scrapes add up.
        let after_two = format!("{after}{}", scrape("splunk", &[("+Inf", 0.0)]));
        let t = Trickle::plan(120, Duration::from_secs(1500), STEADY_TAIL)
            .unwrap()
            .unwrap();
        let r = lag_report(&before, &after_two, &t, 50);
        let s = &r["splunk"];
        assert_eq!(s["arrived"], 100);
        assert_eq!(s["delivered"], 100.0);
        assert_eq!(s["p50_at_most_s"], 30.0);
        assert_eq!(s["p99_at_most_s"], 60.0);
        assert_eq!(s["max_at_most_s"], 70.0);
        assert_eq!(r["sentinel"]["delivered"], 0.0);
        assert!(r["sentinel"]["p99_at_most_s"].is_null());
    }
}
