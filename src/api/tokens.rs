//! API tokens: `slq_<id>_<secret>_<check>`.
//!
//! - `id`: 12 lowercase hex characters (48 random bits), the lookup key, shown by `token list`
//!   and named in audit entries (`token:<id>(<name>)`).
//! - `secret`: 64 lowercase hex characters (256 random bits), shown once at creation.
//! - `check`: the first 8 hex characters of SHA-256 of `slq_<id>_<secret>`, so a secret scanner
//!   can tell a real token from a look-alike without asking the gateway.
//!
//! The store keeps only HMAC-SHA256 of the secret under a key derived from the master key
//! (purpose [`HMAC_PURPOSE`]) plus the id of that master key. A master-key rotation therefore
//! retires every token (they are refused with that reason): create new ones afterwards.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::slug::Slug;
use crate::store::{ReadTx, TokenRow, TokenScope, WriteTx};
use crate::vault::Vault;
use crate::workspaces;

pub const TOKEN_PREFIX: &str = "slq_";
/// HKDF info of the token HMAC key (`MasterKey::derive_key`).
pub const HMAC_PURPOSE: &[u8] = b"seliq.api-token.hmac.v1";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;
const CHECK_HEX: usize = 8;
pub const MAX_NAME_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Who a token is for.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// `None`: every workspace.
    pub workspace: Option<Slug>,
    pub scope: TokenScope,
    pub name: String,
    pub expires_in: Option<Duration>,
}

/// A created token: the row and the token text, which exists nowhere else.
pub struct Created {
    pub row: TokenRow,
    pub token: SecretString,
}

/// A token row with its workspace's slug, for listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub row: TokenRow,
    /// `None`: every workspace.
    pub workspace: Option<String>,
}

/// Names go into audit actors (`token:<id>(<name>)`): printable, no parentheses.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::Invalid(format!(
            "token name {name:?} must be 1 to {MAX_NAME_LEN} bytes long"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '@' | ':')))
    {
        return Err(Error::Invalid(format!(
            "token name {name:?} contains {c:?}; use letters, digits, spaces and - _ . @ :"
        )));
    }
    Ok(())
}

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..CHECK_HEX / 2])
}

fn mac_key(vault: &Vault) -> HmacSha256 {
    let key = vault.master().derive_key(HMAC_PURPOSE);
    HmacSha256::new_from_slice(key.as_ref()).expect("HMAC accepts keys of any length")
}

fn secret_mac(vault: &Vault, secret: &str) -> String {
    let mut mac = mac_key(vault);
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The parts of a well-formed token text, or `None` (wrong shape or checksum).
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let mut parts = rest.split('_');
    let (id, secret, check) = (parts.next()?, parts.next()?, parts.next()?);
    let hex_of = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if parts.next().is_some()
        || !hex_of(id, ID_HEX)
        || !hex_of(secret, SECRET_HEX)
        || !hex_of(check, CHECK_HEX)
    {
        return None;
    }
    let body = &text[..TOKEN_PREFIX.len() + ID_HEX + 1 + SECRET_HEX];
    (checksum(body) == check).then_some((id, secret))
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let buf: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    hex::encode(buf)
}

/// Where a token's create/revoke is audited: its workspace, or the gateway-level chain.
fn chain_of(tx: &WriteTx<'_>, workspace_id: Option<WorkspaceId>) -> Result<WorkspaceId> {
    match workspace_id {
        Some(id) => Ok(id),
        None => audit::gateway::ensure(tx),
    }
}

pub fn create(app: &mut App, req: &NewToken) -> Result<Created> {
    check_name(&req.name)?;
    let expires_in = req
        .expires_in
        .map(|d| crate::timespec::check_span("--expires-in", d))
        .transpose()?;
    let id = random_hex(ID_HEX / 2);
    let secret = zeroize::Zeroizing::new(random_hex(SECRET_HEX / 2));
    let body = format!("{TOKEN_PREFIX}{id}_{}", secret.as_str());
    let token = SecretString::from(format!("{body}_{}", checksum(&body)));
    drop(body);
    let vault = app.vault().clone();
    let who = app.who().clone();
    let now = Utc::now();
    let row = app.store().write(|tx| {
        let workspace_id = match &req.workspace {
            Some(slug) => Some(workspaces::require(tx, slug)?.id),
            None => None,
        };
        let row = TokenRow {
            id: id.clone(),
            name: req.name.clone(),
            workspace_id,
            scope: req.scope,
            secret_mac: secret_mac(&vault, &secret),
            kek_id: vault.master().id().to_owned(),
            created_at: now,
            created_by: who.actor.clone(),
            expires_at: expires_in.map(|d| now + chrono::Duration::seconds(d.as_secs() as i64)),
            revoked_at: None,
        };
        tx.insert_token(&row)?;
        let chain = chain_of(tx, workspace_id)?;
        audit::append(
            tx,
            chain,
            &who,
            Event::new(Action::TokenCreated, row.id.as_str(), Outcome::Success).details(json!({
                "token_id": row.id,
                "name": row.name,
                "scope": row.scope,
                "workspace": req.workspace.as_ref().map(Slug::as_str),
                "all_workspaces": workspace_id.is_none(),
                "expires_at": row.expires_at.map(|t| t.to_rfc3339()),
            })),
        )?;
        Ok::<_, Error>(row)
    })?;
    Ok(Created { row, token })
}

