//! Scale: W workspaces × 3 integrations (CrowdStrike, Sentinel, Splunk) pulled concurrently in
//! one process against three shared `seliq-mocks serve` processes (target: 3,000 integrations
//! within 256 MiB RSS, no vendor quota exceeded).
//!
//! # Method
//! - **Setup through the store**, as an operator would: `init`, then per client a workspace and
//!   three integrations (`integrations::add`, so the binding guard checks 3 × W distinct sources:
//!   one CID, one Sentinel workspace and one Splunk index per client, each Splunk scope with its
//!   own service account). `verify` is off to keep setup short; `e2e` covers verification.
//! - **Pull with the engine itself, across workspaces.** The bench opens every credential through
//!   its workspace's vault handle, builds each connector as `registry::build` does (keeping the
//!   concrete type, to read its request statistics), gives each workspace its SLA stamper, and
//!   hands every integration to `pull::run_jobs`, the engine `pull` runs: one fetch loop per
//!   integration, all concurrently, SLA stamping, one committer that commits the batches waiting
//!   together (NDJSON lines to a file, fsync, then the checkpoints, ledger rows and file length in
//!   one transaction). `pull::run` itself pulls one workspace per call; that is the only
//!   difference.
//! - **Mocks.** One Falcon process serves every CID (the MSSP parent client reaches each with
//!   `member_cid`), one Sentinel process every workspace (one app registration, Lighthouse
//!   style), and the Splunk indexes are spread over `--splunk-shards` processes (default 8): the
//!   Splunk mock scans all its events for every search job, so a single process would make the
//!   run measure the mock (O(W²); 13.5 s of CPU at W = 1,000).
//! - **Runs.** Each run is a child process of this executable (`--one-run`) with its own mocks,
//!   so memory the allocator kept from one run does not count in the next run's peak RSS.
//! - **Quotas.** Every connector keeps its default quota. The figure per vendor is the highest
//!   count of requests any one integration started within one window of its quota
//!   (`http_stats().max_requests_in_period`, counted by the limiter itself). Sentinel does not
//!   expose its statistics, so its figure is the mock's count of all data calls of the busiest
//!   workspace over the whole run, an upper bound of any one window.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use secrecy::SecretString;
use seliq_connectors::crowdstrike::CrowdStrike;
use seliq_connectors::http::{HttpOptions, HttpStats, RateLimit};
use seliq_connectors::sentinel::Sentinel;
use seliq_connectors::splunk::Splunk;
use seliq_connectors::{Connector, Params, Settings, crowdstrike, sentinel, splunk};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::proc_stats::{median, mib, peak_rss_bytes, round, rss_bytes};
use super::{BenchArgs, MockProcess, mocks_binary, runtime};
use crate::app::{self, App, Config};
use crate::error::{Error, Result};
use crate::integrations::{self, NewIntegration};
use crate::pull::{self, Sink};
use crate::slug::{IntegrationName, Slug};
use crate::store::Plan;
use crate::workspaces;

const TARGET_INTEGRATIONS: usize = 3_000;
const TARGET_RSS_MIB: f64 = 256.0;

/// One integration's connector, kept concrete where the statistics need it.
enum Built {
    Falcon(Arc<CrowdStrike>),
    Sentinel(Arc<Sentinel>),
    Splunk(Arc<Splunk>),
}

impl Built {
    fn connector(&self) -> Arc<dyn Connector> {
        match self {
            Built::Falcon(c) => c.clone(),
            Built::Sentinel(c) => c.clone(),
            Built::Splunk(c) => c.clone(),
        }
    }

    fn stats(&self) -> Option<HttpStats> {
        match self {
            Built::Falcon(c) => Some(c.http_stats()),
            Built::Sentinel(_) => None,
            Built::Splunk(c) => Some(c.http_stats()),
        }
    }

    /// The quota in requests per minute the connector runs under.
    fn limit_per_minute(&self) -> u32 {
        match self {
            Built::Falcon(c) => c.settings().rate_limit().requests,
            Built::Sentinel(c) => c.settings().rate_limit_per_minute(),
            Built::Splunk(c) => c
                .settings()
                .rate_limit_per_minute()
                .unwrap_or(splunk::client::DEFAULT_RATE_PER_MINUTE),
        }
    }

