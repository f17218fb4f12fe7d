//! `seliq-gateway bench`: the gateway's own benchmarks, one JSON line of figures per part.
//!
//! - `vault`: seal and open of a 256-byte credential through a workspace's vault handle.
//! - `mapping`: raw vendor JSON → `Alert` per vendor, on one core, over objects the mocks serve.
//! - `e2e`: one `pull` of N CrowdStrike alerts from a standalone `seliq-mocks serve` process.
//! - `scale`: W workspaces × 3 integrations pulled concurrently in one process against shared
//!   mock processes: time, peak RSS and the highest request rate against each quota.
//! - `serve` (not in `all`): the same W × 3 integrations polled by a real `serve` process for
//!   `--serve-seconds`: its peak RSS and whether every integration polled on time.
//!
//! Every figure is the median over `--runs` runs. `--part all` runs each part in a fresh process,
//! so one part's memory does not count in the next one's peak RSS. Build with
//! `cargo build --release --workspace --bins`: the `e2e` and `scale` parts start the
//! `seliq-mocks` binary found next to this executable.

mod e2e;
mod mapping;
pub mod proc_stats;
mod scale;
mod serve_scale;
mod store;
mod vault;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Vault,
    Mapping,
    E2e,
    Scale,
    /// Not part of `all`: it runs for `--serve-seconds`.
    Serve,
    /// Binds and checkpoint commits per second, on SQLite and `--store-database-url`.
    Store,
    All,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    pub part: Part,
    /// e2e: CrowdStrike alerts to pull.
    #[arg(long, default_value_t = 200_000)]
    pub alerts: usize,
    /// scale: workspaces, each with one CrowdStrike, one Sentinel and one Splunk integration.
    #[arg(long, default_value_t = 1_000)]
    pub workspaces: usize,
    /// Runs per part; figures are medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// scale: alerts held by each source.
    #[arg(long, default_value_t = 20)]
    pub alerts_per_source: usize,
    /// e2e: the integration's request quota per minute. Default: lifted far above the vendor's
    /// 6,000/min (which caps one CID at 100,000 alerts/s with 1,000-alert pages), so the run
    /// measures the gateway rather than the quota.
    #[arg(long, default_value_t = 600_000)]
    pub e2e_rate_limit: u32,
    /// e2e: deliver into a JetStream stream on this NATS server (a new stream per run, deleted
    /// after it) instead of a file, through the same sink code as `pull --sink`.
    #[arg(long, value_name = "URL")]
    pub e2e_nats: Option<String>,
    /// e2e: alerts per batch (the unit of fsync and checkpoint); default: what `pull` uses.
    #[arg(long, default_value_t = crate::pull::DEFAULT_BATCH)]
    pub batch: usize,
    /// scale: integrations fetching at once; default: all of them.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// scale: the Falcon token quota per minute, for the mock and for the gateway's own pacing.
    /// The vendor's is 300 per source IP, which W first mints of W child CIDs would queue behind
    /// for W/250 minutes; the default raises it (see the scale report).
    #[arg(long, default_value_t = 1_000_000)]
    pub falcon_token_quota: u32,
    /// scale: Splunk mock processes to spread the clients' indexes over (one endpoint each).
    /// The Splunk mock scans every stored event for each search job, so one process serving W
    /// indexes costs O(W²) CPU and, past a few hundred clients, becomes what the run measures.
    #[arg(long, default_value_t = 8)]
    pub splunk_shards: usize,
    /// scale: do one run in this process and print its raw figures (how the parent runs each
    /// run in a fresh process).
    #[arg(long, hide = true)]
    pub one_run: bool,
    /// serve: how long the `serve` child runs before its figures are read (60 s interval).
    #[arg(long, default_value_t = 300)]
    pub serve_seconds: u64,
    /// serve: new alerts arrive for this many seconds (a multiple of the 60 s interval: one per
    /// source per interval, spread over it), ending 90 s before the quiet tail; the report gives
    /// their delivery lag. 0: nothing arrives after the start.
    #[arg(long, default_value_t = 0)]
    pub serve_trickle_seconds: u64,
    /// serve: `--max-concurrent-polls` for the `serve` child; default: serve's own default.
    #[arg(long, value_name = "N")]
    pub serve_concurrency: Option<usize>,
    /// store: integrations to bind.
    #[arg(long, default_value_t = 500)]
    pub store_binds: usize,
    /// store: checkpoint commits.
    #[arg(long, default_value_t = 2_000)]
    pub store_commits: usize,
    /// store and serve: also on this PostgreSQL database (an empty schema; `options=-csearch_path%3DNAME`
    /// picks one). serve: its replicas share it.
    #[arg(long, value_name = "URL")]
    pub store_database_url: Option<String>,
    /// serve: `serve` replicas on `--store-database-url` (each with its own data dir and spool).
    #[arg(long, default_value_t = 1)]
    pub serve_replicas: usize,
    /// The `seliq-mocks` binary; default: next to this executable.
    #[arg(long)]
    pub mocks_bin: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<u8> {
    run_to(&args, &mut std::io::stdout())
}

