//! The store: SQLite (WAL, foreign keys on) or PostgreSQL, with versioned migrations applied at
//! open.
//!
//! Callers see typed operations, never SQL: reads on [`ReadTx`], writes on [`WriteTx`] (which
//! also reads, through `Deref`). [`Store::read`] hands out only a `ReadTx`, in a transaction the
//! database itself keeps read-only (SQLite's `query_only`, PostgreSQL's `READ ONLY`), so a read
//! path cannot write even through a method added later. Every write runs inside one transaction
//! that first takes the database's write lock (`BEGIN IMMEDIATE`; a transaction-scoped advisory
//! lock on PostgreSQL), so a change and its audit entry commit together or not at all, and
//! concurrent processes, on one host or several, serialise (the binding guard relies on it).
//!
//! The operations are written once, against [`sql::Tx`]; SQLite (the embedded default) and
//! PostgreSQL (several replicas) answer them.
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
mod copy;
mod credentials;
mod dead_letters;
mod integration_state;
mod integrations;
mod keys;
mod leases;
mod migrations;
mod pg;
mod sla;
pub(crate) mod sql;
mod tokens;
mod workspaces;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

pub use audit_rows::{AuditRow, SegmentManifest, StoredCheckpoint};
pub use checkpoints::CheckpointRow;
pub use copy::{Copied, copy_into};
pub use credentials::{CredentialRow, CredentialState};
pub use dead_letters::DeadLetterRow;
pub use integration_state::IntegrationStateRow;
pub use integrations::{BindingRow, IntegrationRow};
pub use keys::{DekRow, GatewayKeyRow};
pub use leases::{LeaseGrant, LeaseHolder};
pub use pg::{DEFAULT_POOL_SIZE, PgTarget, set_pool_size};
pub use sla::{AlertSlaRow, LedgerKey, PolicyRow, StoredClock};
pub use sql::DbError;
pub use tokens::{TokenRow, TokenScope};
pub use workspaces::{LiveWorkspace, Plan, WorkspaceRow};

use sql::{Begin, Conn, Tx};

