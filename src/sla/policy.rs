//! Policies as the store keeps them: the gateway-wide template and each workspace's overrides,
//! calendar and assignment, one append-only version per change, each change audited with its
//! old and new values.

use chrono::Utc;
use seliq_sla::{Assignment, Calendar, Overrides, Policy, Template};
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
    let who = app.who.clone();
    app.store.write(|tx| {
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
    let who = app.who.clone();
    app.store.write(|tx| {
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
    app.store.read(|tx| {
        let ws = workspaces::require(tx, slug)?;
        let (_, own) = own(tx, ws.id)?;
        Ok((own, effective(tx, ws.id)?))
    })
}

pub fn show_template(app: &mut App) -> Result<(i64, Template)> {
    app.store.read(template)
}