    fn vendor(&self) -> usize {
        match self {
            Built::Falcon(_) => 0,
            Built::Sentinel(_) => 1,
            Built::Splunk(_) => 2,
        }
    }
}

const VENDORS: [&str; 3] = ["crowdstrike", "sentinel", "splunk"];

fn build(settings: &Settings, secret: SecretString, http: &HttpOptions) -> Result<Built> {
    Ok(match settings {
        Settings::Crowdstrike(s) => {
            Built::Falcon(Arc::new(CrowdStrike::new(s.clone(), secret, http)?))
        }
        Settings::Sentinel(s) => Built::Sentinel(Arc::new(Sentinel::new(s.clone(), secret, http)?)),
        Settings::Splunk(s) => Built::Splunk(Arc::new(Splunk::new(s.clone(), secret, http)?)),
    })
}

/// What the bench keeps of each integration handed to the engine (same index).
struct Job {
    label: String,
    built: Built,
}

pub(super) struct Mocks {
    falcon: MockProcess,
    sentinel: MockProcess,
    /// Client `i`'s index lives on shard `i % len`, as its `i / len`-th index and token.
    splunk: Vec<MockProcess>,
}

impl Mocks {
    fn cpu_seconds(&self) -> [Option<f64>; 3] {
        let splunk = self
            .splunk
            .iter()
            .map(MockProcess::cpu_seconds)
            .try_fold(0.0, |sum, c| c.map(|c| sum + c));
        [
            self.falcon.cpu_seconds(),
            self.sentinel.cpu_seconds(),
            splunk,
        ]
    }
}

/// One run's figures; a run happens in a child process and hands these back as JSON.
#[derive(Serialize, Deserialize)]
struct RunFigures {
    setup_s: f64,
    pull_s: f64,
    alerts: [u64; 3],
    failures: Vec<String>,
    peak_rss: u64,
    rss_after_build: u64,
    /// Per vendor: (highest requests in one quota window, its limit), over all integrations.
    max_in_period: [Option<(u64, u32)>; 3],
    batches: u64,
    /// Transactions (and fsyncs) the committer took for them.
    #[serde(default)]
    commits: u64,
    mock_cpu_s: [Option<f64>; 3],
    gateway_cpu_s: Option<f64>,
    sentinel_busiest: Option<u64>,
    falcon_429: Option<u64>,
    /// Sockets the gateway held open once every pull was done: the connections its pool kept
    /// (idle ones stay for 90 s, so this is what the run opened and did not close).
    #[serde(default)]
    sockets_after_pull: Option<u64>,
}

pub fn run(args: &BenchArgs) -> Result<Value> {
    let w = args.workspaces;
    if w == 0 || w > 9_999 {
        return Err(Error::Invalid(
            "--workspaces must be between 1 and 9999".to_owned(),
        ));
    }
    if args.one_run {
        return one_run_here(args);
    }
    // Each run in a fresh process: memory the allocator kept from an earlier run would count in
    // the next run's peak RSS.
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot locate this executable: {e}")))?;
    let mut runs = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let mut child_args = args.clone();
        child_args.runs = 1;
        let output = std::process::Command::new(&exe)
            .args(["bench", "--part", "scale", "--one-run"])
            .args(super::forwarded(&child_args))
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| Error::Runtime(format!("cannot run a scale run: {e}")))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let figures: RunFigures = serde_json::from_str(text.trim())
            .map_err(|e| Error::Runtime(format!("a scale run failed ({}): {e}", output.status)))?;
        runs.push(figures);
    }
    report(args, &runs)
}

/// One run in this process; prints its figures as one JSON line for the parent.
fn one_run_here(args: &BenchArgs) -> Result<Value> {
    let mocks = start_mocks(args, &[])?;
    let figures = one_run(args, mocks)?;
    serde_json::to_value(&figures).map_err(|e| Error::Runtime(e.to_string()))
}