/// Which database holds the gateway's state. Printing it never shows a password.
#[derive(Clone)]
pub enum Database {
    /// The embedded default: one file.
    Sqlite(PathBuf),
    /// A server shared by several replicas.
    Postgres(Box<PgTarget>),
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(t) => write!(f, "{t}"),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Database {
    /// `sqlite:PATH`, `sqlite://PATH` or `postgres://…` (`postgresql://` too). The error is one
    /// sentence and never repeats the URL (it may hold a password).
    pub fn parse(url: &str) -> std::result::Result<Database, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            if rest.is_empty() {
                return Err("the sqlite: database URL names no file".to_owned());
            }
            return Ok(Database::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return PgTarget::parse(url).map(|t| Database::Postgres(Box::new(t)));
        }
        Err("the database URL must start with sqlite: or postgres://".to_owned())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("{path} is not a Seliq database (or is corrupt): {reason}")]
    NotADatabase { path: String, reason: String },
    #[error(
        "database {path} was written by a newer gateway (schema {found}, this build knows {known})"
    )]
    TooNew {
        path: String,
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
    Sql(DbError),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        match e {
            DbError::Decode(m) => StoreError::Corrupt(m),
            e => StoreError::Sql(e),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(DbError::Sqlite(e))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Conn,
    database: Database,
}

/// An open read transaction (a consistent snapshot): the typed read operations hang off it.
pub struct ReadTx<'c> {
    tx: Tx<'c>,
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
    /// SQLite's `PRAGMA data_version` on this connection: it moves whenever another connection
    /// (another process, or the API's own connections) commits, and never for this connection's
    /// own commits, so a caller can skip re-reading what only it writes. `None` on PostgreSQL,
    /// which has no such counter.
    pub fn data_version(&self) -> Result<Option<i64>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Some(
                c.pragma_query_value(None, "data_version", |r| r.get(0))?,
            )),
            Conn::Postgres(_) => Ok(None),
        }
    }

    /// Open an existing SQLite database and apply pending migrations. Never creates the file: a
    /// missing database means `init` has not run.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_sqlite(path, OpenFlags::SQLITE_OPEN_READ_WRITE, false)
    }

    /// Create the SQLite database if missing (used by `init` only).
    pub fn create(path: &Path) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "the file already exists; init only creates a new database".to_owned(),
            });
        }
        let store = Self::open_sqlite(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            true,
        )?;
        // Owner only: SQLite gives its -wal and -shm files the database file's mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            StoreError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(store)
    }

    /// Open an existing database of either kind. A PostgreSQL schema without the gateway's
    /// tables is refused (see [`Store::create_in`]).
    pub fn connect(database: &Database) -> Result<Store> {
        match database {
            Database::Sqlite(p) => Self::open(p),
            Database::Postgres(t) => Self::open_postgres(t, false),
        }
    }

    /// Create the database (`init`): a new SQLite file, or the gateway's tables in an empty
    /// PostgreSQL schema.
    pub fn create_in(database: &Database) -> Result<Store> {
        match database {
            Database::Sqlite(p) => Self::create(p),
            Database::Postgres(t) => Self::open_postgres(t, true),
        }
    }

    /// Whether the database already holds the gateway's schema (for `init`, which must not
    /// overwrite one).
    pub fn exists(database: &Database) -> Result<bool> {
        match database {
            Database::Sqlite(p) => Ok(p.exists()),
            Database::Postgres(t) => {
                let conn =
                    Conn::Postgres(pg::PgConn::connect(t).map_err(|e| StoreError::Open {
                        path: t.to_string(),
                        reason: e.to_string(),
                    })?);
                Ok(migrations::pg_version(&conn)?.is_some())
            }
        }
    }

    /// A second connection to the same database (the SLA ledger reads through its own).
    pub fn reopen(&self) -> Result<Store> {
        Self::connect(&self.database)
    }

    fn open_postgres(target: &PgTarget, creating: bool) -> Result<Store> {
        let conn = pg::PgConn::connect(target).map_err(|e| StoreError::Open {
            path: target.to_string(),
            reason: e.to_string(),
        })?;
        let conn = Conn::Postgres(conn);
        // The schema is checked (and migrated) once per process and database: the API opens a
        // store per request.
        if creating || !target.schema_checked() {
            migrations::apply_pg(&conn, &target.to_string(), creating)?;
            target.mark_schema_checked();
        }
        Ok(Store {
            conn,
            database: Database::Postgres(Box::new(target.clone())),
        })
    }

    fn open_sqlite(path: &Path, flags: OpenFlags, creating: bool) -> Result<Store> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        // A file that is not SQLite only fails on first read; make that read here so the error
        // names the file and nothing is written to it.
        let not_db = |e: rusqlite::Error| StoreError::NotADatabase {
            path: path.display().to_string(),
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
        conn.set_prepared_statement_cache_capacity(64);
        let current = migrations::sqlite_version(&conn)?;
        let conn = Conn::Sqlite(conn);
        migrations::apply(&conn, path, current)?;
        Ok(Store {
            conn,
            database: Database::Sqlite(path.to_owned()),
        })
    }

    /// Which database this is.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Run `f` in one write transaction; commit on `Ok`, roll back on `Err`. Writers of every
    /// process wait for each other: SQLite's `BEGIN IMMEDIATE`, a transaction-scoped advisory
    /// lock on PostgreSQL.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&WriteTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.write_as(Begin::Write, f)
    }

    /// Run `f` in a read transaction (a consistent snapshot). The database itself refuses any
    /// write made through it: SQLite's `query_only`, PostgreSQL's `READ ONLY` transaction.
    pub fn read<T, E>(&mut self, f: impl FnOnce(&ReadTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if !matches!(self.conn, Conn::Sqlite(_)) {
            return self.read_snapshot(f);
        }
        self.sqlite_query_only(true)?;
        let out = self.read_snapshot(f);
        // Always back to writable, whatever `f` returned: the next `write` needs it.
        self.sqlite_query_only(false)?;
        out
    }

    fn sqlite_query_only(&self, on: bool) -> Result<()> {
        if let Conn::Sqlite(c) = &self.conn {
            c.pragma_update(None, "query_only", on)?;
        }
        Ok(())
    }

    /// Run `f` in a write transaction that takes no database-wide lock: rows are locked one by
    /// one as statements touch them (lease claims and renewals, which must not wait for every
    /// checkpoint commit of every replica). PostgreSQL only; on SQLite it is [`Store::write`].
    pub fn lease<T, E>(&mut self, f: impl FnOnce(&WriteTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.write_as(Begin::Rows, f)
    }

    fn write_as<T, E>(
        &mut self,
        how: Begin,
        f: impl FnOnce(&WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self.conn.begin(how).map_err(StoreError::from)?;
        let tx = WriteTx {
            read: ReadTx { tx },
        };
        let out = f(&tx)?;
        tx.read.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    fn read_snapshot<T, E>(&mut self, f: impl FnOnce(&ReadTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self.conn.begin(Begin::Read).map_err(StoreError::from)?;
        let tx = ReadTx { tx };
        let out = f(&tx)?;
        tx.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }
}

/// Map a uniqueness violation to `Conflict(message)`, anything else through unchanged.
fn unique_or(e: DbError, message: impl FnOnce() -> String) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(message())
    } else {
        StoreError::from(e)
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Decode(format!("{what}: {e}"))
}

/// Where a test's store lives: a temporary dir, and on PostgreSQL also a schema of its own,
/// dropped with it.
#[cfg(test)]
pub(crate) struct TestDir {
    _dir: tempfile::TempDir,
    schema: Option<(PgTarget, String)>,
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        if let Some((target, schema)) = self.schema.take()
            && let Ok(c) = pg::PgConn::connect(&target)
        {
            let _ = c.batch(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// The PostgreSQL server the tests use (default: the local one).
#[cfg(test)]
pub(crate) const TEST_POSTGRES_ENV: &str = "SELIQ_TEST_POSTGRES_URL";

/// `SELIQ_TEST_STORE=postgres` runs every test that takes a [`test_store`] on PostgreSQL.
#[cfg(test)]
pub(crate) const TEST_STORE_ENV: &str = "SELIQ_TEST_STORE";

/// A new, empty store for a test: SQLite in a temporary dir, or, with
/// `SELIQ_TEST_STORE=postgres`, a schema of its own on PostgreSQL (so the same tests run
/// against both databases).
#[cfg(test)]
pub(crate) fn test_store() -> (TestDir, Store) {
    if std::env::var(TEST_STORE_ENV).is_ok_and(|v| v == "postgres") {
        return test_store_on_postgres();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(&dir.path().join("seliq.db")).expect("create store");
    (
        TestDir {
            _dir: dir,
            schema: None,
        },
        store,
    )
}

/// A new store in a schema of its own on PostgreSQL, whatever `SELIQ_TEST_STORE` says, for
/// what only PostgreSQL does (leases).
#[cfg(test)]
pub(crate) fn test_store_on_postgres() -> (TestDir, Store) {
    let (dir, url) = test_postgres_url();
    let database = Database::parse(&url).expect("the schema URL parses");
    let store = Store::create_in(&database).expect("create the schema's tables");
    (dir, store)
}

/// A new empty schema on the test server (`SELIQ_TEST_POSTGRES_URL`, default the local one),
/// and the database URL that uses it; the schema is dropped with the returned guard.
#[cfg(test)]
pub(crate) fn test_postgres_url() -> (TestDir, String) {
    let url = std::env::var(TEST_POSTGRES_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let base = PgTarget::parse(&url).expect("the test URL parses");
    let c = pg::PgConn::connect(&base).expect("connect to the test server");
    c.batch(&format!("CREATE SCHEMA {schema}"))
        .expect("create the test schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let with_schema = format!("{url}{sep}options=-csearch_path%3D{schema}");
    (
        TestDir {
            _dir: tempfile::tempdir().expect("tempdir"),
            schema: Some((base, schema)),
        },
        with_schema,
    )
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
    fn a_postgres_connection_is_reused_by_the_next_store_handle() {
        let (_dir, url) = test_postgres_url();
        let database = Database::parse(&url).unwrap();
        let pid = |store: &mut Store| -> i64 {
            store
                .read(|tx| {
                    Ok::<_, StoreError>(tx.tx.query_row(
                        "SELECT CAST(pg_backend_pid() AS BIGINT)",
                        &[],
                        |r| r.get(0),
                    )?)
                })
                .unwrap()
        };
        let mut first = Store::create_in(&database).unwrap();
        let before = pid(&mut first);
        drop(first);
        let mut second = Store::connect(&database).unwrap();
        assert_eq!(
            pid(&mut second),
            before,
            "the idle connection was taken again"
        );
        // Two handles at once each have their own.
        let mut third = Store::connect(&database).unwrap();
        assert_ne!(pid(&mut third), before);
    }

    #[test]
    fn data_version_moves_for_other_connections_commits_only() {
        let (_dir, mut store) = test_store();
        let Some(start) = store.data_version().unwrap() else {
            // PostgreSQL has no such counter: `serve` reloads on its timer alone there.
            assert!(store.database().is_postgres());
            return;
        };
        let ws = test_workspace(&mut store);
        assert_eq!(store.data_version().unwrap(), Some(start), "our own commit");
        let mut other = store.reopen().unwrap();
        other
            .write(|tx| tx.tombstone_workspace(ws, chrono::Utc::now()))
            .unwrap();
        assert_ne!(
            store.data_version().unwrap(),
            Some(start),
            "another's commit"
        );
    }

    #[test]
    fn a_read_transaction_refuses_writes_and_leaves_the_connection_writable() {
        let (_dir, mut store) = test_store();
        // Even raw SQL through a read transaction is refused by SQLite itself.
        let refused = store.read(|tx| {
            tx.tx
                .execute("DELETE FROM sinks", &[])
                .map_err(StoreError::from)
        });
        assert!(
            matches!(&refused, Err(StoreError::Sql(e)) if e.to_string().contains("readonly") || e.to_string().contains("read-only")),
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
