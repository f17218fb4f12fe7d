//! End to end: one `pull` of N CrowdStrike alerts from a standalone `seliq-mocks serve` process
//! (target: ≥ 150,000 alerts/s on one core).
//!
//! Each run is what an operator does, in process: `init` a fresh data dir, create a workspace,
//! add one CrowdStrike integration with `verify: true`, then `pull::run` into a file sink (write,
//! fsync, checkpoint per batch of 2,000). The pull runs with one async worker (fetching and
//! mapping) while the committer (write, fsync, checkpoint) waits on the disk from the main thread,
//! as in the CLI. "On one core" is read as alerts per CPU-second of the whole gateway process,
//! reported beside the wall-clock rate; the mock answers from its own process.
//!
//! Measured around `pull::run` only: wall time, this process's CPU time (`/proc/self/stat`), its
//! peak RSS (`VmHWM`, reset before each run) and the mock's CPU time (`/proc/<pid>/stat`).

use std::path::Path;
use std::time::Instant;

use secrecy::SecretString;
use seliq_connectors::http::{HttpOptions, RateLimit};
use seliq_connectors::{Params, Settings, crowdstrike};
use serde_json::{Value, json};

use super::proc_stats::{cpu_seconds, median, mib, peak_rss_bytes, reset_peak_rss, round};
use super::{BenchArgs, MockProcess, mocks_binary, runtime};
use crate::app::{self, App, Config};
use crate::error::{Error, Result};
use crate::integrations::{self, NewIntegration};
use crate::pull::{self, PullRequest, Sink};
use crate::slug::{IntegrationName, Slug};
use crate::store::Plan;
use crate::workspaces;

const TARGET_ALERTS_PER_S: f64 = 150_000.0;

struct RunFigures {
    wall_s: f64,
    cpu_s: f64,
    mock_cpu_s: f64,
    peak_rss: u64,
    alerts: u64,
    pages: u64,
    ndjson_bytes: u64,
}

pub fn run(args: &BenchArgs) -> Result<Value> {
    if args.alerts == 0 {
        return Err(Error::Invalid("--alerts must be at least 1".to_owned()));
    }
    let bin = mocks_binary(args)?;
    let quota = args.e2e_rate_limit.max(1).to_string();
    let mock = MockProcess::start(
        &bin,
        &[
            "--vendor".into(),
            "crowdstrike".into(),
            "--port".into(),
            "0".into(),
            "--alerts".into(),
            args.alerts.to_string(),
            "--cid-count".into(),
            "1".into(),
            // The mock enforces the same quota the integration is configured for.
            "--rate-limit".into(),
            quota,
        ],
    )?;
    let rt = runtime(1)?;
    let mut runs = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let dir = tempfile::tempdir()
            .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
        runs.push(rt.block_on(one_run(args, &mock, dir.path()))?);
    }
    drop(rt);
    let mock_summary = mock.stop();

    let med = |f: fn(&RunFigures) -> f64| {
        median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    let rate = med(|r| r.alerts as f64 / r.wall_s);
    let per_cpu = med(|r| r.alerts as f64 / r.cpu_s.max(0.01));
    Ok(json!({
        "part": "e2e",
        "vendor": "crowdstrike",
        "alerts": args.alerts,
        "runs": args.runs,
        "alerts_per_s_median": round(rate, 0),
        "wall_s_median": round(med(|r| r.wall_s), 3),
        "gateway_cpu_s_median": round(med(|r| r.cpu_s), 2),
        "alerts_per_gateway_cpu_s_median": round(per_cpu, 0),
        "peak_rss_mib_median": round(med(|r| mib(r.peak_rss)), 1),
        "mock_cpu_s_median": round(med(|r| r.mock_cpu_s), 2),
        "pages_per_run": runs.first().map(|r| r.pages),
        "ndjson_mb_per_run": runs.first().map(|r| round(r.ndjson_bytes as f64 / 1e6, 1)),
        "wall_s_runs": runs.iter().map(|r| round(r.wall_s, 3)).collect::<Vec<_>>(),
        "rate_limit_per_minute": args.e2e_rate_limit,
        "batch": args.batch,
        "mock_total": mock_summary,
        "target_alerts_per_s": TARGET_ALERTS_PER_S,
        "target_met": rate >= TARGET_ALERTS_PER_S,
        "sink": if args.e2e_nats.is_some() { "nats" } else { "file" },
        "method": "fresh data dir per run; integration added with verify; pull::run into a file sink (fsync + checkpoint per batch); one async worker fetches and maps while the committer fsyncs on the main thread; CPU is the whole gateway process; mock in its own process; figures around pull::run, medians of runs",
    }))
}