/// The three vendors' mock processes for W clients (Splunk sharded, see `--splunk-shards`), each
/// also given `extra` arguments.
pub(super) fn start_mocks(args: &BenchArgs, extra: &[String]) -> Result<Mocks> {
    let w = args.workspaces;
    let bin = mocks_binary(args)?;
    // Fresh mocks per run: a run's requests must not count against the next run's quota.
    let a = args.alerts_per_source.to_string();
    let n = w.to_string();
    let s = |v: &[&str]| {
        v.iter()
            .map(|x| (*x).to_owned())
            .chain(extra.iter().cloned())
            .collect::<Vec<_>>()
    };
    let mocks = Mocks {
        falcon: MockProcess::start(
            &bin,
            &s(&[
                "--vendor",
                "crowdstrike",
                "--alerts",
                &a,
                "--cid-count",
                &n,
                "--token-rate-limit",
                &args.falcon_token_quota.to_string(),
                // The mock pools every child CID in the parent's account quota; lifted here
                // with the gateway's account quota, so the bench measures the gateway.
                "--rate-limit",
                "600000",
            ]),
        )?,
        sentinel: MockProcess::start(
            &bin,
            &s(&["--vendor", "sentinel", "--alerts", &a, "--workspaces", &n]),
        )?,
        splunk: (0..args.splunk_shards.clamp(1, w))
            .map(|shard| {
                let k = args.splunk_shards.clamp(1, w);
                let names: Vec<String> = (shard..w)
                    .step_by(k)
                    .map(|i| format!("client_{:04}", i + 1))
                    .collect();
                let (indexes, tokens) = (names.join(","), names.len().to_string());
                MockProcess::start(
                    &bin,
                    &s(&[
                        "--vendor",
                        "splunk",
                        "--alerts",
                        &a,
                        "--indexes",
                        &indexes,
                        "--tokens",
                        &tokens,
                    ]),
                )
            })
            .collect::<Result<_>>()?,
    };
    Ok(mocks)
}

