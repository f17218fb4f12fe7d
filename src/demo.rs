//! `seliq-gateway demo`: the whole product in under a minute, against the mock vendors of
//! `seliq-mocks` on loopback and a temporary data dir. Deterministic: seeded mocks, fixed names.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{Params, Settings, crowdstrike, sentinel, splunk};
use seliq_mocks::crowdstrike::{
    CID_A, CID_A_CCID, CID_B, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use seliq_mocks::sentinel::{SentinelMock, SentinelMockConfig};
use seliq_mocks::splunk::{DEFAULT_TOKEN, SplunkMock, SplunkMockConfig};

use crate::app::{self, App, Config};
use crate::audit::export::{self, ExportRequest, Format, Target};
use crate::audit::verify::verify_stored;
use crate::error::{Error, Result};
use crate::integrations::{self, NewIntegration};
use crate::pull::{self, PullRequest, Sink};
use crate::slug::{IntegrationName, Slug};
use crate::store::Plan;
use crate::workspaces;

const WORKSPACES: [(&str, &str, Plan); 3] = [
    (
        "acme-corp",
        "Critical 15m / High 1h / Medium 4h",
        Plan::Enterprise,
    ),
    ("globex-prod", "Critical 30m / High 4h", Plan::Pro),
    ("initech-2024-ent", "Business hours only", Plan::Starter),
];

struct Mocks {
    falcon: FalconMock,
    sentinel: SentinelMock,
    splunk: SplunkMock,
}

pub fn run(dir: Option<PathBuf>) -> Result<u8> {
    let started = Instant::now();
    let keep = dir.is_some();
    let (_tmp, dir) = match dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::tempdir()
                .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let data_dir = dir.join("data");
    if app::is_initialised(&data_dir) {
        return Err(Error::Invalid(format!(
            "demo dir {} already holds a gateway; give an empty or new directory",
            dir.display()
        )));
    }
    let config = Config {
        data_dir: data_dir.clone(),
        database_url: None,
        actor: "demo-operator".to_owned(),
    };
    app::init(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))?;
    let code = rt.block_on(tour(config, &dir))?;
    println!(
        "\ndemo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if keep {
        println!(
            "its data is kept: try `SELIQ_DATA_DIR={} seliq-gateway audit verify acme-corp`",
            data_dir.display()
        );
    } else {
        println!(
            "its temporary data dir is removed; run `seliq-gateway demo --demo-dir DIR` to keep it"
        );
    }
    Ok(code)
}

fn step(title: &str) {
    println!("\n== {title}");
}

async fn start_mocks() -> Mocks {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 400,
        ..FalconMockConfig::default()
    })
    .await;
    let sentinel = SentinelMock::start(SentinelMockConfig {
        incidents: 150,
        ..SentinelMockConfig::default()
    })
    .await;
    let splunk = SplunkMock::start(SplunkMockConfig {
        indexes: vec![("globex_prod".into(), 200), ("acme_prod".into(), 100)],
        notables: vec![("initech_prod".into(), 80), ("globex_prod".into(), 20)],
        ..SplunkMockConfig::default()
    })
    .await;
    Mocks {
        falcon,
        sentinel,
        splunk,
    }
}

fn falcon(mocks: &Mocks, cid: &str) -> Params {
    Params::Crowdstrike(crowdstrike::Params {
        client_id: PARENT_CLIENT_ID.to_owned(),
        cid: cid.to_owned(),
        base_url: Some(mocks.falcon.uri()),
        allow_insecure_http: true,
        ..Default::default()
    })
}

fn sentinel_params(mocks: &Mocks) -> Params {
    let c = mocks.sentinel.credentials();
    Params::Sentinel(sentinel::Params {
        tenant_id: c.tenant_id,
        client_id: c.client_id,
        subscription_id: c.subscription_id,
        resource_group: c.resource_group,
        workspace_name: c.workspace_name,
        authority_url: Some(mocks.sentinel.authority_url()),
        management_url: Some(mocks.sentinel.management_url()),
        allow_insecure_http: true,
        ..Default::default()
    })
}