/// Runs the selected parts and writes one line of JSON figures per part to `out`.
pub fn run_to(args: &BenchArgs, out: &mut impl Write) -> Result<u8> {
    if args.runs == 0 {
        return Err(Error::Invalid("--runs must be at least 1".to_owned()));
    }
    let parts: &[Part] = match args.part {
        Part::All => return run_each_in_own_process(args, out),
        Part::Vault => &[Part::Vault],
        Part::Mapping => &[Part::Mapping],
        Part::E2e => &[Part::E2e],
        Part::Scale => &[Part::Scale],
        Part::Serve => &[Part::Serve],
        Part::Store => &[Part::Store],
    };
    for part in parts {
        proc_stats::reset_peak_rss();
        let line = match part {
            Part::Vault => vault::run(args)?,
            Part::Mapping => mapping::run(args)?,
            Part::E2e => e2e::run(args)?,
            Part::Scale => scale::run(args)?,
            Part::Serve => serve_scale::run(args)?,
            Part::Store => store::run(args)?,
            Part::All => continue,
        };
        // Written as each part ends, so a long `all` run shows its figures as they come.
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::Runtime(format!("cannot write the figures: {e}")))?;
    }
    Ok(0)
}

/// `--part all`: each part in a fresh process of this executable, so one part's memory (the
/// mapping corpora, the scale run's connections) does not count in the next one's peak RSS.
fn run_each_in_own_process(args: &BenchArgs, out: &mut impl Write) -> Result<u8> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot locate this executable: {e}")))?;
    for part in ["vault", "mapping", "e2e", "scale"] {
        let output = Command::new(&exe)
            .arg("bench")
            .args(["--part", part])
            .args(forwarded(args))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| Error::Runtime(format!("cannot run the {part} part: {e}")))?;
        out.write_all(&output.stdout)
            .and_then(|()| out.flush())
            .map_err(|e| Error::Runtime(format!("cannot write the figures: {e}")))?;
        if !output.status.success() {
            return Err(Error::Runtime(format!(
                "the {part} part failed ({})",
                output.status
            )));
        }
    }
    Ok(0)
}

/// The flags of `args` other than `--part`, as a child process takes them.
fn forwarded(args: &BenchArgs) -> Vec<String> {
    let mut v: Vec<String> = [
        ("--alerts", args.alerts.to_string()),
        ("--workspaces", args.workspaces.to_string()),
        ("--runs", args.runs.to_string()),
        ("--alerts-per-source", args.alerts_per_source.to_string()),
        ("--e2e-rate-limit", args.e2e_rate_limit.to_string()),
        ("--batch", args.batch.to_string()),
        ("--falcon-token-quota", args.falcon_token_quota.to_string()),
        ("--splunk-shards", args.splunk_shards.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v])
    .collect();
    if let Some(c) = args.concurrency {
        v.extend(["--concurrency".to_owned(), c.to_string()]);
    }
    if let Some(p) = &args.mocks_bin {
        v.extend(["--mocks-bin".to_owned(), p.display().to_string()]);
    }
    if let Some(u) = &args.e2e_nats {
        v.extend(["--e2e-nats".to_owned(), u.clone()]);
    }
    v
}

fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