fn report(args: &BenchArgs, runs: &[RunFigures]) -> Result<Value> {
    let w = args.workspaces;
    let med = |f: &dyn Fn(&RunFigures) -> f64| {
        median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    let peak_mib = med(&|r| mib(r.peak_rss));
    let failures: usize = runs.iter().map(|r| r.failures.len()).sum();
    let mut quotas = serde_json::Map::new();
    let mut within = true;
    for (v, vendor) in VENDORS.iter().enumerate() {
        let worst = runs
            .iter()
            .filter_map(|r| r.max_in_period[v])
            .max_by(|a, b| (a.0 as f64 / f64::from(a.1)).total_cmp(&(b.0 as f64 / f64::from(b.1))));
        let figure = match (v, worst) {
            (1, _) => {
                let busiest = runs.iter().filter_map(|r| r.sentinel_busiest).max();
                let limit = runs.iter().find_map(|r| r.max_in_period[1]).map(|x| x.1);
                let ok = matches!((busiest, limit), (Some(b), Some(l)) if b <= u64::from(l));
                within &= ok;
                json!({
                    "max_requests_one_integration_whole_run": busiest,
                    "limit_per_minute": limit,
                    "within_limit": ok,
                    "measured_by": "the mock: every list/alert call of the busiest workspace over the whole run (Sentinel exposes no http_stats)",
                })
            }
            (_, Some((max, limit))) => {
                let ok = max <= u64::from(limit);
                within &= ok;
                json!({
                    "max_requests_in_one_minute_one_integration": max,
                    "limit_per_minute": limit,
                    "within_limit": ok,
                    "measured_by": "the integration's limiter (http_stats().max_requests_in_period)",
                })
            }
            _ => json!(null),
        };
        quotas.insert((*vendor).to_owned(), figure);
    }
    let integrations = w * 3;
    let first = runs.first();
    Ok(json!({
        "part": "scale",
        "workspaces": w,
        "integrations": integrations,
        "alerts_per_source": args.alerts_per_source,
        "runs": args.runs,
        "pull_s_median": round(med(&|r| r.pull_s), 2),
        "setup_s_median": round(med(&|r| r.setup_s), 2),
        "peak_rss_mib_median": round(peak_mib, 1),
        "rss_after_building_connectors_mib_median": round(med(&|r| mib(r.rss_after_build)), 1),
        "alerts_per_run": first.map(|r| json!({"crowdstrike": r.alerts[0], "sentinel": r.alerts[1], "splunk": r.alerts[2]})),
        "batches_committed_per_run": first.map(|r| r.batches),
        "commits_per_run": first.map(|r| r.commits),
        "failed_integrations": failures,
        "failures_sample": runs.iter().flat_map(|r| r.failures.iter()).take(5).collect::<Vec<_>>(),
        "quotas": quotas,
        "falcon_429s": runs.iter().filter_map(|r| r.falcon_429).max(),
        "gateway_sockets_after_pull_max": runs.iter().filter_map(|r| r.sockets_after_pull).max(),
        "max_connections_per_host": seliq_connectors::http::DEFAULT_MAX_CONNECTIONS_PER_HOST,
        "falcon_mock_token_quota_per_minute": args.falcon_token_quota,
        "concurrency": args.concurrency.unwrap_or(integrations).min(integrations),
        "gateway_cpu_s_median": round(med(&|r| r.gateway_cpu_s.unwrap_or(f64::NAN)), 2),
        "splunk_mock_processes": args.splunk_shards.clamp(1, w),
        "mock_cpu_s_median": {
            "crowdstrike": round(med(&|r| r.mock_cpu_s[0].unwrap_or(f64::NAN)), 2),
            "sentinel": round(med(&|r| r.mock_cpu_s[1].unwrap_or(f64::NAN)), 2),
            "splunk": round(med(&|r| r.mock_cpu_s[2].unwrap_or(f64::NAN)), 2),
        },
        "target": {"integrations": TARGET_INTEGRATIONS, "peak_rss_mib": TARGET_RSS_MIB},
        "target_met": integrations >= TARGET_INTEGRATIONS && peak_mib <= TARGET_RSS_MIB && within && failures == 0,
        "method": "setup through the store (workspaces::create, integrations::add without verify); pull: connectors built from the vault as registry::build does, one fetch loop per integration, all concurrent on a 2-worker runtime, one committer (NDJSON to a file, fsync, checkpoint per batch) — pull::run pulls one workspace at a time, so it is not used here",
    }))
}

fn one_run(args: &BenchArgs, mocks: Mocks) -> Result<RunFigures> {
    let dir = tempfile::tempdir()
        .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
    let config = Config {
        data_dir: dir.path().join("data"),
        database_url: None,
        actor: "bench".to_owned(),
    };
    app::init(&config)?;
    let mut app = App::open(config)?;
    let rt = runtime(2)?;
    // The gateway paces Falcon token requests per API host (250/min by default, under the
    // vendor's 300/min per IP); it gets the same quota as the mock here, so what is measured is
    // the gateway, not 1,000 first mints queueing for four minutes.
    // Likewise the account quota: every Falcon CID here hangs off one parent client, whose
    // 5,000 per minute would pace 1,000 integrations' few requests each over half a minute.
    let http = HttpOptions::default_timeouts()?
        .with_token_rate_limit(RateLimit::per_minute(args.falcon_token_quota))
        .with_account_rate_limit(RateLimit::per_minute(600_000));

    let setup_start = Instant::now();
    let slugs = rt.block_on(setup(&mut app, &http, &mocks, args.workspaces))?;
    let setup_s = setup_start.elapsed().as_secs_f64();

    let (jobs, engine_jobs) = open_jobs(&mut app, &http, &slugs)?;
    let rss_after_build = rss_bytes().unwrap_or(0);
    let cpu_before = mocks.cpu_seconds();
    let gateway_cpu_before = super::proc_stats::cpu_seconds(None);
    let out = dir.path().join("alerts.ndjson");
    let mut sink = Sink::open_file(&out, app.store())?;

    let pull_start = Instant::now();
    let concurrency = args.concurrency.unwrap_or(jobs.len()).max(1);
    let engine = pull::Engine {
        concurrency,
        batch_size: pull::DEFAULT_BATCH,
        max: None,
        progress: false,
    };
    let (reports, stats) =
        rt.block_on(pull::run_jobs(&mut app, &mut sink, engine_jobs, &engine))?;
    let mut alerts = [0u64; 3];
    let mut failures = Vec::new();
    for (job, report) in jobs.iter().zip(&reports) {
        alerts[job.built.vendor()] += report.alerts;
        if let Some(e) = &report.error {
            failures.push(format!("{}: {e}", job.label));
        }
    }
    let (batches, commits) = (stats.batches, stats.commits);
    // Every source holds `alerts_per_source` alerts: a run that pulled fewer did not do the work.
    let expected = (args.workspaces * args.alerts_per_source) as u64;
    if failures.is_empty()
        && let Some(v) = alerts.iter().position(|&n| n != expected)
    {
        return Err(Error::Runtime(format!(
            "the scale run pulled {} {} alerts, expected {expected}",
            alerts[v], VENDORS[v]
        )));
    }
    let pull_s = pull_start.elapsed().as_secs_f64();
    let gateway_cpu_s = gateway_cpu_before
        .zip(super::proc_stats::cpu_seconds(None))
        .map(|(a, b)| b - a);
    let peak_rss = peak_rss_bytes().unwrap_or(0);
    let sockets_after_pull = super::proc_stats::open_sockets();

    let mut max_in_period: [Option<(u64, u32)>; 3] = [None; 3];
    for job in &jobs {
        let v = job.built.vendor();
        let limit = job.built.limit_per_minute();
        let max = job.built.stats().map_or(0, |s| s.max_requests_in_period);
        let worse = max_in_period[v]
            .is_none_or(|(m, l)| max as f64 / f64::from(limit) > m as f64 / f64::from(l));
        if worse {
            max_in_period[v] = Some((max, limit));
        }
    }
    let cpu_after = mocks.cpu_seconds();
    let mock_cpu_s = [0, 1, 2].map(|i| cpu_before[i].zip(cpu_after[i]).map(|(a, b)| b - a));
    drop(jobs);
    drop(rt);
    let falcon = mocks.falcon.stop();
    let sentinel = mocks.sentinel.stop();
    drop(mocks.splunk);
    Ok(RunFigures {
        setup_s,
        pull_s,
        alerts,
        failures,
        peak_rss,
        rss_after_build,
        max_in_period,
        batches,
        commits,
        mock_cpu_s,
        gateway_cpu_s,
        sentinel_busiest: sentinel
            .and_then(|s| s["stats"]["max_data_requests_one_workspace"].as_u64()),
        falcon_429: falcon.and_then(|s| s["stats"]["responses_429"].as_u64()),
        sockets_after_pull,
    })
}

fn text(v: &Value, what: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Runtime(format!("the mock did not say its {what}")))
}

