//! The rules of an MSSP's response contract, as pure functions: SLA targets per severity,
//! business calendars (IANA zone, weekly hours, holidays), analyst assignment models, and the
//! `sla`/`routing` stamps they give an alert. No I/O and no clock reads: every function takes the
//! instant it reasons about, so the gateway can unit-test and replay them.

mod assignment;
mod calendar;
mod error;
mod policy;
mod report;
mod severity;
mod stamp;
mod target;

pub use assignment::{Analyst, Assignment, Model, Queue};
pub use calendar::{Calendar, WeeklyHours, parse_holiday};
pub use error::SlaError;
pub use jiff::Timestamp;
pub use policy::{Overrides, Policy, Targets, Template};
pub use report::{
    Field, Observed, Report, ReportMeta, SeverityRow, render_csv, render_html, render_json,
    summarise,
};
pub use severity::Severity;
pub use stamp::{Reason, RoutingStamp, SlaStamp, route, sla_for};
pub use target::{Clock, Target};
