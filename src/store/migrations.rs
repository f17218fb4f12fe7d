//! Embedded, versioned migrations, tracked in `PRAGMA user_version`. Each step runs in one
//! transaction; a database from a newer build is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::{Result, StoreError};

/// One schema version: its SQL, then (when rows must be rewritten by code, e.g. to compute a
/// hash SQLite does not have) a function run in the same transaction.
struct Step {
    sql: &'static str,
    then: Option<fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>>,
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
];

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
        path: path.to_owned(),
        reason: if tables > 0 {
            "it is a SQLite database of something else (it has tables but no Seliq schema version)"
                .to_owned()
        } else {
            "it is empty; run `seliq-gateway init` on a data dir without this file".to_owned()
        },
    })
}

pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = STEPS.len() as i64;
    if current > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: current,
            known,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step.sql)?;
        if let Some(then) = step.then {
            then(&tx)?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
