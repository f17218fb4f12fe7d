//! The gateway-level audit chain: changes that belong to no one workspace (all-workspaces API
//! tokens). It is an ordinary chain on a reserved workspace row, so `append`, checkpoints,
//! `audit verify`, `audit export`, pruning and master-key rotation treat it like any other:
//!
//! - id [`GATEWAY_CHAIN_ID`] (fixed), slug [`GATEWAY_CHAIN_SLUG`] (refused by `workspace
//!   create`), plan `enterprise` (the longest retention);
//! - created on first use, and tombstoned at birth: it never appears among live workspaces
//!   (`workspace list`, `status`, `pull`, `serve`), has no data key and can hold no integration,
//!   while `audit verify seliq-gateway` and `audit export seliq-gateway` find it like the chain
//!   of a deleted workspace.

use chrono::Utc;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::slug::Slug;
use crate::store::{Plan, WorkspaceRow, WriteTx};

/// The reserved slug of the gateway-level chain.
pub const GATEWAY_CHAIN_SLUG: &str = "seliq-gateway";
/// The reserved id of the gateway-level chain's row (its genesis hash commits to it).
pub const GATEWAY_CHAIN_ID: WorkspaceId =
    WorkspaceId::from_uuid(Uuid::from_u128(0x5e11_9a7e_0000_4000_8000_0000_0000_0001));

pub fn is_reserved(slug: &Slug) -> bool {
    slug.as_str() == GATEWAY_CHAIN_SLUG
}

/// The gateway chain's id, creating its reserved row inside the caller's write transaction on
/// first use.
pub fn ensure(tx: &WriteTx<'_>) -> Result<WorkspaceId> {
    if tx.workspace_by_id(GATEWAY_CHAIN_ID)?.is_some() {
        return Ok(GATEWAY_CHAIN_ID);
    }
    let slug = Slug::parse(GATEWAY_CHAIN_SLUG)?;
    if tx.workspace_by_slug_any(&slug)?.is_some() {
        return Err(Error::Conflict(format!(
            "a workspace named {GATEWAY_CHAIN_SLUG} exists, but that slug is reserved for the gateway-level audit chain; all-workspaces tokens cannot be recorded"
        )));
    }
    let now = Utc::now();
    tx.insert_workspace(&WorkspaceRow {
        id: GATEWAY_CHAIN_ID,
        slug,
        description: "gateway-level audit chain (all-workspaces API tokens)".to_owned(),
        plan: Plan::Enterprise,
        created_at: now,
        deleted_at: None,
    })?;
    tx.tombstone_workspace(GATEWAY_CHAIN_ID, now)?;
    Ok(GATEWAY_CHAIN_ID)
}
