//! Copying every row of one store into another, empty one (`seliq-gateway migrate`, SQLite to
//! PostgreSQL). Rows move as they are: keys stay wrapped under the master key, audit entries
//! keep their hashes and signatures, times keep their text. The whole copy is one transaction on
//! the target: it lands completely or not at all.

use super::sql::{DbResult, FromValue, Value, ValueRef, args};
use super::{Result, Store, StoreError};

/// The tables in an order their foreign keys accept, each with the columns that order its rows
/// (so identity columns are copied in sequence) and its identity column, if the target
/// generates one (its sequence must move past the copied values).
const TABLES: &[(&str, &str, Option<&str>)] = &[
    ("workspaces", "id", None),
    ("workspace_keys", "workspace_id, version", None),
    ("gateway_keys", "purpose", None),
    ("integrations", "id", None),
    ("bindings", "source", None),
    ("credentials", "integration_id, version", None),
    ("checkpoints", "integration_id", None),
    ("audit_segments", "workspace_id, first_seq", None),
    ("audit_entries", "workspace_id, seq", None),
    ("audit_checkpoints", "workspace_id, seq", None),
    ("sinks", "path", None),
    ("dead_letters", "id", Some("id")),
    ("integration_state", "integration_id", None),
    ("api_tokens", "id", None),
    ("sla_policies", "version", Some("version")),
    ("alert_ledger", "id", Some("id")),
    ("alert_first_seen_minutes", "workspace_id, minute", None),
];

impl FromValue for Value {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

/// What was copied: rows per table, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64)>,
}

impl Copied {
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

fn columns(store: &mut Store, table: &str) -> Result<Vec<String>> {
    let postgres = store.database().is_postgres();
    store.read(|tx| {
        let cols = if postgres {
            tx.tx.query_map(
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
                args![table],
                |r| r.get::<String>(0),
            )?
        } else {
            tx.tx.query_map(
                "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                args![table],
                |r| r.get::<String>(0),
            )?
        };
        Ok::<_, StoreError>(cols)
    })
}

/// Copy every row of `from` into `to`, which must hold the gateway's schema and no rows.
/// `sink_key` rewrites each file sink's key for the target (PostgreSQL names the host).
pub fn copy_into(
    from: &mut Store,
    to: &mut Store,
    sink_key: impl Fn(&str) -> String,
) -> Result<Copied> {
    let mut plan = Vec::with_capacity(TABLES.len());
    for &(table, order, identity) in TABLES {
        let (src, dst) = (columns(from, table)?, columns(to, table)?);
        if src != dst {
            return Err(StoreError::Corrupt(format!(
                "table {table} has columns ({}) in the source and ({}) in the target; both must be at the same schema version",
                src.join(", "),
                dst.join(", ")
            )));
        }
        plan.push((table, order, identity, src));
    }
    let tables = from.read(|tx| {
        let mut out = Vec::with_capacity(plan.len());
        for (table, order, _, cols) in &plan {
            let rows = tx.tx.query_map(
                &format!("SELECT {} FROM {table} ORDER BY {order}", cols.join(", ")),
                &[],
                |r| {
                    (0..cols.len())
                        .map(|i| r.get::<Value>(i))
                        .collect::<DbResult<Vec<_>>>()
                },
            )?;
            out.push(rows);
        }
        Ok::<_, StoreError>(out)
    })?;
    to.write(|tx| {
        for (table, _, _, _) in &plan {
            let n: i64 = tx
                .tx
                .query_row(&format!("SELECT count(*) FROM {table}"), &[], |r| r.get(0))?;
            if n > 0 {
                return Err(StoreError::Conflict(format!(
                    "the target database already holds data ({n} rows in {table}); migrate copies only into an empty one"
                )));
            }
        }
        let mut copied = Vec::with_capacity(plan.len());
        for ((table, _, identity, cols), rows) in plan.iter().zip(tables) {
            let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                placeholders.join(", ")
            );
            let key_col = (*table == "sinks").then(|| cols.iter().position(|c| c == "path"));
            let n = rows.len() as u64;
            for mut row in rows {
                if let Some(Some(i)) = key_col
                    && let Value::Text(path) = &row[i]
                {
                    row[i] = Value::Text(sink_key(path));
                }
                tx.tx.execute(&insert, &row)?;
            }
            copied.push((*table, n));
            if let Some(col) = identity
                && tx.tx.is_postgres()
            {
                tx.tx.query_row(
                    &format!(
                        "SELECT CAST(setval(pg_get_serial_sequence('{table}', '{col}'), coalesce(max({col}), 0) + 1, false) AS BIGINT) FROM {table}"
                    ),
                    &[],
                    |r| r.get::<i64>(0),
                )?;
            }
        }
        Ok(Copied { tables: copied })
    })
}