/// The `seliq-mocks` binary: `--mocks-bin`, else next to the running executable.
fn mocks_binary(args: &BenchArgs) -> Result<PathBuf> {
    let path = match &args.mocks_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| Error::Runtime(format!("cannot locate this executable: {e}")))?
            .with_file_name("seliq-mocks"),
    };
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "the mock server {} does not exist; build it first with `cargo build --release --workspace --bins` \
             (or pass --mocks-bin PATH)",
            path.display()
        )));
    }
    Ok(path)
}

/// A `seliq-mocks serve` child process. Stopped with SIGTERM on drop if still running.
pub(crate) struct MockProcess {
    child: Child,
    /// The JSON line it printed on start: address, URL, credentials, sources.
    pub info: Value,
    pub url: String,
}

impl MockProcess {
    pub fn start(bin: &std::path::Path, args: &[String]) -> Result<MockProcess> {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Runtime(format!("cannot start {}: {e}", bin.display())))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let mut reader = std::io::BufReader::new(out);
            std::io::BufRead::read_line(&mut reader, &mut line)
                .map_err(|e| Error::Runtime(format!("cannot read the mock's address: {e}")))?;
        }
        let info: Value = match serde_json::from_str(line.trim()) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                let output = child.wait_with_output().ok();
                let stderr = output
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                return Err(Error::Runtime(format!(
                    "the mock server did not start: {}",
                    stderr.trim()
                )));
            }
        };
        let url = info["url"].as_str().unwrap_or_default().to_owned();
        Ok(MockProcess { child, info, url })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the mock has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_stats::cpu_seconds(Some(self.pid()))
    }

    /// SIGTERM, then the summary line it prints on stderr (its CPU time and counters).
    pub fn stop(mut self) -> Option<Value> {
        self.terminate();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            // Reads to EOF, which comes when the mock exits.
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        let _ = self.child.wait();
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
    }

    fn terminate(&mut self) {
        // std only sends SIGKILL; the mock prints its CPU summary on SIGTERM.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::args::{Cli, Command};

    fn bench_args(argv: &[&str]) -> BenchArgs {
        let cli = Cli::try_parse_from(["seliq-gateway", "bench"].iter().chain(argv)).unwrap();
        match cli.command {
            Command::Bench(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn bench_vault_prints_one_line_of_json_figures() {
        let args = bench_args(&["--part", "vault", "--runs", "1"]);
        let mut out = Vec::new();
        assert_eq!(run_to(&args, &mut out).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["part"], "vault");
        assert_eq!(v["runs"], 1);
        assert!(v["open_ns_median"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["seal_ns_median"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["target_met"].is_boolean());
    }

    #[test]
    fn bench_flags_have_the_documented_defaults() {
        let args = bench_args(&[]);
        assert_eq!(args.part, Part::All);
        assert_eq!(args.alerts, 200_000);
        assert_eq!(args.workspaces, 1_000);
        assert_eq!(args.runs, 3);
        let args = bench_args(&["--part", "scale", "--workspaces", "10", "--runs", "5"]);
        assert_eq!(
            (args.part, args.workspaces, args.runs),
            (Part::Scale, 10, 5)
        );
    }

    #[test]
    fn a_child_part_gets_every_flag_but_the_part() {
        let argv = [
            "--part",
            "all",
            "--alerts",
            "7",
            "--workspaces",
            "3",
            "--runs",
            "2",
            "--concurrency",
            "5",
            "--splunk-shards",
            "2",
        ];
        let args = bench_args(&argv);
        let forwarded = forwarded(&args);
        let mut child: Vec<&str> = vec!["--part", "scale"];
        child.extend(forwarded.iter().map(String::as_str));
        let again = bench_args(&child);
        assert_eq!(again.part, Part::Scale);
        assert_eq!(
            (
                again.alerts,
                again.workspaces,
                again.runs,
                again.concurrency,
                again.splunk_shards
            ),
            (7, 3, 2, Some(5), 2)
        );
        assert!(!forwarded.iter().any(|a| a == "--part"));
    }

    #[test]
    fn zero_runs_is_a_usage_error() {
        let args = bench_args(&["--part", "vault", "--runs", "0"]);
        let err = run_to(&args, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
    }

    #[test]
    fn a_missing_mock_binary_says_how_to_build_it() {
        let args = bench_args(&["--part", "e2e", "--mocks-bin", "/nonexistent/seliq-mocks"]);
        let err = run_to(&args, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("cargo build --release --workspace --bins"),
            "{err}"
        );
    }
}