pub fn list(app: &mut App, workspace: Option<&Slug>) -> Result<Vec<Listed>> {
    app.store().read(|tx| {
        let only = match workspace {
            Some(slug) => Some(workspaces::require(tx, slug)?.id),
            None => None,
        };
        let mut out = Vec::new();
        for row in tx.tokens(only)? {
            let workspace = match row.workspace_id {
                Some(id) => Some(
                    tx.workspace_by_id(id)?
                        .map_or_else(|| id.to_string(), |w| w.slug.to_string()),
                ),
                None => None,
            };
            out.push(Listed { row, workspace });
        }
        Ok(out)
    })
}

pub fn revoke(app: &mut App, id: &str) -> Result<TokenRow> {
    let who = app.who().clone();
    let now = Utc::now();
    app.store().write(|tx| {
        let row = tx
            .token(id)?
            .ok_or_else(|| Error::NotFound(format!("token {id:?} does not exist")))?;
        if row.revoked_at.is_some() {
            return Err(Error::Conflict(format!("token {id} is already revoked")));
        }
        tx.revoke_token(id, now)?;
        let chain = chain_of(tx, row.workspace_id)?;
        audit::append(
            tx,
            chain,
            &who,
            Event::new(Action::TokenRevoked, row.id.as_str(), Outcome::Success).details(json!({
                "token_id": row.id,
                "name": row.name,
                "scope": row.scope,
            })),
        )?;
        Ok(TokenRow {
            revoked_at: Some(now),
            ..row
        })
    })
}

/// Why a presented token is refused. Every case answers 401; the reason is for the log only
/// (the response says no more than "invalid token", so ids cannot be probed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Unknown,
    BadSecret,
    Revoked,
    Expired,
    StaleMasterKey,
    WorkspaceDeleted,
}

/// An authenticated token and the workspace it is confined to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub row: TokenRow,
    /// `None`: every workspace.
    pub workspace: Option<crate::store::WorkspaceRow>,
}

/// Check a presented token inside a read transaction: shape and checksum, lookup by id, the
/// master key its HMAC key came from, constant-time HMAC comparison, then revocation, expiry and
/// its workspace.
pub fn authenticate(
    tx: &ReadTx<'_>,
    vault: &Vault,
    presented: &SecretString,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Authenticated, Refused>> {
    let Some((id, secret)) = parse(presented.expose_secret()) else {
        return Ok(Err(Refused::Malformed));
    };
    let Some(row) = tx.token(id)? else {
        return Ok(Err(Refused::Unknown));
    };
    // Its HMAC key came from another master key: it cannot be checked, only refused (401 either
    // way; the reason tells the holder to create a new token).
    if row.kek_id != vault.master().id() {
        return Ok(Err(Refused::StaleMasterKey));
    }
    let Ok(stored) = hex::decode(&row.secret_mac) else {
        return Ok(Err(Refused::BadSecret));
    };
    let mut mac = mac_key(vault);
    mac.update(secret.as_bytes());
    if mac.verify_slice(&stored).is_err() {
        return Ok(Err(Refused::BadSecret));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(Refused::Revoked));
    }
    if row.expires_at.is_some_and(|t| t <= now) {
        return Ok(Err(Refused::Expired));
    }
    let workspace = match row.workspace_id {
        Some(id) => match tx.workspace_by_id(id)? {
            Some(w) if w.deleted_at.is_none() => Some(w),
            _ => return Ok(Err(Refused::WorkspaceDeleted)),
        },
        None => None,
    };
    Ok(Ok(Authenticated { row, workspace }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_shape_and_checksum() {
        let id = "0123456789ab";
        let secret = "f".repeat(64);
        let body = format!("slq_{id}_{secret}");
        let good = format!("{body}_{}", checksum(&body));
        assert_eq!(parse(&good), Some((id, secret.as_str())));
        let mut flipped = good.clone();
        flipped.replace_range(20..21, "e");
        assert_eq!(parse(&flipped), None);
        assert_eq!(parse(&good.to_uppercase()), None);
        assert_eq!(parse(&format!("{good}_x")), None);
        assert_eq!(parse("slq_"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn names_are_printable_and_bounded() {
        assert!(check_name("ci bot@acme").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a(b)").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }
}
