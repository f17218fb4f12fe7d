//! The embedded store: SQLite (WAL, foreign keys on) with versioned migrations applied at open.
//!
//! Callers see typed operations on [`Tx`], never SQL. Every write runs inside one `BEGIN
//! IMMEDIATE` transaction, so a change and its audit entry commit together or not at all, and
//! concurrent processes serialise on the database's write lock (the binding guard relies on it).

mod audit_rows;
mod checkpoints;
mod credentials;
mod dead_letters;
mod integration_state;
mod integrations;
mod keys;
mod migrations;
mod tokens;
mod workspaces;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use thiserror::Error;

pub use audit_rows::{AuditRow, SegmentManifest, StoredCheckpoint};
pub use checkpoints::CheckpointRow;
pub use credentials::{CredentialRow, CredentialState};
pub use dead_letters::DeadLetterRow;
pub use integration_state::IntegrationStateRow;
pub use integrations::{BindingRow, IntegrationRow};
pub use keys::{DekRow, GatewayKeyRow};
pub use tokens::{TokenRow, TokenScope};
pub use workspaces::{Plan, WorkspaceRow};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path} is not a Seliq database (or is corrupt): {reason}")]
    NotADatabase { path: PathBuf, reason: String },
    #[error(
        "database {path} was written by a newer gateway (schema {found}, this build knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A uniqueness rule refused the write (slug taken, source bound, name in use).
    #[error("{0}")]
    Conflict(String),
    /// A stored value failed to decode; the row was written by a bug or edited by hand.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// An open write (or read) transaction. All typed store operations hang off it.
pub struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl Store {
    /// Open an existing database and apply pending migrations. Never creates the file: a missing
    /// database means `init` has not run.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE, false)
    }

    /// Create the database if missing (used by `init` only).
    pub fn create(path: &Path) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::Open {
                path: path.to_owned(),
                reason: "the file already exists; init only creates a new database".to_owned(),
            });
        }
        let store = Self::open_with(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            true,
        )?;
        // Owner only: SQLite gives its -wal and -shm files the database file's mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            StoreError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(store)
    }

    fn open_with(path: &Path, flags: OpenFlags, creating: bool) -> Result<Store> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        // A file that is not SQLite only fails on first read; make that read here so the error
        // names the file and nothing is written to it.
        let not_db = |e: rusqlite::Error| StoreError::NotADatabase {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(not_db)?;
        migrations::check_ours(&conn, path, creating)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrations::apply(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` in one write transaction (`BEGIN IMMEDIATE`); commit on `Ok`, roll back on `Err`.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let tx = Tx { tx };
        let out = f(&tx)?;
        tx.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Run `f` in a read transaction (a consistent snapshot).
    pub fn read<T, E>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        let tx = Tx { tx };
        let out = f(&tx)?;
        tx.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }
}

/// Map a SQLite uniqueness violation to `Conflict(message)`, anything else through unchanged.
fn unique_or(e: rusqlite::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            StoreError::Conflict(message())
        }
        _ => StoreError::Sql(e),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what}: {e}").into(),
    )
}

#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(&dir.path().join("seliq.db")).expect("create store");
    (dir, store)
}
