//! Workspace rows.

use std::fmt;
use std::str::FromStr;

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ReadTx, Result, StoreError, WriteTx, corrupt, unique_or};
use crate::ids::WorkspaceId;
use crate::slug::Slug;

/// The plan tier sets the audit retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Starter,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starter" => Ok(Plan::Starter),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(format!(
                "plan {other:?} is unknown; use starter, pro or enterprise"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceRow {
    pub id: WorkspaceId,
    pub slug: Slug,
    pub description: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A workspace found live (not deleted) inside the current transaction. Only this module makes
/// one, and the vault hands out a workspace's key handle only for one: there is no path from a
/// bare workspace id to a data key.
#[derive(Debug, Clone)]
pub struct LiveWorkspace(WorkspaceRow);

impl LiveWorkspace {
    pub fn into_row(self) -> WorkspaceRow {
        self.0
    }
}

impl std::ops::Deref for LiveWorkspace {
    type Target = WorkspaceRow;

    fn deref(&self) -> &WorkspaceRow {
        &self.0
    }
}

const COLUMNS: &str = "id, slug, description, plan, created_at, deleted_at";

fn from_row(r: &Row<'_>) -> DbResult<WorkspaceRow> {
    let id: String = r.get(0)?;
    let slug: String = r.get(1)?;
    let plan: String = r.get(3)?;
    Ok(WorkspaceRow {
        id: WorkspaceId::parse(&id).map_err(|e| corrupt("workspace id", e))?,
        slug: Slug::parse(&slug).map_err(|e| corrupt("workspace slug", e))?,
        description: r.get(2)?,
        plan: plan.parse().map_err(|e: String| corrupt("plan", e))?,
        created_at: r.get(4)?,
        deleted_at: r.get(5)?,
    })
}

impl ReadTx<'_> {
    /// Any workspace with this slug, tombstoned ones included.
    pub fn workspace_by_slug_any(&self, slug: &Slug) -> Result<Option<WorkspaceRow>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM workspaces WHERE slug = ?1"),
                args![slug.as_str()],
                from_row,
            )
            .optional()?)
    }

    /// The live workspace with this slug.
    pub fn workspace_by_slug(&self, slug: &Slug) -> Result<Option<LiveWorkspace>> {
        Ok(self
            .workspace_by_slug_any(slug)?
            .filter(|w| w.deleted_at.is_none())
            .map(LiveWorkspace))
    }

    /// The live workspace with this id.
    pub fn live_workspace(&self, id: WorkspaceId) -> Result<Option<LiveWorkspace>> {
        Ok(self
            .workspace_by_id(id)?
            .filter(|w| w.deleted_at.is_none())
            .map(LiveWorkspace))
    }

    pub fn workspace_by_id(&self, id: WorkspaceId) -> Result<Option<WorkspaceRow>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1"),
                args![id.to_string()],
                from_row,
            )
            .optional()?)
    }

    pub fn list_workspaces(&self, include_deleted: bool) -> Result<Vec<WorkspaceRow>> {
        Ok(self.tx.query_map(
            &format!(
                "SELECT {COLUMNS} FROM workspaces WHERE ?1 OR deleted_at IS NULL ORDER BY slug"
            ),
            args![include_deleted],
            from_row,
        )?)
    }
}

impl WriteTx<'_> {
    pub fn insert_workspace(&self, w: &WorkspaceRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO workspaces (id, slug, description, plan, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![w.id.to_string(), w.slug.as_str(), w.description, w.plan.as_str(), w.created_at],
            )
            .map_err(|e| unique_or(e, || format!("workspace slug {:?} is already taken", w.slug.as_str())))?;
        Ok(())
    }

    pub fn tombstone_workspace(&self, id: WorkspaceId, at: DateTime<Utc>) -> Result<()> {
        let n = self.tx.execute(
            "UPDATE workspaces SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            args![id.to_string(), at],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "workspace {id} is already deleted"
            )));
        }
        Ok(())
    }
}
