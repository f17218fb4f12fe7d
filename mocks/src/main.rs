#![forbid(unsafe_code)]
//! `seliq-mocks serve`: one vendor's mock API as a standalone server, for benchmarks and for
//! other tools and SDKs (FalconPy takes `base_url="http://127.0.0.1:P"`).
//!
//! On start it prints one JSON line on stdout: the bound address, the base URL, the credentials
//! to use and the sources it serves (CIDs, Sentinel workspaces, Splunk indexes and tokens), so a
//! script can read it. It serves until SIGINT or SIGTERM, then prints one JSON line on stderr with
//! its own CPU time (user and system, from `/proc/self/stat`) and its request counters.
//!
//! ```text
//! seliq-mocks serve --vendor crowdstrike --port 0 --alerts 200000
//! seliq-mocks serve --vendor crowdstrike --port 8089 --alerts 500 --cid-count 1000 --token-rate-limit 100000
//! seliq-mocks serve --vendor sentinel --port 0 --alerts 50 --workspaces 1000
//! seliq-mocks serve --vendor splunk --port 0 --alerts 50 --index-count 1000 --tokens 1000
//! ```
//!
//! The pages are pre-serialised by the mocks, and each mock answers on one thread; its CPU time
//! on stderr says how much of a benchmark it took.
//!
//! `--trickle-every S` adds live alerts while it serves: every source (CID, workspace, index)
//! gains one new alert every `S` seconds, the sources staggered evenly over the period, each
//! alert created and last modified at the moment it is inserted (so `seen − updated` is a
//! client's delivery lag). `--trickle-after` delays the first, `--trickle-for` ends them; the
//! stderr summary counts them as `trickled`. The Splunk mock's clock (its `Date` header and
//! relative times) follows the wall clock here.
//!
//! ```text
//! seliq-mocks serve --vendor crowdstrike --alerts 50 --cid-count 3334 --trickle-every 60 --trickle-after 120
//! ```

mod trickle;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use seliq_mocks::crowdstrike::{
    self, ApiClient, Endpoint, FalconMock, FalconMockConfig, Fault, RetryAfter,
};
use seliq_mocks::sentinel::{SentinelMock, SentinelMockConfig, SentinelWorkspace};
use seliq_mocks::splunk::{self, SplunkMock, SplunkMockConfig};

