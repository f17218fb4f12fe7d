//! Embedded, versioned migrations, tracked in `PRAGMA user_version`. Each step runs in one
//! transaction; a database from a newer build is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::{Result, StoreError};

/// Append only: never edit a released step, add a new one.
const STEPS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

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
    for (i, sql) in STEPS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
