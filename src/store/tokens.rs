//! API token rows. Only the HMAC of a token's secret is stored (see `crate::api::tokens`).

use std::fmt;
use std::str::FromStr;

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{ReadTx, Result, StoreError, WriteTx, corrupt, unique_or};
use crate::ids::WorkspaceId;

/// What a token may do. Each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// list, show, status, audit export and verify.
    Read,
    /// also test and resume integrations.
    Operate,
    /// also create and delete workspaces (all-workspaces tokens only), add and remove
    /// integrations, rotate and roll back credentials.
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Operate => "operate",
            TokenScope::Admin => "admin",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TokenScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(TokenScope::Read),
            "operate" => Ok(TokenScope::Operate),
            "admin" => Ok(TokenScope::Admin),
            other => Err(format!(
                "scope {other:?} is unknown; use read, operate or admin"
            )),
        }
    }
}

/// One stored token. `secret_mac` is HMAC-SHA256 (hex) of the secret; never the secret itself.
#[derive(Clone, Serialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    /// `None`: every workspace.
    pub workspace_id: Option<WorkspaceId>,
    pub scope: TokenScope,
    #[serde(skip)]
    pub secret_mac: String,
    /// The master key the HMAC key was derived from.
    pub kek_id: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("workspace_id", &self.workspace_id)
            .field("scope", &self.scope)
            .field("secret_mac", &"[REDACTED]")
            .field("kek_id", &self.kek_id)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, name, workspace_id, scope, secret_mac, kek_id, created_at, created_by, expires_at, revoked_at";

fn from_row(r: &Row<'_>) -> DbResult<TokenRow> {
    let ws: Option<String> = r.get(2)?;
    let scope: String = r.get(3)?;
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        workspace_id: ws
            .map(|w| WorkspaceId::parse(&w).map_err(|e| corrupt("token workspace id", e)))
            .transpose()?,
        scope: scope
            .parse()
            .map_err(|e: String| corrupt("token scope", e))?,
        secret_mac: r.get(4)?,
        kek_id: r.get(5)?,
        created_at: r.get(6)?,
        created_by: r.get(7)?,
        expires_at: r.get(8)?,
        revoked_at: r.get(9)?,
    })
}

impl ReadTx<'_> {
    pub fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
                args![id],
                from_row,
            )
            .optional()?)
    }

    /// Every token (`None`), or those scoped to one workspace, oldest first.
    pub fn tokens(&self, workspace_id: Option<WorkspaceId>) -> Result<Vec<TokenRow>> {
        Ok(self.tx.query_map(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY created_at, id"
        ), args![workspace_id.map(|w| w.to_string())], from_row)?)
    }
}

impl WriteTx<'_> {
    pub fn insert_token(&self, t: &TokenRow) -> Result<()> {
        self.tx
            .execute(
                &format!("INSERT INTO api_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                args![
                    t.id,
                    t.name,
                    t.workspace_id.map(|w| w.to_string()),
                    t.scope.as_str(),
                    t.secret_mac,
                    t.kek_id,
                    t.created_at,
                    t.created_by,
                    t.expires_at,
                    t.revoked_at
                ],
            )
            .map_err(|e| unique_or(e, || format!("token id {} is already taken", t.id)))?;
        Ok(())
    }

    pub fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        let n = self.tx.execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            args![id, at],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "token {id} is already revoked"
            )));
        }
        Ok(())
    }
}
