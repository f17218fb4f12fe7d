//! `pull`: flags → a typed [`pull::PullRequest`], the sink, the engine, then the summary.

use std::io::Write;

use chrono::Utc;
use seliq_connectors::http::HttpOptions;

use super::args::PullArgs;
use crate::app::App;
use crate::error::{Error, Result};
use crate::pull::{self, PullReport, PullRequest, Sink};
use crate::serve::spool::Spool;
use crate::sinks::SinkSet;
use crate::slug::{IntegrationName, Slug};
use crate::timespec::parse_time;

pub async fn run(app: &mut App, http: &HttpOptions, args: PullArgs) -> Result<u8> {
    let req = PullRequest {
        workspace: Slug::parse(&args.workspace)?,
        integration: args
            .integration
            .as_deref()
            .map(IntegrationName::parse)
            .transpose()?,
        since: args
            .since
            .as_deref()
            .map(|s| parse_time("--since", s, Utc::now()))
            .transpose()?,
        max: args.max,
        concurrency: args.concurrency.max(1),
        batch_size: pull::DEFAULT_BATCH,
        route: None,
    };
    if req.max == Some(0) {
        return Err(Error::Invalid(
            "--max 0 would pull nothing; give a positive number".to_owned(),
        ));
    }
    // Open the sink first: an unwritable --output fails before any vendor is called.
    // No `serve` may poll these integrations meanwhile (exit 3 naming it).
    let _lock = crate::lock::pull(&app.config().data_dir)?;
    // External sinks connect (and a JetStream stream is checked) before any vendor is called.
    let sinks = match &args.config {
        Some(path) => {
            let file = crate::serve::config::FileConfig::read(path)?;
            if file.sink.is_empty() {
                return Err(Error::Invalid(format!(
                    "config file {} has no [[sink]] table",
                    path.display()
                )));
            }
            let only = (!args.sinks.is_empty()).then_some(args.sinks.as_slice());
            SinkSet::build(file.sink, only).await?
        }
        None => SinkSet::default(),
    };
    let mut req = req;
    req.route = sinks.route(req.workspace.as_str());
    if !sinks.is_empty() && req.route.is_none() {
        return Err(Error::Invalid(format!(
            "no selected sink takes workspace {} (see the sinks' `workspaces` lists)",
            req.workspace
        )));
    }
    let spool_dir = args
        .output_dir
        .clone()
        .or_else(|| sinks.file.as_ref().map(|f| f.dir.clone()));
    if args.output.is_some() && spool_dir.is_some() {
        return Err(Error::Invalid(
            "--output and a file sink (--output-dir or a `type = \"file\"` sink) exclude one another"
                .to_owned(),
        ));
    }
    let max_bytes = sinks
        .file
        .as_ref()
        .and_then(|f| f.max_bytes)
        .unwrap_or(crate::serve::config::DEFAULT_SPOOL_MAX_BYTES);
    let mut spool;
    let mut single;
    let sink: &mut Sink = match (&args.output, spool_dir) {
        (Some(p), _) => {
            single = Sink::open_file(p, app.store())?;
            &mut single
        }
        (None, Some(dir)) => {
            spool = Spool::open(dir, max_bytes, app.store())?;
            spool.sink_for(req.workspace.as_str(), Utc::now(), app.store())?
        }
        // Only external sinks were asked for: no copy on stdout.
        (None, None) if req.route.is_some() => {
            single = Sink::None;
            &mut single
        }
        (None, None) => {
            single = Sink::stdout();
            &mut single
        }
    };
    let report = pull::run(app, http, &req, sink).await?;
    print_summary(&req.workspace, &report);
    Ok(report.exit().code())
}

fn print_summary(ws: &Slug, report: &PullReport) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "pull {ws}: {} alerts", report.alerts());
    for r in &report.integrations {
        let status = match &r.error {
            None => "ok".to_owned(),
            Some(e) => format!("FAILED: {e}"),
        };
        let _ = writeln!(
            err,
            "  {:<24} alerts {:>8}  pages {:>6}  retries {:>4}  {status}",
            r.name, r.alerts, r.pages, r.retries
        );
        if r.dead_lettered > 0 {
            let _ = writeln!(
                err,
                "  {:<24} dead-lettered {} record(s) that could not be mapped ({}); see `seliq-gateway integration dead-letters`",
                "",
                r.dead_lettered,
                r.dead_letter_reasons.join("; ")
            );
        }
    }
}
