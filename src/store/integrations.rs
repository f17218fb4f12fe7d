//! Integrations and their source bindings.

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};
use seliq_connectors::{Kind, Settings, SourceId};

use super::{ReadTx, Result, StoreError, WriteTx, corrupt, unique_or};
use crate::ids::{IntegrationId, WorkspaceId};
use crate::slug::IntegrationName;

#[derive(Debug, Clone)]
pub struct IntegrationRow {
    pub id: IntegrationId,
    pub workspace_id: WorkspaceId,
    pub name: IntegrationName,
    pub kind: Kind,
    pub settings: Settings,
    /// Canonical source identity.
    pub source: String,
    pub first_window_secs: u64,
    /// How often `serve` polls it.
    pub poll_interval_secs: u64,
    pub created_at: DateTime<Utc>,
}

/// A bound source, with the workspace that holds it.
#[derive(Debug, Clone)]
pub struct BindingRow {
    pub source: SourceId,
    pub workspace_id: WorkspaceId,
    pub integration_id: IntegrationId,
    /// The Splunk server GUID read when the source was bound, if it could be read.
    pub server_guid: Option<String>,
}

const COLUMNS: &str = "id, workspace_id, name, kind, settings, source, first_window_secs, created_at, poll_interval_secs";

fn from_row(r: &Row<'_>) -> DbResult<IntegrationRow> {
    let id: String = r.get(0)?;
    let ws: String = r.get(1)?;
    let name: String = r.get(2)?;
    let settings: String = r.get(4)?;
    let settings: Settings =
        serde_json::from_str(&settings).map_err(|e| corrupt("integration settings", e))?;
    Ok(IntegrationRow {
        id: IntegrationId::parse(&id).map_err(|e| corrupt("integration id", e))?,
        workspace_id: WorkspaceId::parse(&ws).map_err(|e| corrupt("workspace id", e))?,
        name: IntegrationName::parse(&name).map_err(|e| corrupt("integration name", e))?,
        kind: settings.kind(),
        settings,
        source: r.get(5)?,
        // A negative value (hand-edited) reads as u64::MAX and is refused where it is used.
        first_window_secs: u64::try_from(r.get::<i64>(6)?).unwrap_or(u64::MAX),
        created_at: r.get(7)?,
        poll_interval_secs: u64::try_from(r.get::<i64>(8)?).unwrap_or(u64::MAX),
    })
}

impl ReadTx<'_> {
    pub fn integration_by_name(
        &self,
        workspace_id: WorkspaceId,
        name: &IntegrationName,
    ) -> Result<Option<IntegrationRow>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM integrations WHERE workspace_id = ?1 AND name = ?2"
                ),
                args![workspace_id.to_string(), name.as_str()],
                from_row,
            )
            .optional()?)
    }

    pub fn integrations(&self, workspace_id: WorkspaceId) -> Result<Vec<IntegrationRow>> {
        Ok(self.tx.query_map(
            &format!("SELECT {COLUMNS} FROM integrations WHERE workspace_id = ?1 ORDER BY name"),
            args![workspace_id.to_string()],
            from_row,
        )?)
    }

    /// Every integration of every workspace (the scheduler's reload: one query, not one per
    /// workspace).
    pub fn all_integrations(&self) -> Result<Vec<IntegrationRow>> {
        Ok(self.tx.query_map(
            &format!("SELECT {COLUMNS} FROM integrations ORDER BY workspace_id, name"),
            &[],
            from_row,
        )?)
    }

    /// Whether the integration still exists (not removed, its workspace not deleted).
    pub fn integration_exists(&self, id: IntegrationId) -> Result<bool> {
        Ok(self
            .tx
            .query_row(
                "SELECT 1 FROM integrations WHERE id = ?1",
                args![id.to_string()],
                |r| r.get::<i64>(0),
            )
            .optional()?
            .is_some())
    }

    /// Bound sources that share `key` (see `SourceId::binding_key`).
    pub fn bindings_with_key(&self, key: &str) -> Result<Vec<BindingRow>> {
        self.bindings_where("binding_key = ?1", key)
    }

    /// Bindings on the Splunk server with this GUID, whatever URL spelled it.
    pub fn bindings_with_server_guid(&self, guid: &str) -> Result<Vec<BindingRow>> {
        self.bindings_where("server_guid = ?1", guid)
    }

    /// The binding an integration holds.
    pub fn binding_of(&self, integration_id: IntegrationId) -> Result<Option<BindingRow>> {
        Ok(self
            .bindings_where("integration_id = ?1", &integration_id.to_string())?
            .pop())
    }

    fn bindings_where(&self, clause: &str, value: &str) -> Result<Vec<BindingRow>> {
        Ok(self.tx.query_map(&format!(
            "SELECT source_json, workspace_id, integration_id, server_guid FROM bindings WHERE {clause}"
        ), args![value], |r| {
            let json: String = r.get(0)?;
            let ws: String = r.get(1)?;
            let integ: String = r.get(2)?;
            Ok(BindingRow {
                source: serde_json::from_str(&json).map_err(|e| corrupt("binding source", e))?,
                workspace_id: WorkspaceId::parse(&ws).map_err(|e| corrupt("workspace id", e))?,
                integration_id: IntegrationId::parse(&integ)
                    .map_err(|e| corrupt("integration id", e))?,
                server_guid: r.get(3)?,
            })
        })?)
    }
}

