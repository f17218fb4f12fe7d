//! Embedded, versioned migrations. SQLite tracks its version in `PRAGMA user_version`,
//! PostgreSQL in the `seliq_schema` table. Each step runs in one transaction; a database from a
//! newer build is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::sql::{Begin, Conn, DbResult, OptionalExt, Tx};
use super::{Result, StoreError};

/// One schema version: its SQL, then (when rows must be rewritten by code, e.g. to compute a
/// hash SQLite does not have) a function run in the same transaction.
struct Step {
    sql: &'static str,
    then: Option<for<'c> fn(&Tx<'c>) -> DbResult<()>>,
}

const fn sql(sql: &'static str) -> Step {
    Step { sql, then: None }
}

/// Append only: never edit a released step, add a new one.
const STEPS: &[Step] = &[
    sql(include_str!("migrations/0001_initial.sql")),
    sql(include_str!("migrations/0002_gateway_keys.sql")),
    sql(include_str!("migrations/0003_api_tokens.sql")),
    sql(include_str!("migrations/0004_sla.sql")),
    Step {
        sql: include_str!("migrations/0005_alert_ledger.sql"),
        then: Some(super::sla::copy_alert_sla_v4),
    },
    Step {
        sql: include_str!("migrations/0006_ledger_key_minute.sql"),
        then: Some(super::sla::rekey_alert_ledger),
    },
];

/// PostgreSQL's steps. The first is SQLite's schema version 5 in one piece; from then on every
/// SQLite step needs a PostgreSQL step too. `PG_STEPS[i]` brings a schema to the SQLite
/// version `PG_BASE + i`.
const PG_STEPS: &[Step] = &[
    sql(include_str!("pg/0001_schema.sql")),
    Step {
        sql: include_str!("migrations/0006_ledger_key_minute.sql"),
        then: Some(super::sla::rekey_alert_ledger),
    },
];
const PG_BASE: i64 = 5;

/// The schema version a PostgreSQL schema is at, `None` when it has no gateway tables.
pub(super) fn pg_version(conn: &Conn) -> Result<Option<i64>> {
    let tx = conn.begin(Begin::Read)?;
    let version = pg_version_in(&tx)?;
    tx.commit()?;
    Ok(version)
}

/// The version recorded in `seliq_schema`, read inside `tx`; `None` without that table or row.
fn pg_version_in(tx: &Tx<'_>) -> Result<Option<i64>> {
    let has_table: i64 = tx.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'seliq_schema'",
        &[],
        |r| r.get(0),
    )?;
    if has_table == 0 {
        return Ok(None);
    }
    Ok(tx
        .query_row("SELECT version FROM seliq_schema", &[], |r| r.get(0))
        .optional()?)
}

/// Bring a PostgreSQL schema up to date. `creating` (init) may lay the schema into an empty
/// schema; anything else must already hold the gateway's tables. A schema with other tables and
/// no gateway version is never touched.
pub(super) fn apply_pg(conn: &Conn, shown: &str, creating: bool) -> Result<()> {
    let known = PG_BASE + PG_STEPS.len() as i64 - 1;
    // Replicas starting together: one migrates, the others wait on the lock and then see it done.
    let tx = conn.begin(Begin::Migrate)?;
    let tables: i64 = tx.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        &[],
        |r| r.get(0),
    )?;
    let current = match pg_version_in(&tx)? {
        Some(v) => v,
        None if tables == 0 && creating => PG_BASE - 1,
        None => {
            return Err(StoreError::NotADatabase {
                path: shown.to_owned(),
                reason: if tables > 0 {
                    "its schema holds tables but no Seliq schema version".to_owned()
                } else {
                    "its schema is empty; run `seliq-gateway init` with this --database-url first"
                        .to_owned()
                },
            });
        }
    };
    if current > known {
        return Err(StoreError::TooNew {
            path: shown.to_owned(),
            found: current,
            known,
        });
    }
    for (i, step) in PG_STEPS.iter().enumerate() {
        let version = PG_BASE + i as i64;
        if version <= current {
            continue;
        }
        tx.execute_batch(step.sql)?;
        if let Some(then) = step.then {
            then(&tx)?;
        }
        tx.execute(
            "INSERT INTO seliq_schema (singleton, version) VALUES (TRUE, ?1) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            super::sql::args![version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Refuse a file that is not ours before anything (even a pragma) writes to it. `creating` is
/// true only for `init`'s brand-new file; anything else must already carry our schema: an empty
/// (0-byte) or foreign SQLite file at the database path is never turned into a gateway database.
pub(super) fn check_ours(conn: &Connection, path: &Path, creating: bool) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current != 0 {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables == 0 && creating {
        return Ok(());
    }
    Err(StoreError::NotADatabase {
        path: path.display().to_string(),
        reason: if tables > 0 {
            "it is a SQLite database of something else (it has tables but no Seliq schema version)"
                .to_owned()
        } else {
            "it is empty; run `seliq-gateway init` on a data dir without this file".to_owned()
        },
    })
}

/// The version of a SQLite database.
pub(super) fn sqlite_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Bring a SQLite database at version `current` up to date.
pub(super) fn apply(conn: &Conn, path: &Path, current: i64) -> Result<()> {
    let known = STEPS.len() as i64;
    if current > known {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: current,
            known,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(current as usize) {
        let tx = conn.begin(Begin::Migrate)?;
        tx.execute_batch(step.sql)?;
        if let Some(then) = step.then {
            then(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", i as i64 + 1))?;
        tx.commit()?;
    }
    Ok(())
}