#[derive(Debug, Parser)]
#[command(
    name = "seliq-mocks",
    version,
    about = "Mock Falcon, Sentinel and Splunk APIs on loopback, for benchmarks and SDKs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one vendor's API until SIGINT or SIGTERM.
    #[command(
        after_help = "Example:\n  seliq-mocks serve --vendor crowdstrike --port 0 --alerts 200000"
    )]
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Vendor {
    Crowdstrike,
    Sentinel,
    Splunk,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[arg(long, value_enum)]
    vendor: Vendor,
    /// Address to bind; loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to bind; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Alerts per source: per CID (crowdstrike), incidents per workspace (sentinel), events per
    /// index (splunk). Default: the mock's own.
    #[arg(long)]
    alerts: Option<usize>,
    /// Seed of the generated data (same seed, same data).
    #[arg(long)]
    seed: Option<u64>,
    /// The data's last-modified times spread over this many hours before now.
    #[arg(long)]
    span_hours: Option<f64>,

    /// crowdstrike: child CIDs holding alerts, comma-separated (default: the mock's two).
    #[arg(long, value_delimiter = ',')]
    cids: Vec<String>,
    /// crowdstrike: generate this many child CIDs instead (derived from the seed).
    #[arg(long)]
    cid_count: Option<usize>,
    /// crowdstrike: the per-CID data quota per minute (the vendor's 6,000).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// crowdstrike: the token endpoint quota per minute (the vendor's 300 per source IP).
    #[arg(long)]
    token_rate_limit: Option<u32>,

    /// sentinel: serve this many Log Analytics workspaces (one subscription each, Lighthouse
    /// style), all reached with one app registration.
    #[arg(long)]
    workspaces: Option<usize>,

    /// splunk: indexes holding events, comma-separated (default: the mock's own).
    #[arg(long, value_delimiter = ',')]
    indexes: Vec<String>,
    /// splunk: generate this many indexes instead (`client_0001`, …).
    #[arg(long)]
    index_count: Option<usize>,
    /// splunk: this many service accounts, each with its own token and search quota
    /// (`svc_0001` / `mock-splunk-token-0001`, …), besides the default admin.
    #[arg(long)]
    tokens: Option<usize>,
    /// splunk: status polls a job stays QUEUED, then RUNNING, e.g. `1,1`.
    #[arg(long, value_parser = parse_polls)]
    job_polls: Option<(u32, u32)>,

    /// Fault: the next N data requests fail with --fail-status.
    #[arg(long, default_value_t = 0)]
    fail_next: u32,
    /// Status of --fail-next faults.
    #[arg(long, default_value_t = 503)]
    fail_status: u16,
    /// Fault: the next N data requests are throttled (429; Splunk: the 503 search quota error).
    #[arg(long, default_value_t = 0)]
    throttle_next: u32,

    /// Live alerts: every source (CID, workspace, index) gains one new alert every SECS seconds,
    /// staggered evenly across the sources, created and modified at the moment of insertion.
    #[arg(long, value_name = "SECS")]
    trickle_every: Option<f64>,
    /// Start the trickle this long after the mock is ready (its stdout line). Default 0.
    #[arg(long, value_name = "SECS")]
    trickle_after: Option<f64>,
    /// Stop the trickle this long after it started. Default: until the process ends.
    #[arg(long, value_name = "SECS")]
    trickle_for: Option<f64>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    match serve(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// A running mock of any vendor.
enum Running {
    Falcon(FalconMock),
    Sentinel(SentinelMock),
    Splunk(SplunkMock),
}

/// The sources a mock serves, in the order the trickle staggers them.
enum Sources {
    /// Child CIDs (bare, lowercase).
    Cids(Vec<String>),
    Workspaces(Vec<SentinelWorkspace>),
    /// Indexes of raw events (not the ES `notable` index).
    Indexes(Vec<String>),
}

impl Sources {
    fn len(&self) -> usize {
        match self {
            Sources::Cids(v) | Sources::Indexes(v) => v.len(),
            Sources::Workspaces(v) => v.len(),
        }
    }
}

/// One new alert in source `i`, created now. False if it could not be added.
fn add_one(running: &Running, sources: &Sources, i: usize) -> bool {
    match (running, sources) {
        (Running::Falcon(m), Sources::Cids(cids)) => cids
            .get(i)
            .is_some_and(|cid| !m.add_fresh_alerts(cid, 1).is_empty()),
        (Running::Sentinel(m), Sources::Workspaces(ws)) => ws
            .get(i)
            .and_then(|w| m.add_incidents_to(w, 1))
            .is_some_and(|names| !names.is_empty()),
        (Running::Splunk(m), Sources::Indexes(indexes)) => indexes
            .get(i)
            .is_some_and(|index| !m.add_events_now(index, 1).is_empty()),
        _ => false,
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port))
        .with_context(|| format!("cannot bind {}:{}", args.host, args.port))?;
    let address = listener.local_addr().context("no local address")?;
    // The mock answers on wiremock's own thread; this runtime waits for a signal and runs the
    // trickle, if any.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // Checked before the (possibly long) seeding; the source count comes after.
        trickle::Schedule::from_args(args.trickle_every, args.trickle_after, args.trickle_for, 1)?;
        let (running, info, sources) = start(&args, listener).await?;
        let schedule = trickle::Schedule::from_args(
            args.trickle_every,
            args.trickle_after,
            args.trickle_for,
            sources.len(),
        )?;
        let mut line = json!({
            "vendor": vendor_name(args.vendor),
            "address": address.to_string(),
            "url": format!("http://{address}"),
            "pid": std::process::id(),
        });
        merge(&mut line, info);
        if let Some(s) = &schedule {
            merge(&mut line, json!({ "trickle": s.describe() }));
        }
        let running = Arc::new(running);
        let trickled = Arc::new(AtomicU64::new(0));
        // The trickle counts from the moment the mock is ready, just before it says so.
        let ready = tokio::time::Instant::now();
        let trickle_task = schedule.map(|schedule| {
            let running = Arc::clone(&running);
            let trickled = Arc::clone(&trickled);
            tokio::spawn(trickle::run(schedule, ready, trickled, move |i| {
                add_one(&running, &sources, i)
            }))
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
        drop(out);
        wait_for_signal().await?;
        if let Some(task) = trickle_task {
            // One thread: the task is between two insertions, so the count is exact.
            task.abort();
        }
        let cpu = proc_cpu_seconds();
        let summary = json!({
            "vendor": vendor_name(args.vendor),
            "cpu_user_s": cpu.map(|c| c.0),
            "cpu_system_s": cpu.map(|c| c.1),
            "cpu_s": cpu.map(|c| c.0 + c.1),
            "wall_s": started.elapsed().as_secs_f64(),
            "trickled": trickled.load(Ordering::Relaxed),
            "stats": stats(&running),
        });
        eprintln!("{summary}");
        Ok(())
    })
}

fn vendor_name(v: Vendor) -> &'static str {
    match v {
        Vendor::Crowdstrike => "crowdstrike",
        Vendor::Sentinel => "sentinel",
        Vendor::Splunk => "splunk",
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn span(args: &ServeArgs) -> Result<Option<Duration>> {
    match args.span_hours {
        None => Ok(None),
        Some(h) if h.is_finite() && h > 0.0 => Ok(Some(Duration::from_secs_f64(h * 3600.0))),
        Some(h) => bail!("--span-hours {h} must be a positive number"),
    }
}

async fn start(args: &ServeArgs, listener: TcpListener) -> Result<(Running, Value, Sources)> {
    Ok(match args.vendor {
        Vendor::Crowdstrike => start_falcon(args, listener).await?,
        Vendor::Sentinel => start_sentinel(args, listener).await?,
        Vendor::Splunk => start_splunk(args, listener).await?,
    })
}

/// `n` distinct CIDs derived from the seed: 32 lowercase hex digits each.
fn generated_cids(seed: u64, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(b"seliq-mocks cid");
            h.update(seed.to_be_bytes());
            h.update((i as u64).to_be_bytes());
            h.finalize()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect()
}

async fn start_falcon(
    args: &ServeArgs,
    listener: TcpListener,
) -> Result<(Running, Value, Sources)> {
    let mut cfg = FalconMockConfig::default();
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(n) = args.alerts {
        cfg.alerts_per_cid = n;
    }
    if let Some(s) = span(args)? {
        cfg.span = s;
        // The newest alert an hour ago keeps the data inside a default 24 h first window.
        cfg.base_time =
            Some(chrono::Utc::now() - chrono::Duration::from_std(s)? - chrono::Duration::hours(1));
    }
    if let Some(n) = args.cid_count {
        cfg.cids = generated_cids(cfg.seed, n);
    } else if !args.cids.is_empty() {
        cfg.cids = args
            .cids
            .iter()
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
    }
    if let Some(bad) = cfg
        .cids
        .iter()
        .find(|c| c.len() != 32 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("--cids: {bad:?} is not a bare CID (32 hex digits)");
    }
    if let Some(r) = args.rate_limit {
        cfg.rate_limit_per_minute = r;
    }
    if let Some(r) = args.token_rate_limit {
        cfg.token_rate_limit_per_minute = r;
    }
    // The MSSP parent API client reaches every served CID with `member_cid`.
    for c in &mut cfg.clients {
        if c.client_id == crowdstrike::PARENT_CLIENT_ID {
            c.children = cfg.cids.clone();
        }
    }
    let parent: Option<&ApiClient> = cfg
        .clients
        .iter()
        .find(|c| c.client_id == crowdstrike::PARENT_CLIENT_ID);
    let info = json!({
        "client_id": crowdstrike::PARENT_CLIENT_ID,
        "client_secret": crowdstrike::PARENT_SECRET,
        "member_cid_required": true,
        "parent_cid": parent.map(|p| p.home_cid.clone()),
        "cids": cfg.cids,
        "alerts_per_cid": cfg.alerts_per_cid,
        "rate_limit_per_minute": cfg.rate_limit_per_minute,
        "token_rate_limit_per_minute": cfg.token_rate_limit_per_minute,
        "child_client": {
            "client_id": crowdstrike::CHILD_A_CLIENT_ID,
            "client_secret": crowdstrike::CHILD_A_SECRET,
            "cid": crowdstrike::CID_A,
        },
    });
    let sources = Sources::Cids(cfg.cids.clone());
    let mock = FalconMock::start_on(listener, cfg).await;
    if args.fail_next > 0 {
        mock.inject(
            Endpoint::AnyData,
            Fault::Status(args.fail_status),
            args.fail_next,
        );
    }
    if args.throttle_next > 0 {
        mock.inject(
            Endpoint::AnyData,
            Fault::TooManyRequests(RetryAfter::EpochSeconds { in_secs: 1 }),
            args.throttle_next,
        );
    }
    Ok((Running::Falcon(mock), info, sources))
}

/// Workspace `i` of a Lighthouse-style fleet: each client its own subscription.
fn fleet_workspace(seed: u64, i: usize) -> SentinelWorkspace {
    let mut h = Sha256::new();
    h.update(b"seliq-mocks subscription");
    h.update(seed.to_be_bytes());
    h.update((i as u64).to_be_bytes());
    let x: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    SentinelWorkspace {
        subscription_id: format!(
            "{}-{}-4{}-8{}-{}",
            &x[..8],
            &x[8..12],
            &x[13..16],
            &x[17..20],
            &x[20..32]
        ),
        resource_group: format!("client-{:04}-soc", i + 1),
        workspace_name: format!("client-{:04}-sentinel", i + 1),
    }
}

async fn start_sentinel(
    args: &ServeArgs,
    listener: TcpListener,
) -> Result<(Running, Value, Sources)> {
    let mut cfg = SentinelMockConfig::default();
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(n) = args.alerts {
        cfg.incidents = n;
    }
    if let Some(s) = span(args)? {
        cfg.span = s;
        cfg.base_time =
            chrono::Utc::now() - chrono::Duration::from_std(s)? - chrono::Duration::hours(1);
    }
    if let Some(w) = args.workspaces {
        if w == 0 {
            bail!("--workspaces must be at least 1");
        }
        cfg.extra_workspaces = (1..w).map(|i| fleet_workspace(cfg.seed, i)).collect();
    }
    let ws = |sub: &str, rg: &str, name: &str| json!({"subscription_id": sub, "resource_group": rg, "workspace_name": name});
    let mut workspaces = vec![ws(
        &cfg.subscription_id,
        &cfg.resource_group,
        &cfg.workspace_name,
    )];
    workspaces.extend(
        cfg.extra_workspaces
            .iter()
            .map(|w| ws(&w.subscription_id, &w.resource_group, &w.workspace_name)),
    );
    let info = json!({
        "tenant_id": cfg.tenant_id,
        "client_id": cfg.client_id,
        "client_secret": cfg.client_secret,
        "incidents_per_workspace": cfg.incidents,
        "workspaces": workspaces,
    });
    let mut all = vec![SentinelWorkspace {
        subscription_id: cfg.subscription_id.clone(),
        resource_group: cfg.resource_group.clone(),
        workspace_name: cfg.workspace_name.clone(),
    }];
    all.extend(cfg.extra_workspaces.iter().cloned());
    let mock = SentinelMock::start_on(listener, cfg).await;
    if args.fail_next > 0 {
        mock.fail_next(args.fail_next, args.fail_status);
    }
    if args.throttle_next > 0 {
        mock.throttle_next(args.throttle_next, 1);
    }
    Ok((Running::Sentinel(mock), info, Sources::Workspaces(all)))
}

async fn start_splunk(
    args: &ServeArgs,
    listener: TcpListener,
) -> Result<(Running, Value, Sources)> {
    let mut cfg = SplunkMockConfig::default();
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(s) = span(args)? {
        cfg.span = s;
    }
    let per_index = args.alerts;
    let names: Option<Vec<String>> = match (args.index_count, args.indexes.is_empty()) {
        (Some(n), _) => Some((1..=n).map(|i| format!("client_{i:04}")).collect()),
        (None, false) => Some(args.indexes.iter().map(|i| i.trim().to_owned()).collect()),
        (None, true) => None,
    };
    match names {
        Some(names) => {
            let n = per_index.unwrap_or(100);
            cfg.indexes = names.into_iter().map(|i| (i, n)).collect();
            cfg.notables = Vec::new();
        }
        None => {
            if let Some(n) = per_index {
                for (_, count) in &mut cfg.indexes {
                    *count = n;
                }
            }
        }
    }
    let mut tokens = vec![json!({"user": splunk::DEFAULT_USER, "token": splunk::DEFAULT_TOKEN})];
    for i in 1..=args.tokens.unwrap_or(0) {
        let user = format!("svc_{i:04}");
        let token = format!("mock-splunk-token-{i:04}");
        cfg.users.push((user.clone(), format!("{user}-password")));
        cfg.tokens.push((token.clone(), user.clone()));
        tokens.push(json!({"user": user, "token": token}));
    }
    if let Some((queued, running)) = args.job_polls {
        cfg.queued_polls = queued;
        cfg.running_polls = running;
    }
    let info = json!({
        "username": splunk::DEFAULT_USER,
        "password": splunk::DEFAULT_PASSWORD,
        "tokens": tokens,
        "indexes": cfg.indexes.iter().map(|(i, n)| json!({"index": i, "events": n})).collect::<Vec<_>>(),
        "notables": cfg.notables.iter().map(|(i, n)| json!({"orig_index": i, "events": n})).collect::<Vec<_>>(),
        "version": cfg.version,
    });
    let sources = Sources::Indexes(cfg.indexes.iter().map(|(i, _)| i.clone()).collect());
    let mock = SplunkMock::start_on(listener, cfg).await;
    // Clients take the window's end from the `Date` header: it must be real time here.
    mock.follow_wall_clock();
    if args.fail_next > 0 {
        mock.fail_next_requests(args.fail_next, args.fail_status);
    }
    if args.throttle_next > 0 {
        mock.fail_next_searches_with_quota(args.throttle_next);
    }
    Ok((Running::Splunk(mock), info, sources))
}

/// `QUEUED,RUNNING`, e.g. `1,1`.
fn parse_polls(s: &str) -> std::result::Result<(u32, u32), String> {
    let (q, r) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?} is not QUEUED,RUNNING (e.g. 1,1)"))?;
    let n = |x: &str| {
        x.trim()
            .parse::<u32>()
            .map_err(|_| format!("{x:?} is not a number of polls"))
    };
    Ok((n(q)?, n(r)?))
}

fn stats(running: &Running) -> Value {
    match running {
        Running::Falcon(m) => {
            let s = m.stats();
            json!({
                "token_requests": s.token_requests,
                "combined_requests": s.combined_requests,
                "query_requests": s.query_requests,
                "entity_requests": s.entity_requests,
                "alerts_served": s.alerts_served,
                "responses_401": s.responses_401,
                "responses_429": s.responses_429,
                "responses_5xx": s.responses_5xx,
            })
        }
        Running::Sentinel(m) => {
            let s = m.stats();
            let per_workspace = m.workspace_requests();
            let busiest = per_workspace.iter().max_by_key(|(_, n)| *n);
            json!({
                "workspaces": per_workspace.len(),
                "data_requests_all_workspaces": per_workspace.iter().map(|(_, n)| n).sum::<u64>(),
                "max_data_requests_one_workspace": busiest.map(|(_, n)| *n),
                "busiest_workspace": busiest.map(|(w, _)| w.clone()),
                "token_requests": s.token_requests,
                "list_requests": s.list_requests,
                "alert_requests": s.alert_requests,
                "throttled": s.throttled,
                "server_errors": s.server_errors,
                "unauthorized": s.unauthorized,
                "note": "the other counters are the primary workspace's",
            })
        }
        Running::Splunk(m) => {
            let s = m.stats();
            json!({
                "requests": s.requests,
                "jobs_created": s.jobs_created,
                "jobs_open": s.jobs_open,
                "quota_rejections": s.quota_rejections,
                "results_pages": s.results_pages,
                "max_concurrent_searches": s.max_concurrent_searches,
            })
        }
    }
}

/// This process's CPU time `(user, system)` in seconds, from `/proc/self/stat`.
fn proc_cpu_seconds() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu(&text)
}

