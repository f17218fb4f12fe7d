//! `audit export|verify|prune`: argument handling and output. The work is in the library
//! modules (`audit::export`, `audit::verify`, `audit::prune`), which return values and take the
//! time as a parameter; this module is the only one that prints their results.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::audit::clock;
use crate::audit::export::{self, ExportRequest, Format, Target};
use crate::audit::prune::{self, Retention};
use crate::audit::verify::{self, verify_stored};
use crate::cli::args::{AuditCmd, ExportFormat};
use crate::error::{Error, Result};
use crate::slug::Slug;
use crate::timespec::parse_time;

pub fn run(app: &mut App, cmd: AuditCmd) -> Result<u8> {
    match cmd {
        AuditCmd::Export {
            workspace,
            format,
            output,
            since,
            until,
        } => {
            let now = clock::now();
            let since = time_arg("--since", since.as_deref(), now)?;
            let until = time_arg("--until", until.as_deref(), now)?;
            if let (Some(s), Some(u)) = (since, until)
                && s >= u
            {
                return Err(Error::Invalid(format!(
                    "--since {} is not before --until {}",
                    clock::format(s),
                    clock::format(u)
                )));
            }
            let target = match output {
                None => Target::Default,
                Some(p) if p.as_os_str() == "-" => Target::Stdout,
                Some(p) => {
                    // Before anything is signed or written: refuse a target we would clobber.
                    crate::fs_atomic::ensure_replaceable(&p).map_err(|e| {
                        Error::Invalid(format!("refusing --output {}: {e}", p.display()))
                    })?;
                    Target::File(p)
                }
            };
            let req = ExportRequest {
                slug: Slug::parse(&workspace)?,
                format: match format {
                    ExportFormat::Csv => Format::Csv,
                    ExportFormat::Json => Format::Json,
                    ExportFormat::Jsonl => Format::Jsonl,
                },
                target,
                since,
                until,
            };
            let done = export::export(app, &req)?;
            let range = match (done.first_seq, done.last_seq) {
                (Some(a), Some(b)) if a == b => format!(" (seq {a})"),
                (Some(a), Some(b)) => format!(" (seq {a}–{b})"),
                _ => String::new(),
            };
            let what = format!("exported {}{range} of {}", entries(done.entries), req.slug);
            match &done.path {
                Some(p) => println!("{what} to {}", p.display()),
                // stdout carries the export itself.
                None => eprintln!("{what}"),
            }
            Ok(0)
        }
        AuditCmd::Verify { workspace, file } => {
            let slug = Slug::parse(&workspace)?;
            let signer = app.who().signer.clone();
            match file {
                None => {
                    let outcome = app.store().read(|tx| {
                        let ws = tx.workspace_by_slug_any(&slug)?.ok_or_else(|| {
                            Error::NotFound(format!("workspace {:?} does not exist", slug.as_str()))
                        })?;
                        verify_stored(tx, ws.id, &signer)
                    })?;
                    let report = outcome.map_err(|b| {
                        Error::Runtime(format!(
                            "the audit chain of {slug} fails verification at {b}"
                        ))
                    })?;
                    println!("{}", report.summary(&format!("audit chain of {slug}")));
                }
                Some(path) => {
                    let report = verify::verify_file(&path, &slug, &signer)?;
                    println!(
                        "{}",
                        report.summary(&format!("export {} of {slug}", path.display()))
                    );
                }
            }
            Ok(0)
        }
        AuditCmd::Prune { workspace } => {
            let only = workspace.as_deref().map(Slug::parse).transpose()?;
            let retention = Retention::from_env()?;
            let who = app.who().clone();
            let results = prune::prune(app.store(), &who, &retention, only.as_ref(), clock::now())?;
            let mut refused = Vec::new();
            for r in &results {
                if let Some(why) = &r.refused {
                    refused.push(format!("{}: {why}", r.slug));
                } else if r.segments.is_empty() {
                    println!(
                        "{}: nothing to prune (plan {}, retention {} days)",
                        r.slug, r.plan, r.retention_days
                    );
                } else {
                    let months: Vec<&str> = r.segments.iter().map(|s| s.month.as_str()).collect();
                    let (a, b) = (
                        r.segments[0].first_seq,
                        r.segments[r.segments.len() - 1].last_seq,
                    );
                    let seqs = if a == b {
                        format!("seq {a}")
                    } else {
                        format!("seq {a}–{b}")
                    };
                    let month_word = if months.len() == 1 { "month" } else { "months" };
                    println!(
                        "{}: pruned {} ({seqs}, {month_word} {}) older than the retention of plan {} ({} days); manifests kept",
                        r.slug,
                        entries(r.entries),
                        months.join(", "),
                        r.plan,
                        r.retention_days
                    );
                }
            }
            if refused.is_empty() {
                Ok(0)
            } else {
                Err(Error::Runtime(format!(
                    "refused to prune {}",
                    refused.join("; ")
                )))
            }
        }
    }
}

fn entries(n: u64) -> String {
    if n == 1 {
        "1 audit entry".to_owned()
    } else {
        format!("{n} audit entries")
    }
}

fn time_arg(flag: &str, raw: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    raw.map(|r| parse_time(flag, r, now)).transpose()
}