fn splunk_params(mocks: &Mocks, indexes: &[&str], filter: Option<&str>) -> Params {
    Params::Splunk(splunk::Params {
        url: mocks.splunk.uri(),
        app: "search".to_owned(),
        indexes: indexes.iter().map(|s| s.to_string()).collect(),
        scope_filter: filter.map(str::to_owned),
        allow_insecure_http: true,
        ..Default::default()
    })
}

async fn connect(
    app: &mut App,
    http: &HttpOptions,
    ws: &str,
    name: &str,
    params: Params,
    secret: &str,
) -> Result<()> {
    let req = NewIntegration {
        workspace: Slug::parse(ws)?,
        name: IntegrationName::parse(name)?,
        settings: Settings::validate(params)?,
        secret: SecretString::from(secret),
        verify: true,
        first_window: pull::DEFAULT_FIRST_WINDOW,
        poll_interval: crate::integrations::DEFAULT_POLL_INTERVAL,
    };
    let row = integrations::add(app, http, req).await?;
    println!("  {ws:<18} {name:<12} verified and bound to {}", row.source);
    Ok(())
}

async fn tour(config: Config, dir: &Path) -> Result<u8> {
    step("Starting mock Falcon, Sentinel and Splunk servers on loopback");
    let mocks = start_mocks().await;
    println!(
        "  falcon {}  sentinel {}  splunk {}",
        mocks.falcon.uri(),
        mocks.sentinel.uri(),
        mocks.splunk.uri()
    );
    let http = HttpOptions::default_timeouts()?;
    let mut app = App::open(config)?;

    step("Creating one workspace per client (slugs are permanent)");
    for (slug, sla, plan) in WORKSPACES {
        let w = workspaces::create(&mut app, &Slug::parse(slug)?, sla, plan)?;
        println!(
            "  {:<18} plan {:<10} {}",
            w.slug,
            w.plan.as_str(),
            w.description
        );
    }

    step(
        "Connecting sources (each credential checked with the vendor, sealed under its workspace's key)",
    );
    connect(
        &mut app,
        &http,
        "acme-corp",
        "falcon",
        falcon(&mocks, CID_A),
        PARENT_SECRET,
    )
    .await?;
    connect(
        &mut app,
        &http,
        "acme-corp",
        "sentinel",
        sentinel_params(&mocks),
        &mocks.sentinel.credentials().client_secret,
    )
    .await?;
    connect(
        &mut app,
        &http,
        "globex-prod",
        "falcon",
        falcon(&mocks, CID_B),
        PARENT_SECRET,
    )
    .await?;
    connect(
        &mut app,
        &http,
        "globex-prod",
        "splunk",
        splunk_params(&mocks, &["globex_prod"], None),
        DEFAULT_TOKEN,
    )
    .await?;
    connect(
        &mut app,
        &http,
        "initech-2024-ent",
        "notables",
        splunk_params(&mocks, &["notable"], Some("orig_index=initech*")),
        DEFAULT_TOKEN,
    )
    .await?;
    println!(
        "  (acme-corp and globex-prod share one MSSP parent API client; each token is scoped to its own CID)"
    );

    step("Refusing a second binding of acme-corp's CID, spelled as an upper-case CCID");
    let refused = connect(
        &mut app,
        &http,
        "initech-2024-ent",
        "falcon",
        falcon(&mocks, CID_A_CCID),
        PARENT_SECRET,
    )
    .await;
    match refused {
        Err(e @ Error::Conflict(_)) => println!("  refused (exit code {}): {e}", e.exit_code()),
        Err(e) => return Err(e),
        Ok(()) => {
            return Err(Error::Runtime(
                "the binding guard let a duplicate CID through".to_owned(),
            ));
        }
    }

    step("Rotating acme-corp's Sentinel client secret (pending, verified, then current)");
    let new_secret = "rotated~sentinel.Secret_9876543210";
    mocks.sentinel.set_client_secret(new_secret);
    let version = integrations::rotate(
        &mut app,
        &http,
        &Slug::parse("acme-corp")?,
        &IntegrationName::parse("sentinel")?,
        SecretString::from(new_secret),
        None,
        true,
    )
    .await?;
    println!(
        "  acme-corp/sentinel now on credential version {version}; version {} kept for rollback; other workspaces untouched",
        version.get() - 1
    );

    contract_terms(&mut app)?;

    step("Pulling every workspace into alerts.ndjson (write, fsync, then checkpoint)");
    let out = dir.join("alerts.ndjson");
    let mut sink = Sink::open_file(&out, app.store())?;
    for (slug, _, _) in WORKSPACES {
        let report = pull::run(&mut app, &http, &request(slug)?, &mut sink).await?;
        for r in &report.integrations {
            let status = r.error.as_deref().unwrap_or("ok");
            println!(
                "  {slug:<18} {:<10} {:>5} alerts  {:>3} pages  {status}",
                r.name, r.alerts, r.pages
            );
        }
    }
    print_table(&out)?;
    print_stamps(&out)?;

    step("Pulling again: unchanged sources emit nothing");
    let mut again = 0;
    for (slug, _, _) in WORKSPACES {
        again += pull::run(&mut app, &http, &request(slug)?, &mut sink)
            .await?
            .alerts();
    }
    println!("  {again} new alerts");

    step("Vendor-side changes, then a third pull: exactly the updates");
    mocks.falcon.update_alerts(CID_A, 5);
    mocks.sentinel.escalate(3);
    let third = pull::run(&mut app, &http, &request("acme-corp")?, &mut sink)
        .await?
        .alerts();
    println!(
        "  acme-corp: 5 Falcon updates + 3 Sentinel escalations made; {third} alert versions emitted"
    );

    step("SLA attainment report for acme-corp (CSV here, HTML for the client)");
    let html = dir.join("acme-corp-sla.html");
    let acme = Slug::parse("acme-corp")?;
    let since = chrono::Utc::now() - chrono::Duration::days(3650);
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    let (csv, _) = crate::sla::report::generate(
        &mut app,
        &acme,
        since,
        until,
        crate::sla::report::ReportFormat::Csv,
        None,
    )?;
    for line in csv.unwrap_or_default().lines() {
        let cells: Vec<&str> = line.split(',').collect();
        println!("  {}", cells.get(1..13).unwrap_or(&[]).join("  "));
    }
    crate::sla::report::generate(
        &mut app,
        &acme,
        since,
        until,
        crate::sla::report::ReportFormat::Html,
        Some(&html),
    )?;
    println!(
        "  HTML report (self-contained, opens offline): {}",
        html.display()
    );

    step("Exporting and verifying the audit log");
    for (slug, _, _) in WORKSPACES {
        let slug = Slug::parse(slug)?;
        let file = dir.join(export::default_file_name(
            &slug,
            Format::Csv,
            chrono::Utc::now(),
        ));
        let done = export::export(
            &mut app,
            &ExportRequest {
                slug: slug.clone(),
                format: Format::Csv,
                target: Target::File(file.clone()),
                since: None,
                until: None,
            },
        )?;
        let signer = app.who().signer.clone();
        let report = app.store().read(|tx| {
            let ws = workspaces::require(tx, &slug)?;
            verify_stored(tx, ws.id, &signer)
        })?;
        let verdict = match report {
            Ok(r) => r.summary(&format!("audit chain of {slug}")),
            Err(b) => {
                return Err(Error::Runtime(format!(
                    "the audit chain of {slug} fails verification at {b}"
                )));
            }
        };
        println!(
            "  {} entries -> {}\n    {verdict}",
            done.entries,
            file.display()
        );
    }
    Ok(0)
}

