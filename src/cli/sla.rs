//! `sla`, `calendar` and `assignment`: a workspace's contract terms (issue 19).

use clap::{Args, Subcommand};
use seliq_sla::{Calendar, Severity, Target, WeeklyHours};
use serde_json::json;

use super::print_json;
use crate::app::App;
use crate::audit::Action;
use crate::error::{Error, Result};
use crate::sla::policy;
use crate::sla::report::{self, ReportFormat};
use crate::slug::Slug;
use crate::timespec::parse_time;

#[derive(Debug, Subcommand)]
pub enum SlaCmd {
    /// The gateway-wide baseline template every workspace inherits.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway sla template set --severity low --ttr 3bd"
    )]
    Template(TemplateCmd),
    /// A workspace's effective targets (template plus its overrides) and calendar.
    #[command(after_help = "Example:\n  seliq-gateway sla show acme-corp --json")]
    Show {
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// Override a workspace's targets for one severity; a field not given keeps inheriting.
    #[command(
        after_help = "Example:\n  seliq-gateway sla set acme-corp --severity critical --tta 10m"
    )]
    Set {
        workspace: String,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Attainment per severity: within target, breaches (with alert ids), median and p90 times.
    #[command(
        after_help = "Example:\n  seliq-gateway sla report acme-corp --since 30d --format html --output acme-sla.html"
    )]
    Report {
        workspace: String,
        /// Alerts created from (RFC 3339 or a span back from now); default 30d.
        #[arg(long, default_value = "30d")]
        since: String,
        /// Alerts created before (RFC 3339 or a span back from now); default now.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
        format: ReportFormat,
        /// Write to this file (atomically) instead of stdout.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Drop a workspace's overrides (of one severity, or all): it follows the template again.
    #[command(after_help = "Example:\n  seliq-gateway sla reset acme-corp --severity critical")]
    Reset {
        workspace: String,
        #[arg(long)]
        severity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// Show the template in force.
    #[command(after_help = "Example:\n  seliq-gateway sla template show")]
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change the template for one severity (every workspace without an override follows).
    #[command(after_help = "Example:\n  seliq-gateway sla template set --severity low --ttr 3bd")]
    Set {
        #[command(flatten)]
        targets: TargetArgs,
    },
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// critical, high, medium, low or informational.
    #[arg(long)]
    pub severity: String,
    /// Time to acknowledge: wall clock (90s, 15m, 4h, 2d, 1w) or business time (8bh, 5bd).
    #[arg(long)]
    pub tta: Option<String>,
    /// Time to resolve, in the same units.
    #[arg(long)]
    pub ttr: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// Show a workspace's business calendar.
    #[command(after_help = "Example:\n  seliq-gateway calendar show acme-corp")]
    Show {
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a workspace's time zone, weekly hours or holidays.
    #[command(
        after_help = "Example:\n  seliq-gateway calendar set acme-corp --tz Europe/Berlin --hours \"mon-fri 08:00-18:00\" --holiday 2026-12-25"
    )]
    Set {
        workspace: String,
        /// IANA time zone, e.g. America/New_York.
        #[arg(long)]
        tz: Option<String>,
        /// Weekly hours, e.g. "mon-fri 09:00-17:00", "mon-thu 08:00-18:00, fri 08:00-14:00", "24/7".
        #[arg(long)]
        hours: Option<String>,
        /// A holiday (YYYY-MM-DD) to add; repeatable.
        #[arg(long)]
        holiday: Vec<String>,
        /// A holiday to remove; repeatable.
        #[arg(long)]
        remove_holiday: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssignmentCmd {
    /// Show a workspace's assignment model and escalation owner.
    #[command(after_help = "Example:\n  seliq-gateway assignment show acme-corp")]
    Show {
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a workspace's assignment model (it replaces the previous one).
    #[command(
        after_help = "Examples:\n  seliq-gateway assignment set acme-corp --model dedicated --analyst alice@mssp.example --escalation-owner soc-lead@mssp.example\n  seliq-gateway assignment set globex-prod --model tiered --primary bob --secondary night-pool --after-hours --peak-over 50 --escalation-owner carol"
    )]
    Set {
        workspace: String,
        #[command(flatten)]
        spec: policy::AssignmentSpec,
    },
}

fn invalid(flag: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{flag}: {e}"))
}

fn severity(s: &str) -> Result<Severity> {
    s.parse().map_err(|e| invalid("--severity", e))
}

fn target(flag: &str, s: &Option<String>) -> Result<Option<Target>> {
    s.as_deref()
        .map(|t| t.parse::<Target>().map_err(|e| invalid(flag, e)))
        .transpose()
}

fn targets(t: &TargetArgs) -> Result<(Severity, Option<Target>, Option<Target>)> {
    let sev = severity(&t.severity)?;
    let (tta, ttr) = (target("--tta", &t.tta)?, target("--ttr", &t.ttr)?);
    if tta.is_none() && ttr.is_none() {
        return Err(Error::Invalid(
            "give --tta, --ttr or both: nothing to change".to_owned(),
        ));
    }
    Ok((sev, tta, ttr))
}

fn changed(what: &str, version: Option<i64>) {
    match version {
        Some(v) => println!("{what}: policy version {v}"),
        None => println!("{what}: unchanged (no new version)"),
    }
}

fn print_targets(targets: &seliq_sla::Template) {
    println!("{:<14} {:<8} {:<8}", "severity", "tta", "ttr");
    for s in Severity::ALL {
        let t = targets.get(s);
        let show = |t: &Option<Target>| t.as_ref().map_or("-".to_owned(), |t| t.to_string());
        println!("{:<14} {:<8} {:<8}", s.as_str(), show(&t.tta), show(&t.ttr));
    }
}

pub fn sla(mut app: App, cmd: SlaCmd) -> Result<u8> {
    match cmd {
        SlaCmd::Template(TemplateCmd::Show { json }) => {
            let (version, template) = policy::show_template(&mut app)?;
            if json {
                print_json(&json!({"policy_version": version, "template": template}))?;
            } else {
                println!("template version {version}");
                print_targets(&template);
            }
        }
        SlaCmd::Template(TemplateCmd::Set { targets: t }) => {
            let (sev, tta, ttr) = targets(&t)?;
            let v = policy::set_template_targets(&mut app, sev, tta, ttr)?;
            changed("sla template", v);
        }
        SlaCmd::Show { workspace, json } => {
            let slug = Slug::parse(&workspace)?;
            let (own, eff) = policy::show(&mut app, &slug)?;
            if json {
                print_json(&json!({
                    "workspace": slug.as_str(),
                    "policy_version": eff.version,
                    "targets": eff.targets,
                    "overrides": own.overrides,
                    "calendar": own.calendar,
                    "assignment": own.assignment,
                }))?;
            } else {
                println!("workspace {slug}, policy version {}", eff.version);
                print_targets(&eff.targets);
                println!(
                    "calendar: {} {} ({} holidays)",
                    own.calendar.zone_name(),
                    own.calendar.hours(),
                    own.calendar.holidays().len()
                );
            }
        }
        SlaCmd::Set {
            workspace,
            targets: t,
        } => {
            let slug = Slug::parse(&workspace)?;
            let (sev, tta, ttr) = targets(&t)?;
            let v = policy::set_workspace_targets(&mut app, &slug, sev, tta, ttr)?;
            changed(&format!("sla of {slug}"), v);
        }
        SlaCmd::Report {
            workspace,
            since,
            until,
            format,
            output,
        } => {
            let slug = Slug::parse(&workspace)?;
            let now = chrono::Utc::now();
            let since = parse_time("--since", &since, now)?;
            let until = match &until {
                Some(u) => parse_time("--until", u, now)?,
                None => now,
            };
            let (text, n) =
                report::generate(&mut app, &slug, since, until, format, output.as_deref())?;
            match (text, &output) {
                (Some(t), _) => print!("{t}"),
                (None, Some(p)) => eprintln!(
                    "sla report of {slug}: {n} alerts, written to {}",
                    p.display()
                ),
                (None, None) => {}
            }
        }
        SlaCmd::Reset {
            workspace,
            severity: sev,
        } => {
            let slug = Slug::parse(&workspace)?;
            let sev = sev.as_deref().map(severity).transpose()?;
            let v = policy::reset_workspace_targets(&mut app, &slug, sev)?;
            changed(&format!("sla of {slug}"), v);
        }
    }
    Ok(0)
}

pub fn calendar(mut app: App, cmd: CalendarCmd) -> Result<u8> {
    match cmd {
        CalendarCmd::Show { workspace, json } => {
            let slug = Slug::parse(&workspace)?;
            let (own, _) = policy::show(&mut app, &slug)?;
            let c = &own.calendar;
            if json {
                print_json(c)?;
            } else {
                println!("zone:     {}\nhours:    {}", c.zone_name(), c.hours());
                let days: Vec<String> = c.holidays().iter().map(|d| d.to_string()).collect();
                println!(
                    "holidays: {}",
                    if days.is_empty() {
                        "-".to_owned()
                    } else {
                        days.join(", ")
                    }
                );
            }
        }
        CalendarCmd::Set {
            workspace,
            tz,
            hours,
            holiday,
            remove_holiday,
        } => {
            let slug = Slug::parse(&workspace)?;
            let hours = hours
                .as_deref()
                .map(|h| h.parse::<WeeklyHours>().map_err(|e| invalid("--hours", e)))
                .transpose()?;
            let add = holiday
                .iter()
                .map(|d| seliq_sla::parse_holiday(d).map_err(|e| invalid("--holiday", e)))
                .collect::<Result<Vec<_>>>()?;
            let remove = remove_holiday
                .iter()
                .map(|d| seliq_sla::parse_holiday(d).map_err(|e| invalid("--remove-holiday", e)))
                .collect::<Result<Vec<_>>>()?;
            if tz.is_none() && hours.is_none() && add.is_empty() && remove.is_empty() {
                return Err(Error::Invalid(
                    "give --tz, --hours, --holiday or --remove-holiday: nothing to change"
                        .to_owned(),
                ));
            }
            // Validate the zone before opening the store, so a typo names itself.
            if let Some(z) = &tz {
                Calendar::new(z, WeeklyHours::default(), []).map_err(|e| invalid("--tz", e))?;
            }
            let v = policy::change_workspace(&mut app, &slug, Action::CalendarChanged, |p| {
                let c = &p.calendar;
                let mut days = c.holidays();
                days.retain(|d| !remove.contains(d));
                days.extend(add.iter().copied());
                p.calendar = Calendar::new(
                    tz.as_deref().unwrap_or(c.zone_name()),
                    hours.clone().unwrap_or_else(|| c.hours().clone()),
                    days,
                )
                .map_err(|e| invalid("calendar", e))?;
                Ok(())
            })?;
            changed(&format!("calendar of {slug}"), v);
        }
    }
    Ok(0)
}

pub fn assignment(mut app: App, cmd: AssignmentCmd) -> Result<u8> {
    match cmd {
        AssignmentCmd::Show { workspace, json } => {
            let slug = Slug::parse(&workspace)?;
            let (own, _) = policy::show(&mut app, &slug)?;
            if json {
                print_json(&own.assignment)?;
            } else {
                match &own.assignment {
                    Some(a) => println!(
                        "{}",
                        serde_json::to_string_pretty(a)
                            .map_err(|e| Error::Runtime(e.to_string()))?
                    ),
                    None => println!("workspace {slug} has no assignment model"),
                }
            }
        }
        AssignmentCmd::Set { workspace, spec } => {
            let slug = Slug::parse(&workspace)?;
            let a = spec.build().map_err(|e| {
                // Fields as flags: `escalation_owner` is `--escalation-owner`, `analysts`
                // is given as `--analyst`.
                let flag = match e.field {
                    "analysts" => "analyst".to_owned(),
                    f => f.replace('_', "-"),
                };
                Error::Invalid(format!("--{flag}: {}", e.detail))
            })?;
            let v = policy::set_assignment(&mut app, &slug, a)?;
            changed(&format!("assignment of {slug}"), v);
        }
    }
    Ok(0)
}
