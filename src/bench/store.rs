//! `bench --part store`: the store's two write paths that scale with clients and alerts, on
//! SQLite and (with `--store-database-url`) on PostgreSQL, through the product's own code.
//!
//! - **binds per second**: `integrations::add` (what `integration add --no-verify` runs): the
//!   binding guard's read, then one write transaction with the overlap check, the integration,
//!   its binding, its sealed credential and its audit entry.
//! - **checkpoint commits per second**: the transaction every batch commits (compare-and-set of
//!   the checkpoint and the file sink's length), without the sink's own write and fsync, one
//!   integration after another.
//!
//! Sequential, one connection: the figures are per writer. Every write on either database
//! serialises on its write lock (SQLite's file lock, PostgreSQL's advisory lock), so more
//! writers add waiting, not throughput.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use super::BenchArgs;
use super::proc_stats::round;
use crate::app::{self, App, Config};
use crate::error::{Error, Result};
use crate::integrations::{self, NewIntegration};
use crate::slug::{IntegrationName, Slug};
use crate::store::{CheckpointRow, Plan};
use seliq_connectors::crowdstrike::{Params, Settings as FalconSettings};
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{Cursor, Kind, Settings};

pub fn run(args: &BenchArgs) -> Result<Value> {
    let mut results = vec![measure("sqlite", None, args)?];
    if let Some(url) = &args.store_database_url {
        results.push(measure("postgres", Some(url.clone()), args)?);
    }
    Ok(json!({
        "part": "store",
        "binds": args.store_binds,
        "commits": args.store_commits,
        "results": results,
        "method": "one process, one connection, sequential: binds through integrations::add (no vendor call), commits as the checkpoint transaction of a batch (without the sink's write and fsync); SQLite with synchronous=FULL in a temporary dir, PostgreSQL as given (fsync and synchronous_commit as the server has them)",
    }))
}

fn measure(label: &str, database_url: Option<String>, args: &BenchArgs) -> Result<Value> {
    let dir = tempfile::tempdir()
        .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
    let config = Config {
        data_dir: dir.path().join("data"),
        database_url: database_url.map(SecretString::from),
        actor: "bench".to_owned(),
    };
    app::init(&config)?;
    let mut app = App::open(config)?;
    let slug = Slug::parse("bench-corp")?;
    crate::workspaces::create(&mut app, &slug, "", Plan::Pro)?;
    let http = HttpOptions::default_timeouts()?;
    let rt = super::runtime(1)?;

    let started = Instant::now();
    let mut first = None;
    for i in 0..args.store_binds {
        let settings = Settings::Crowdstrike(FalconSettings::validate(Params {
            client_id: "0123456789abcdef0123456789abcdef".to_owned(),
            cid: format!("{:032x}", 0xb1d0_0000u64 + i as u64),
            base_url: Some("http://127.0.0.1:9".to_owned()),
            allow_insecure_http: true,
            ..Params::default()
        })?);
        let row = rt.block_on(integrations::add(
            &mut app,
            &http,
            NewIntegration {
                workspace: slug.clone(),
                name: IntegrationName::parse(&format!("falcon-{i:05}"))?,
                settings,
                secret: SecretString::from("bench-secret-value"),
                verify: false,
                first_window: Duration::from_secs(3600),
                poll_interval: integrations::DEFAULT_POLL_INTERVAL,
            },
        ))?;
        first.get_or_insert(row.id);
    }
    let binds_s = started.elapsed().as_secs_f64();
    let bound = app
        .store()
        .read(|tx| Ok::<_, Error>(tx.integrations(app_ws(tx, &slug)?)?.len()))?;
    if bound != args.store_binds {
        return Err(Error::Runtime(format!(
            "{bound} of {} binds landed",
            args.store_binds
        )));
    }

    let id = first.ok_or_else(|| Error::Invalid("--store-binds must be at least 1".to_owned()))?;
    let sink = format!("{}/alerts.ndjson", dir.path().display());
    let started = Instant::now();
    for version in 1..=args.store_commits as u64 {
        let row = CheckpointRow {
            integration_id: id,
            cursor: Cursor::seal(Kind::Crowdstrike, 1, &json!({ "n": version }))?,
            sink: Some(sink.clone()),
            sink_offset: Some(version * 1000),
            updated_at: chrono::Utc::now(),
            version,
        };
        let committed = app.store().write(|tx| {
            let ok = tx.save_checkpoint_if(&row)?;
            tx.set_sink_offset(&sink, version * 1000)?;
            Ok::<_, Error>(ok)
        })?;
        if !committed {
            return Err(Error::Runtime(format!(
                "checkpoint version {version} was refused"
            )));
        }
    }
    let commits_s = started.elapsed().as_secs_f64();
    Ok(json!({
        "database": label,
        "binds_per_s": round(args.store_binds as f64 / binds_s, 1),
        "bind_ms": round(binds_s * 1000.0 / args.store_binds as f64, 2),
        "checkpoint_commits_per_s": round(args.store_commits as f64 / commits_s, 1),
        "commit_ms": round(commits_s * 1000.0 / args.store_commits as f64, 3),
    }))
}

fn app_ws(tx: &crate::store::ReadTx<'_>, slug: &Slug) -> Result<crate::ids::WorkspaceId> {
    Ok(crate::workspaces::require(tx, slug)?.id)
}
