//! The embedded store: SQLite (WAL, foreign keys on) with versioned migrations applied at open.
//!
//! Callers see typed operations, never SQL: reads on [`ReadTx`], writes on [`WriteTx`] (which
//! also reads, through `Deref`). [`Store::read`] hands out only a `ReadTx` and runs with SQLite's
//! `query_only` set, so a read path cannot write even through a method added later. Every write
//! runs inside one `BEGIN IMMEDIATE` transaction, so a change and its audit entry commit together
//! or not at all, and concurrent processes serialise on the database's write lock (the binding
//! guard relies on it).
//!
//! A read path cannot reach a write method; this does not compile:
//!
//! ```compile_fail
//! # fn f(store: &mut seliq_gateway::store::Store, id: seliq_gateway::ids::IntegrationId) {
//! let _ = store.read(|tx| tx.delete_integration(id));
//! # }
//! ```
//!
//! while the same call in a write transaction does:
//!
//! ```
//! # fn f(store: &mut seliq_gateway::store::Store, id: seliq_gateway::ids::IntegrationId) {
//! let _ = store.write(|tx| tx.delete_integration(id));
//! # }
//! ```

mod audit_rows;
mod checkpoints;
mod credentials;
mod dead_letters;
mod integration_state;
mod integrations;
mod keys;
mod migrations;
mod sla;
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
pub use sla::{AlertSlaRow, LedgerKey, PolicyRow, StoredClock};
pub use tokens::{TokenRow, TokenScope};
pub use workspaces::{LiveWorkspace, Plan, WorkspaceRow};

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

/// An open read transaction (a consistent snapshot): the typed read operations hang off it.
pub struct ReadTx<'c> {
    tx: rusqlite::Transaction<'c>,
}

/// An open write transaction: the typed write operations, plus every read through `Deref`.
pub struct WriteTx<'c> {
    read: ReadTx<'c>,
}

impl<'c> std::ops::Deref for WriteTx<'c> {
    type Target = ReadTx<'c>;

    fn deref(&self) -> &ReadTx<'c> {
        &self.read
    }
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
    pub fn write<T, E>(&mut self, f: impl FnOnce(&WriteTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let tx = WriteTx {
            read: ReadTx { tx },
        };
        let out = f(&tx)?;
        tx.read.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Run `f` in a read transaction (a consistent snapshot). The connection is `query_only`
    /// meanwhile: SQLite itself refuses any write made through it.
    pub fn read<T, E>(&mut self, f: impl FnOnce(&ReadTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.conn
            .pragma_update(None, "query_only", true)
            .map_err(StoreError::from)?;
        let out = self.read_snapshot(f);
        // Always back to writable, whatever `f` returned: the next `write` needs it.
        self.conn
            .pragma_update(None, "query_only", false)
            .map_err(StoreError::from)?;
        out
    }

    fn read_snapshot<T, E>(&mut self, f: impl FnOnce(&ReadTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        let tx = ReadTx { tx };
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

/// A live workspace `acme-corp` in a test store.
#[cfg(test)]
pub(crate) fn test_workspace(store: &mut Store) -> crate::ids::WorkspaceId {
    let id = crate::ids::WorkspaceId::new();
    store
        .write(|tx| {
            tx.insert_workspace(&WorkspaceRow {
                id,
                slug: crate::slug::Slug::parse("acme-corp").expect("a valid slug"),
                description: String::new(),
                plan: Plan::Pro,
                created_at: chrono::Utc::now(),
                deleted_at: None,
            })
        })
        .expect("insert the workspace");
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_transaction_refuses_writes_and_leaves_the_connection_writable() {
        let (_dir, mut store) = test_store();
        // Even raw SQL through a read transaction is refused by SQLite itself.
        let refused = store.read(|tx| {
            tx.tx
                .execute("DELETE FROM sinks", [])
                .map_err(StoreError::from)
        });
        assert!(
            matches!(&refused, Err(StoreError::Sql(e)) if e.to_string().contains("readonly")),
            "{refused:?}"
        );
        // A read that failed must not leave the connection read-only.
        store
            .write(|tx| tx.set_sink_offset("/tmp/x.ndjson", 7))
            .expect("write after a failed read");
        let offset = store.read(|tx| tx.sink_offset("/tmp/x.ndjson")).unwrap();
        assert_eq!(offset, Some(7));
        store
            .write(|tx| tx.set_sink_offset("/tmp/x.ndjson", 9))
            .expect("write after a successful read");
    }
}
