//! The one door to the database: a connection to SQLite or PostgreSQL, a transaction on it, and
//! the values that cross it. The typed store operations are written once against [`Tx`]; only
//! this file and `pg.rs` know which database answers.
//!
//! SQL is written in the common dialect of both (numbered `?N` placeholders, `ON CONFLICT`,
//! `RETURNING`); `pg.rs` rewrites the placeholders to `$N`. Integers are 64-bit, times are text
//! in rusqlite's layout on both, so a row copied from one database to the other is unchanged.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, ToSql, ToSqlOutput, ValueRef as SqliteRef};
use thiserror::Error;

use super::pg::PgConn;

/// A value sent to or read from the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A borrowed column of a row being read.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// What went wrong below the typed operations.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] super::pg::PgError),
    #[error("the query returned no rows")]
    NoRows,
    /// A stored value failed to decode; the row was written by a bug or edited by hand.
    #[error("{0}")]
    Decode(String),
}

impl DbError {
    /// A uniqueness rule (primary key or unique index) refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::ConstraintViolation
                    && matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    )
            }
            DbError::Postgres(e) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub type DbResult<T> = std::result::Result<T, DbError>;

/// Something that can be sent as a query argument.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

/// Something that can be read from a column.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self>;
}

fn wrong_type(want: &str, got: ValueRef<'_>) -> DbError {
    let got = match got {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    DbError::Decode(format!("expected {want}, found {got}"))
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

/// rusqlite's own layout (`2026-12-04 08:48:09.123456789+00:00`), which every data dir already
/// holds; PostgreSQL stores the same text.
impl ToValue for DateTime<Utc> {
    fn to_value(&self) -> Value {
        match self.to_sql() {
            Ok(ToSqlOutput::Owned(rusqlite::types::Value::Text(s))) => Value::Text(s),
            Ok(ToSqlOutput::Borrowed(SqliteRef::Text(b))) => {
                Value::Text(String::from_utf8_lossy(b).into_owned())
            }
            // rusqlite's chrono support always writes text; keep the RFC 3339 form otherwise.
            _ => Value::Text(self.to_rfc3339()),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(wrong_type("an integer", other)),
        }
    }
}

impl FromValue for u32 {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        let i = i64::from_value(v)?;
        u32::try_from(i).map_err(|_| DbError::Decode(format!("{i} is out of range")))
    }
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(wrong_type("text", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(wrong_type("a blob", other)),
        }
    }
}

/// Every layout rusqlite reads (the data dir's own), through rusqlite's own parser.
impl FromValue for DateTime<Utc> {
    fn from_value(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Text(s) => DateTime::<Utc>::column_result(SqliteRef::Text(s.as_bytes()))
                .map_err(|e| DbError::Decode(format!("{s:?} is not a time: {e}"))),
            other => Err(wrong_type("a time", other)),
        }
    }
}

/// Query arguments, in `?1, ?2, …` order.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::store::sql::ToValue::to_value(&$x)),*] as &[$crate::store::sql::Value]
    };
}
pub(crate) use args;

/// One row being read.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a [Value]),
}

impl Row<'_> {
    pub fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        match self {
            Row::Sqlite(r) => {
                let v = r.get_ref(i)?;
                let v = match v {
                    SqliteRef::Null => ValueRef::Null,
                    SqliteRef::Integer(i) => ValueRef::Int(i),
                    SqliteRef::Real(f) => {
                        return Err(DbError::Decode(format!("unexpected real number {f}")));
                    }
                    SqliteRef::Text(b) => ValueRef::Text(
                        std::str::from_utf8(b)
                            .map_err(|e| DbError::Decode(format!("text is not UTF-8: {e}")))?,
                    ),
                    SqliteRef::Blob(b) => ValueRef::Blob(b),
                };
                T::from_value(v)
            }
            Row::Values(vs) => {
                let v = vs
                    .get(i)
                    .ok_or_else(|| DbError::Decode(format!("no column {i}")))?;
                T::from_value(v.as_ref())
            }
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(SqliteRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(SqliteRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(SqliteRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(SqliteRef::Blob(b)),
        })
    }
}

/// An open connection.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Reads only, one consistent snapshot.
    Read,
    /// Writes; writers across every process wait for each other (SQLite's `BEGIN IMMEDIATE`,
    /// a transaction-scoped advisory lock on PostgreSQL).
    Write,
    /// Writes that lock only the rows they touch (PostgreSQL's lease claims).
    Rows,
    /// A schema migration (PostgreSQL serialises these on their own lock).
    Migrate,
}

/// An open transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'c> {
    conn: &'c Conn,
    open: Cell<bool>,
}

impl Conn {
    pub fn begin(&self, how: Begin) -> DbResult<Tx<'_>> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(match how {
                Begin::Read => "BEGIN DEFERRED",
                Begin::Write | Begin::Rows | Begin::Migrate => "BEGIN IMMEDIATE",
            })?,
            Conn::Postgres(c) => c.begin(how)?,
        }
        Ok(Tx {
            conn: self,
            open: Cell::new(true),
        })
    }
}

impl Tx<'_> {
    pub fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    pub fn commit(self) -> DbResult<()> {
        self.open.set(false);
        match self.conn {
            Conn::Sqlite(c) => Ok(c.execute_batch("COMMIT")?),
            Conn::Postgres(c) => Ok(c.finish(true)?),
        }
    }

    /// Run statements without arguments (schema steps).
    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match self.conn {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => Ok(c.batch(sql)?),
        }
    }

    /// Run one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, args: &[Value]) -> DbResult<usize> {
        match self.conn {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))?)
            }
            Conn::Postgres(c) => Ok(c.execute(sql, args)?),
        }
    }

    /// Every row of a query, each through `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: &[Value],
        mut f: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        match self.conn {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r))?);
                }
                Ok(out)
            }
            Conn::Postgres(c) => c
                .query(sql, args)?
                .iter()
                .map(|r| f(&Row::Values(r)))
                .collect(),
        }
    }

    /// The first row of a query through `f`; [`DbError::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        match self.conn {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(DbError::NoRows),
                }
            }
            Conn::Postgres(c) => match c.query(sql, args)?.first() {
                Some(r) => f(&Row::Values(r)),
                None => Err(DbError::NoRows),
            },
        }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            // A rollback that fails leaves nothing to undo: the database drops the transaction
            // with the connection.
            let _ = match self.conn {
                Conn::Sqlite(c) => c.execute_batch("ROLLBACK").map_err(DbError::from),
                Conn::Postgres(c) => c.finish(false).map_err(DbError::from),
            };
        }
    }
}

/// `query_row` with "no row" as `None`.
pub trait OptionalExt<T> {
    fn optional(self) -> DbResult<Option<T>>;
}

impl<T> OptionalExt<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