/// Clock ticks per second of `/proc/<pid>/stat` times: Linux reports them in USER_HZ, which is
/// 100 on every architecture the kernel exports to user space.
const USER_HZ: f64 = 100.0;

/// `(utime, stime)` in seconds from the text of `/proc/<pid>/stat`. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_cpu(stat: &str) -> Option<(f64, f64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime as f64 / USER_HZ, stime as f64 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_past_a_name_with_spaces_and_parens() {
        let stat = "4242 (seliq (mocks) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat_cpu(stat), Some((2.5, 0.75)));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert!(proc_cpu_seconds().is_some());
    }

    #[test]
    fn job_polls_read_as_queued_then_running() {
        assert_eq!(parse_polls("0,1"), Ok((0, 1)));
        assert_eq!(parse_polls(" 2 , 3 "), Ok((2, 3)));
        assert!(parse_polls("1").is_err());
        assert!(parse_polls("a,1").is_err());
    }

    #[test]
    fn generated_cids_are_distinct_bare_cids() {
        let cids = generated_cids(7, 500);
        let unique: std::collections::HashSet<_> = cids.iter().collect();
        assert_eq!(unique.len(), 500);
        assert!(cids.iter().all(|c| {
            c.len() == 32
                && c.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));
        assert_eq!(cids, generated_cids(7, 500));
    }

    #[test]
    fn fleet_workspaces_have_guid_subscriptions_and_distinct_names() {
        let a = fleet_workspace(1, 1);
        let b = fleet_workspace(1, 2);
        assert_ne!(a.subscription_id, b.subscription_id);
        assert_ne!(a.workspace_name, b.workspace_name);
        assert_eq!(a.subscription_id.len(), 36);
        assert_eq!(a.subscription_id.matches('-').count(), 4);
    }
}
