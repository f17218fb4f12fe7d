//! `pull`: flags → a typed [`pull::PullRequest`], the sink, the engine, then the summary.

use std::io::Write;

use chrono::Utc;
use seliq_connectors::http::HttpOptions;

use super::args::PullArgs;
use crate::app::App;
use crate::error::{Error, Result};
use crate::pull::{self, PullReport, PullRequest, Sink};
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
    };
    if req.max == Some(0) {
        return Err(Error::Invalid(
            "--max 0 would pull nothing; give a positive number".to_owned(),
        ));
    }
    // Open the sink first: an unwritable --output fails before any vendor is called.
    // No `serve` may poll these integrations meanwhile (exit 3 naming it).
    let _lock = crate::lock::pull(&app.config.data_dir)?;
    let mut sink = match &args.output {
        Some(p) => Sink::open_file(p, &mut app.store)?,
        None => Sink::stdout(),
    };
    let report = pull::run(app, http, &req, &mut sink).await?;
    print_summary(&req.workspace, &report);
    Ok(report.exit_code())
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
