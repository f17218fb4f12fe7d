//! Policies as the store keeps them: the gateway-wide template and each workspace's overrides,
//! calendar and assignment, one append-only version per change, each change audited with its
//! old and new values.

use chrono::Utc;
use seliq_sla::{
    Analyst, Assignment, Calendar, Model, Overrides, Policy, Queue, Severity, Target, Template,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::slug::Slug;
use crate::store::ReadTx;
use crate::workspaces;

/// One workspace's own terms. Every field defaults, so a workspace without a row follows the
/// template on the default calendar with no assignment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePolicy {
    #[serde(default)]
    pub overrides: Overrides,
    #[serde(default)]
    pub calendar: Calendar,
    #[serde(default)]
    pub assignment: Option<Assignment>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("stored {what} is invalid: {e}"))
}

/// The template in force and the version that set it (0: the built-in baseline).
pub fn template(tx: &ReadTx<'_>) -> Result<(i64, Template)> {
    match tx.latest_sla_template()? {
        Some(row) => Ok((
            row.version,
            serde_json::from_str(&row.body).map_err(|e| corrupt("SLA template", e))?,
        )),
        None => Ok((0, Template::baseline())),
    }
}

/// A workspace's own terms and their version (0: none set).
pub fn own(tx: &ReadTx<'_>, workspace: WorkspaceId) -> Result<(i64, WorkspacePolicy)> {
    match tx.latest_sla_policy(workspace)? {
        Some(row) => Ok((
            row.version,
            serde_json::from_str(&row.body).map_err(|e| corrupt("SLA policy", e))?,
        )),
        None => Ok((0, WorkspacePolicy::default())),
    }
}

/// The policy that stamps a workspace's alerts: the template with the workspace's overrides on
/// top. Its version is the newer of the two, so a stamp names the change that produced it.
pub fn effective(tx: &ReadTx<'_>, workspace: WorkspaceId) -> Result<Policy> {
    let (tv, template) = template(tx)?;
    let (wv, own) = own(tx, workspace)?;
    Ok(Policy {
        version: tv.max(wv),
        targets: own.overrides.effective(&template),
        calendar: own.calendar,
        assignment: own.assignment,
    })
}

fn to_json(v: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Runtime(e.to_string()))
}

/// Change one workspace's terms with `change`; a new version and an audit entry (`action`,
/// old and new values) when anything changed. Returns the new version, or `None` when the change
/// left the terms as they were (nothing is written).
pub fn change_workspace(
    app: &mut App,
    slug: &Slug,
    action: Action,
    change: impl FnOnce(&mut WorkspacePolicy) -> Result<()>,
) -> Result<Option<i64>> {
    let who = app.who().clone();
    app.store().write(|tx| {
        let ws = workspaces::require(tx, slug)?;
        let (_, old) = own(tx, ws.id)?;
        let mut new = old.clone();
        change(&mut new)?;
        if new == old {
            return Ok(None);
        }
        let body = serde_json::to_string(&new).map_err(|e| Error::Runtime(e.to_string()))?;
        let version = tx.insert_sla_policy(Some(ws.id), &body, &who.actor, Utc::now())?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(action, slug.as_str(), Outcome::Success).details(json!({
                "policy_version": version,
                "old": to_json(&old)?,
                "new": to_json(&new)?,
            })),
        )?;
        Ok(Some(version))
    })
}

/// Change the gateway-wide template. Audited in the gateway chain and in every live workspace's
/// chain (each one's effective policy changed), with old and new values.
pub fn change_template(
    app: &mut App,
    change: impl FnOnce(&mut Template) -> Result<()>,
) -> Result<Option<i64>> {
    let who = app.who().clone();
    app.store().write(|tx| {
        let (_, old) = template(tx)?;
        let mut new = old.clone();
        change(&mut new)?;
        if new == old {
            return Ok(None);
        }
        let body = serde_json::to_string(&new).map_err(|e| Error::Runtime(e.to_string()))?;
        let version = tx.insert_sla_policy(None, &body, &who.actor, Utc::now())?;
        let details =
            json!({"policy_version": version, "old": to_json(&old)?, "new": to_json(&new)?});
        let mut chains = vec![audit::gateway::ensure(tx)?];
        chains.extend(tx.list_workspaces(false)?.into_iter().map(|w| w.id));
        for id in chains {
            audit::append(
                tx,
                id,
                &who,
                Event::new(Action::SlaTemplateChanged, "sla-template", Outcome::Success)
                    .details(details.clone()),
            )?;
        }
        Ok(Some(version))
    })
}

/// For `sla show`: the template, the workspace's own terms and the effective policy.
pub fn show(app: &mut App, slug: &Slug) -> Result<(WorkspacePolicy, Policy)> {
    app.store().read(|tx| {
        let ws = workspaces::require(tx, slug)?;
        let (_, own) = own(tx, ws.id)?;
        Ok((own, effective(tx, ws.id)?))
    })
}

pub fn show_template(app: &mut App) -> Result<(i64, Template)> {
    app.store().read(template)
}

/// Set (or, with `None`, leave) the template's targets for one severity.
pub fn set_template_targets(
    app: &mut App,
    severity: Severity,
    tta: Option<Target>,
    ttr: Option<Target>,
) -> Result<Option<i64>> {
    change_template(app, |tpl| {
        tpl.set(severity, tta, ttr);
        Ok(())
    })
}