async fn one_run(args: &BenchArgs, mock: &MockProcess, dir: &Path) -> Result<RunFigures> {
    let config = Config {
        data_dir: dir.join("data"),
        database_url: None,
        actor: "bench".to_owned(),
    };
    app::init(&config)?;
    let mut app = App::open(config)?;
    let http = HttpOptions::default_timeouts()?
        .with_rate_limit(RateLimit::per_minute(args.e2e_rate_limit.max(1)))
        // One CID under the parent client: its account quota is lifted with the CID's own.
        .with_account_rate_limit(RateLimit::per_minute(args.e2e_rate_limit.max(1)));
    let slug = Slug::parse("bench-e2e")?;
    workspaces::create(&mut app, &slug, "benchmark", Plan::Pro)?;
    let info = &mock.info;
    let field = |k: &str| {
        info[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Runtime(format!("the mock did not say its {k}")))
    };
    let cid = info["cids"][0]
        .as_str()
        .ok_or_else(|| Error::Runtime("the mock serves no CID".to_owned()))?;
    let settings = Settings::validate(Params::Crowdstrike(crowdstrike::Params {
        client_id: field("client_id")?,
        cid: cid.to_owned(),
        base_url: Some(mock.url.clone()),
        allow_insecure_http: true,
        ..Default::default()
    }))?;
    integrations::add(
        &mut app,
        &http,
        NewIntegration {
            workspace: slug.clone(),
            name: IntegrationName::parse("falcon")?,
            settings,
            secret: SecretString::from(field("client_secret")?),
            verify: true,
            first_window: pull::DEFAULT_FIRST_WINDOW,
            poll_interval: crate::integrations::DEFAULT_POLL_INTERVAL,
        },
    )
    .await?;
    let out = dir.join("alerts.ndjson");
    // JetStream instead of the file: a stream of this run alone, acked before every checkpoint.
    let stream = format!("SELIQ_BENCH_{}", uuid::Uuid::new_v4().simple());
    let (mut sink, route) = match &args.e2e_nats {
        None => (Sink::open_file(&out, app.store())?, None),
        Some(url) => {
            let table = crate::sinks::config::NatsTable {
                name: "bench".to_owned(),
                url: url.clone(),
                stream: Some(stream.clone()),
                subject_prefix: Some(format!("seliqbench.{}", &stream[12..24])),
                duplicate_window: None,
                token_env: None,
                token_file: None,
                user: None,
                password_env: None,
                password_file: None,
                creds_file: None,
                tls_ca_file: None,
                tls_required: None,
                workspaces: None,
                route: Vec::new(),
            };
            let set =
                crate::sinks::SinkSet::build(vec![crate::sinks::SinkTable::Nats(table)], None)
                    .await?;
            (Sink::None, set.route(slug.as_str()))
        }
    };
    let req = PullRequest {
        route,
        workspace: slug,
        integration: None,
        since: None,
        max: None,
        concurrency: 1,
        batch_size: args.batch.max(1),
    };

    reset_peak_rss();
    let cpu0 = cpu_seconds(None);
    let mock0 = mock.cpu_seconds();
    let start = Instant::now();
    let report = pull::run(&mut app, &http, &req, &mut sink).await?;
    let wall_s = start.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(None);
    let mock1 = mock.cpu_seconds();
    let peak_rss = peak_rss_bytes().unwrap_or(0);

    if let Some(failed) = report.integrations.iter().find_map(|r| r.error.clone()) {
        return Err(Error::Runtime(format!(
            "the benchmark pull failed: {failed}"
        )));
    }
    let alerts = report.alerts();
    if alerts != args.alerts as u64 {
        return Err(Error::Runtime(format!(
            "the benchmark pull emitted {alerts} alerts, expected {}",
            args.alerts
        )));
    }
    let ndjson_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    if let Some(url) = &args.e2e_nats {
        // Leave the server as it was.
        if let Ok(client) = async_nats::connect(url.as_str()).await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&stream)
                .await;
        }
    }
    Ok(RunFigures {
        wall_s,
        cpu_s: delta(cpu0, cpu1),
        mock_cpu_s: delta(mock0, mock1),
        peak_rss,
        alerts,
        pages: report.integrations.iter().map(|r| r.pages).sum(),
        ndjson_bytes,
    })
}

fn delta(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    }
}