fn request(slug: &str) -> Result<PullRequest> {
    Ok(PullRequest {
        route: None,
        workspace: Slug::parse(slug)?,
        integration: None,
        since: None,
        max: None,
        concurrency: 8,
        batch_size: pull::DEFAULT_BATCH,
    })
}

/// Alerts per workspace, integration and severity, read back from the NDJSON file.
fn print_table(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Runtime(format!("cannot read {}: {e}", path.display())))?;
    let mut counts: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::Runtime(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| Error::Runtime(format!("bad NDJSON line: {e}")))?;
        let key = (
            v["workspace"].as_str().unwrap_or("?").to_owned(),
            v["integration"].as_str().unwrap_or("?").to_owned(),
        );
        *counts
            .entry(key)
            .or_default()
            .entry(v["severity"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let sev = ["critical", "high", "medium", "low", "informational"];
    println!(
        "\n  {:<18} {:<10} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "workspace", "integration", "critical", "high", "medium", "low", "info", "total"
    );
    for ((ws, integ), by) in &counts {
        let n = |s: &str| by.get(s).copied().unwrap_or(0);
        let total: u64 = by.values().sum();
        println!(
            "  {ws:<18} {integ:<10} {:>8} {:>6} {:>6} {:>6} {:>6} {total:>6}",
            n(sev[0]),
            n(sev[1]),
            n(sev[2]),
            n(sev[3]),
            n(sev[4])
        );
    }
    Ok(())
}

/// Keeps the demo's wall-clock budget honest in tests.
pub const BUDGET: Duration = Duration::from_secs(30);

/// One override and one tiered workspace, each a new audited policy version.
fn contract_terms(app: &mut App) -> Result<()> {
    use seliq_sla::{Assignment, Model, Severity, Target};

    use crate::audit::Action;
    use crate::sla::policy;

    step("Contract terms: an SLA override for acme-corp, a tiered analyst model for globex-prod");
    let invalid = |e: seliq_sla::SlaError| Error::Invalid(e.to_string());
    let acme = Slug::parse("acme-corp")?;
    let ten: Target = "10m".parse().map_err(invalid)?;
    let v = policy::change_workspace(app, &acme, Action::SlaPolicyChanged, |p| {
        p.overrides.set(Severity::Critical, Some(ten), None);
        Ok(())
    })?;
    println!(
        "  acme-corp          critical time to acknowledge 10m (template: 15m), policy version {}",
        v.unwrap_or_default()
    );
    let globex = Slug::parse("globex-prod")?;
    let tiered = Assignment::new(
        Model::Tiered {
            primary: "dana@mssp.example".parse().map_err(invalid)?,
            secondary: "night-pool".parse().map_err(invalid)?,
            after_hours: true,
            peak_over: Some(100),
        },
        "soc-lead@mssp.example".parse().map_err(invalid)?,
    )
    .map_err(invalid)?;
    let v = policy::change_workspace(app, &globex, Action::AssignmentChanged, |p| {
        p.assignment = Some(tiered);
        Ok(())
    })?;
    println!(
        "  globex-prod        tiered: dana@mssp.example, night-pool after hours or past 100 alerts/hour, policy version {}",
        v.unwrap_or_default()
    );
    Ok(())
}

/// The `sla` and `routing` fields of the first critical line of each workspace.
fn print_stamps(out: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(out).map_err(|e| Error::Runtime(e.to_string()))?;
    let mut shown = std::collections::HashSet::new();
    println!("  SLA and routing stamps (first critical alert per workspace):");
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let ws = v["workspace"].as_str().unwrap_or_default().to_owned();
        if v["severity"] != "critical" || !shown.insert(ws.clone()) {
            continue;
        }
        println!(
            "    {ws:<18} created {}  tta_due {}  ttr_due {}  routing {}",
            v["created_at"].as_str().unwrap_or("-"),
            v["sla"]["tta_due"].as_str().unwrap_or("-"),
            v["sla"]["ttr_due"].as_str().unwrap_or("-"),
            if v["routing"].is_null() {
                "-".to_owned()
            } else {
                v["routing"].to_string()
            }
        );
    }
    Ok(())
}