impl WriteTx<'_> {
    pub fn insert_integration(&self, i: &IntegrationRow) -> Result<()> {
        let settings = serde_json::to_string(&i.settings)
            .map_err(|e| StoreError::Corrupt(format!("settings do not encode: {e}")))?;
        self.tx
            .execute(
                "INSERT INTO integrations (id, workspace_id, name, kind, settings, source, first_window_secs, created_at, poll_interval_secs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                args![i.id.to_string(), i.workspace_id.to_string(), i.name.as_str(), i.kind.as_str(), settings, i.source, i.first_window_secs as i64, i.created_at, i64::try_from(i.poll_interval_secs).unwrap_or(i64::MAX)],
            )
            .map_err(|e| unique_or(e, || format!("an integration named {:?} already exists in this workspace", i.name.as_str())))?;
        Ok(())
    }

    pub fn update_integration_settings(
        &self,
        id: IntegrationId,
        settings: &Settings,
    ) -> Result<()> {
        let settings = serde_json::to_string(settings)
            .map_err(|e| StoreError::Corrupt(format!("settings do not encode: {e}")))?;
        self.tx.execute(
            "UPDATE integrations SET settings = ?2 WHERE id = ?1",
            args![id.to_string(), settings],
        )?;
        Ok(())
    }

    /// Deletes the integration; its credentials, binding and checkpoint go with it (cascade).
    pub fn delete_integration(&self, id: IntegrationId) -> Result<()> {
        self.tx.execute(
            "DELETE FROM integrations WHERE id = ?1",
            args![id.to_string()],
        )?;
        Ok(())
    }

    pub fn delete_integrations_of(&self, workspace_id: WorkspaceId) -> Result<usize> {
        Ok(self.tx.execute(
            "DELETE FROM integrations WHERE workspace_id = ?1",
            args![workspace_id.to_string()],
        )?)
    }

    /// Claim a source. The primary key refuses an exact duplicate even if a caller skipped the
    /// overlap check; `Conflict` then names nothing secret.
    pub fn insert_binding(
        &self,
        source: &SourceId,
        workspace_id: WorkspaceId,
        integration_id: IntegrationId,
        server_guid: Option<&str>,
    ) -> Result<()> {
        let json = serde_json::to_string(source)
            .map_err(|e| StoreError::Corrupt(format!("source does not encode: {e}")))?;
        let canonical = source.canonical();
        self.tx
            .execute(
                "INSERT INTO bindings (source, binding_key, source_json, workspace_id, integration_id, server_guid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![canonical, source.binding_key(), json, workspace_id.to_string(), integration_id.to_string(), server_guid],
            )
            .map_err(|e| unique_or(e, || format!("source {canonical} is already bound")))?;
        Ok(())
    }
}