/// Override a workspace's targets for one severity; a field given as `None` keeps inheriting.
pub fn set_workspace_targets(
    app: &mut App,
    slug: &Slug,
    severity: Severity,
    tta: Option<Target>,
    ttr: Option<Target>,
) -> Result<Option<i64>> {
    change_workspace(app, slug, Action::SlaPolicyChanged, |p| {
        p.overrides.set(severity, tta, ttr);
        Ok(())
    })
}

/// Drop a workspace's overrides of one severity (or of all): it follows the template again.
pub fn reset_workspace_targets(
    app: &mut App,
    slug: &Slug,
    severity: Option<Severity>,
) -> Result<Option<i64>> {
    change_workspace(app, slug, Action::SlaPolicyChanged, |p| {
        match severity {
            Some(s) => p.overrides.clear(s),
            None => p.overrides = Default::default(),
        }
        Ok(())
    })
}

/// Replace a workspace's business calendar.
pub fn set_calendar(app: &mut App, slug: &Slug, calendar: Calendar) -> Result<Option<i64>> {
    change_workspace(app, slug, Action::CalendarChanged, |p| {
        p.calendar = calendar;
        Ok(())
    })
}

/// Replace a workspace's assignment model (validated when it was built).
pub fn set_assignment(app: &mut App, slug: &Slug, assignment: Assignment) -> Result<Option<i64>> {
    change_workspace(app, slug, Action::AssignmentChanged, |p| {
        p.assignment = Some(assignment);
        Ok(())
    })
}

/// An assignment as an operator states it, before validation: the flags of `assignment set`
/// and the body of `PUT …/assignment` (the API also answers in this shape, so what a GET
/// returns can be PUT back).
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// `dedicated`, `pool` or `tiered`.
    #[arg(long, value_parser = ["dedicated", "pool", "tiered"])]
    pub model: String,
    /// Dedicated: one or two analysts (email or handle).
    #[serde(default)]
    #[arg(long = "analyst", value_name = "ANALYST")]
    pub analysts: Vec<String>,
    /// Pool: the queue.
    #[serde(default)]
    #[arg(long)]
    pub queue: Option<String>,
    /// Tiered: the analyst who owns the client.
    #[serde(default)]
    #[arg(long)]
    pub primary: Option<String>,
    /// Tiered: the queue that joins after hours and/or at peak.
    #[serde(default)]
    #[arg(long)]
    pub secondary: Option<String>,
    /// Tiered: the secondary joins outside business hours.
    #[serde(default)]
    #[arg(long)]
    pub after_hours: bool,
    /// Tiered: the secondary joins when more than N alerts arrived in the last hour.
    #[serde(default)]
    #[arg(long, value_name = "N")]
    pub peak_over: Option<u32>,
    /// Who is accountable when it goes wrong (email or handle); required.
    #[arg(long)]
    pub escalation_owner: String,
}

impl From<&Assignment> for AssignmentSpec {
    fn from(a: &Assignment) -> AssignmentSpec {
        let mut spec = AssignmentSpec {
            model: a.model.name().to_owned(),
            escalation_owner: a.escalation_owner.to_string(),
            ..Default::default()
        };
        match &a.model {
            Model::Dedicated { analysts } => {
                spec.analysts = analysts.iter().map(|x| x.to_string()).collect();
            }
            Model::Pool { queue } => spec.queue = Some(queue.to_string()),
            Model::Tiered {
                primary,
                secondary,
                after_hours,
                peak_over,
            } => {
                spec.primary = Some(primary.to_string());
                spec.secondary = Some(secondary.to_string());
                spec.after_hours = *after_hours;
                spec.peak_over = *peak_over;
            }
        }
        spec
    }
}

/// Why an [`AssignmentSpec`] is refused: the field at fault (as `AssignmentSpec` names it) and
/// one sentence. The caller spells the field as its user knows it (`--escalation-owner` on the
/// command line, `escalation_owner` in the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: &'static str,
    pub detail: String,
}

impl AssignmentSpec {
    /// Validate into an [`Assignment`].
    pub fn build(&self) -> std::result::Result<Assignment, SpecError> {
        let bad = |field: &'static str, e: &dyn std::fmt::Display| SpecError {
            field,
            detail: e.to_string(),
        };
        let analyst = |field, s: &str| s.parse::<Analyst>().map_err(|e| bad(field, &e));
        let required = |field, v: &Option<String>| {
            v.clone().ok_or_else(|| SpecError {
                field,
                detail: format!("required for the {} model", self.model),
            })
        };
        let queue = |field, v: &Option<String>| {
            required(field, v)?
                .parse::<Queue>()
                .map_err(|e| bad(field, &e))
        };
        let model = match self.model.as_str() {
            "dedicated" => Model::Dedicated {
                analysts: self
                    .analysts
                    .iter()
                    .map(|a| analyst("analysts", a))
                    .collect::<std::result::Result<_, _>>()?,
            },
            "pool" => Model::Pool {
                queue: queue("queue", &self.queue)?,
            },
            "tiered" => Model::Tiered {
                primary: analyst("primary", &required("primary", &self.primary)?)?,
                secondary: queue("secondary", &self.secondary)?,
                after_hours: self.after_hours,
                peak_over: self.peak_over,
            },
            other => {
                return Err(bad(
                    "model",
                    &format!("{other:?} is not a model; use dedicated, pool or tiered"),
                ));
            }
        };
        let owner = analyst("escalation_owner", &self.escalation_owner)?;
        Assignment::new(model, owner).map_err(|e| bad("model", &e))
    }
}