/// One workspace per client and its three integrations, through the store.
pub(super) async fn setup(
    app: &mut App,
    http: &HttpOptions,
    mocks: &Mocks,
    w: usize,
) -> Result<Vec<Slug>> {
    let (fi, si) = (&mocks.falcon.info, &mocks.sentinel.info);
    let falcon_client = text(&fi["client_id"], "client id")?;
    let falcon_secret = text(&fi["client_secret"], "client secret")?;
    let sentinel_secret = text(&si["client_secret"], "client secret")?;
    let mut slugs = Vec::with_capacity(w);
    for i in 0..w {
        let slug = Slug::parse(&format!("client-{:04}", i + 1))?;
        workspaces::create(app, &slug, "scale benchmark client", Plan::Pro)?;
        let ws = &si["workspaces"][i];
        let shards = mocks.splunk.len().max(1);
        let (splunk_shard, j) = (&mocks.splunk[i % shards], i / shards);
        let integrations = [
            (
                "falcon",
                Params::Crowdstrike(crowdstrike::Params {
                    client_id: falcon_client.clone(),
                    cid: text(&fi["cids"][i], "CIDs")?,
                    base_url: Some(mocks.falcon.url.clone()),
                    allow_insecure_http: true,
                    ..Default::default()
                }),
                falcon_secret.clone(),
            ),
            (
                "sentinel",
                Params::Sentinel(sentinel::Params {
                    tenant_id: text(&si["tenant_id"], "tenant")?,
                    client_id: text(&si["client_id"], "client id")?,
                    subscription_id: text(&ws["subscription_id"], "workspaces")?,
                    resource_group: text(&ws["resource_group"], "workspaces")?,
                    workspace_name: text(&ws["workspace_name"], "workspaces")?,
                    authority_url: Some(mocks.sentinel.url.clone()),
                    management_url: Some(mocks.sentinel.url.clone()),
                    allow_insecure_http: true,
                    ..Default::default()
                }),
                sentinel_secret.clone(),
            ),
            (
                "splunk",
                Params::Splunk(splunk::Params {
                    url: splunk_shard.url.clone(),
                    app: "search".to_owned(),
                    indexes: vec![text(&splunk_shard.info["indexes"][j]["index"], "indexes")?],
                    allow_insecure_http: true,
                    ..Default::default()
                }),
                // Token 0 is the shared admin; each client has its own service account.
                text(&splunk_shard.info["tokens"][j + 1]["token"], "tokens")?,
            ),
        ];
        for (name, params, secret) in integrations {
            integrations::add(
                app,
                http,
                NewIntegration {
                    workspace: slug.clone(),
                    name: IntegrationName::parse(name)?,
                    settings: Settings::validate(params)?,
                    secret: SecretString::from(secret),
                    verify: false,
                    first_window: pull::DEFAULT_FIRST_WINDOW,
                    poll_interval: crate::integrations::DEFAULT_POLL_INTERVAL,
                },
            )
            .await?;
        }
        slugs.push(slug);
    }
    Ok(slugs)
}

