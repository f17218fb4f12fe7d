//! `seliq-gateway bench`: the gateway's own benchmarks, one JSON line of figures per part.
//!
//! - `vault`: seal and open of a 256-byte credential through a workspace's vault handle.
//! - `mapping`: raw vendor JSON → `Alert` per vendor, on one core, over objects the mocks serve.
//! - `e2e`: one `pull` of N CrowdStrike alerts from a standalone `seliq-mocks serve` process.
//! - `scale`: W workspaces × 3 integrations pulled concurrently in one process against shared
//!   mock processes: time, peak RSS and the highest request rate against each quota.
//!
//! Every figure is the median over `--runs` runs. Build with `cargo build --release --bins`: the
//! `e2e` and `scale` parts start the `seliq-mocks` binary found next to this executable.

mod e2e;
mod mapping;
pub mod proc_stats;
mod scale;
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
    /// The `seliq-mocks` binary; default: next to this executable.
    #[arg(long)]
    pub mocks_bin: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<u8> {
    if args.runs == 0 {
        return Err(Error::Invalid("--runs must be at least 1".to_owned()));
    }
    let parts: &[Part] = match args.part {
        Part::All => &[Part::Vault, Part::Mapping, Part::E2e, Part::Scale],
        Part::Vault => &[Part::Vault],
        Part::Mapping => &[Part::Mapping],
        Part::E2e => &[Part::E2e],
        Part::Scale => &[Part::Scale],
    };
    for part in parts {
        proc_stats::reset_peak_rss();
        let line = match part {
            Part::Vault => vault::run(&args)?,
            Part::Mapping => mapping::run(&args)?,
            Part::E2e => e2e::run(&args)?,
            Part::Scale => scale::run(&args)?,
            Part::All => continue,
        };
        emit(&line)?;
    }
    Ok(0)
}

/// One part's figures as one line on stdout.
fn emit(line: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))
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
            "the mock server {} does not exist; build it first with `cargo build --release --bins` \
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
