//! Workspace lifecycle: create (with its data key), list, show, delete (crypto-shredding).

use chrono::Utc;
use serde_json::json;

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::slug::Slug;
use crate::store::{LiveWorkspace, Plan, ReadTx, WorkspaceRow};

/// The description holds a client's contract SLA terms: free text, bounded.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

pub fn create(app: &mut App, slug: &Slug, description: &str, plan: Plan) -> Result<WorkspaceRow> {
    if audit::gateway::is_reserved(slug) {
        return Err(Error::Conflict(format!(
            "workspace slug {slug} is reserved for the gateway-level audit chain"
        )));
    }
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::Invalid(format!(
            "description of workspace {slug} is {} bytes; the limit is {MAX_DESCRIPTION_BYTES} bytes",
            description.len()
        )));
    }
    let row = WorkspaceRow {
        id: WorkspaceId::new(),
        slug: slug.clone(),
        description: description.to_owned(),
        plan,
        created_at: Utc::now(),
        deleted_at: None,
    };
    let vault = app.vault().clone();
    let who = app.who().clone();
    app.store().write(|tx| {
        if let Some(existing) = tx.workspace_by_slug_any(slug)? {
            return Err(Error::Conflict(match existing.deleted_at {
                None => format!("workspace slug {slug} is already taken"),
                Some(_) => format!(
                    "workspace slug {slug} belonged to a deleted workspace; slugs are never reused, because its audit log is still exported by that slug"
                ),
            }));
        }
        tx.insert_workspace(&row)?;
        vault.init_workspace(tx, row.id)?;
        audit::append(
            tx,
            row.id,
            &who,
            Event::new(Action::WorkspaceCreated, slug.as_str(), Outcome::Success).details(json!({
                "workspace_id": row.id,
                "plan": plan,
                "description": description,
            })),
        )?;
        Ok(())
    })?;
    Ok(row)
}

/// The live workspace with this slug, or exit 4 naming it.
pub fn require(tx: &ReadTx<'_>, slug: &Slug) -> Result<LiveWorkspace> {
    tx.workspace_by_slug(slug)?
        .ok_or_else(|| Error::NotFound(format!("workspace {slug} does not exist")))
}

pub fn list(app: &mut App) -> Result<Vec<WorkspaceRow>> {
    app.store().read(|tx| Ok(tx.list_workspaces(false)?))
}

pub fn show(app: &mut App, slug: &Slug) -> Result<WorkspaceRow> {
    app.store()
        .read(|tx| require(tx, slug).map(LiveWorkspace::into_row))
}

/// Delete a workspace: its integrations, bindings, checkpoints and credential rows go, its data
/// keys are destroyed (so any copy of a blob is unreadable forever), and the row is tombstoned so
/// the audit chain and the slug survive. One transaction.
pub fn delete(app: &mut App, slug: &Slug, confirm: &str) -> Result<()> {
    if confirm != slug.as_str() {
        return Err(Error::Invalid(format!(
            "refusing to delete workspace {slug}: --confirm {confirm:?} does not match; pass --confirm {slug}"
        )));
    }
    let vault = app.vault().clone();
    let who = app.who().clone();
    app.store().write(|tx| {
        let ws = require(tx, slug)?;
        let integrations = tx.integrations(ws.id)?;
        for i in &integrations {
            audit::append(
                tx,
                ws.id,
                &who,
                Event::new(
                    Action::IntegrationDisconnected,
                    i.name.as_str(),
                    Outcome::Success,
                )
                .details(json!({"source": i.source, "reason": "workspace deleted"})),
            )?;
        }
        tx.delete_integrations_of(ws.id)?;
        vault.shred_workspace(tx, ws.id)?;
        tx.tombstone_workspace(ws.id, Utc::now())?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::WorkspaceDeleted, slug.as_str(), Outcome::Success).details(
                json!({"integrations_removed": integrations.len(), "data_keys": "destroyed"}),
            ),
        )?;
        Ok(())
    })
}