/// Every integration's credential opened through its workspace's vault handle, its connector,
/// and its workspace's SLA stamper (one ledger connection for all, as `serve` has): the bench's
/// view of each and the engine's job, in the same order.
fn open_jobs(
    app: &mut App,
    http: &HttpOptions,
    slugs: &[Slug],
) -> Result<(Vec<Job>, Vec<pull::Job>)> {
    let vault = app.vault().clone();
    let now = Utc::now();
    let ledger = crate::sla::Ledger::open(app.store())?;
    let rows = app.store().read(|tx| {
        let mut out = Vec::with_capacity(slugs.len());
        for slug in slugs {
            let ws = workspaces::require(tx, slug)?;
            let policy = crate::sla::effective(tx, ws.id)?;
            let mut integs = Vec::new();
            for integ in tx.integrations(ws.id)? {
                let secret = integrations::open_current(tx, &vault, &ws, &integ)?;
                integs.push((integ, secret));
            }
            out.push((slug.to_string(), ws.id, policy, integs));
        }
        Ok::<_, Error>(out)
    })?;
    let mut jobs = Vec::with_capacity(slugs.len() * 3);
    let mut engine_jobs = Vec::with_capacity(slugs.len() * 3);
    for (workspace, workspace_id, policy, integs) in rows {
        let sla = Arc::new(crate::sla::Stamper {
            workspace_id,
            policy: Arc::new(policy),
            ledger: ledger.clone(),
        });
        for (integ, secret) in integs {
            let built = build(&integ.settings, secret, http)?;
            engine_jobs.push(pull::Job {
                workspace: workspace.clone(),
                connector: built.connector(),
                cursor: None,
                checkpoint_version: 0,
                since: pull::first_window_start(&integ, now)?,
                route: None,
                sla: sla.clone(),
                integ: integ.clone(),
                fence: None,
                hold_cursor_only: false,
            });
            jobs.push(Job {
                label: format!("{workspace}/{}", integ.name),
                built,
            });
        }
    }
    Ok((jobs, engine_jobs))
}
