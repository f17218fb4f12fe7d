//! A PostgreSQL connection on its own thread.
//!
//! The synchronous `postgres` client drives a private tokio runtime and refuses to run on a
//! thread that is already inside one (every async task and the blocking pool are). So each
//! connection lives on a plain thread of its own, and [`PgConn`] hands it one statement at a
//! time over a channel: the store stays synchronous and the same on both databases.
//!
//! A connection that broke (a restarted server, `pg_terminate_backend`) is opened again at the
//! start of the next transaction; the transaction that saw it break fails and rolls back.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::{Begin, Value};

/// An error from the server (with its SQLSTATE) or from the connection.
#[derive(Debug)]
pub struct PgError {
    message: String,
    code: Option<String>,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for PgError {}

impl PgError {
    fn new(message: impl Into<String>) -> PgError {
        PgError {
            message: message.into(),
            code: None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.code.as_deref() == Some("23505")
    }

    /// The SQLSTATE, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> PgError {
        match e.as_db_error() {
            Some(db) => PgError {
                message: db.message().to_owned(),
                code: Some(db.code().code().to_owned()),
            },
            None => PgError::new(match e.source() {
                Some(s) => format!("{e}: {s}"),
                None => e.to_string(),
            }),
        }
    }
}

type PgResult<T> = Result<T, PgError>;

/// Where a connection goes, printable without its password.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    /// `sslmode=require`: TLS, the server's certificate and name verified.
    tls: Option<MakeRustlsConnect>,
    shown: String,
    /// The URL as given (it may hold a password: never shown), so only connections made from
    /// exactly the same settings are reused for each other.
    pool_key: std::sync::Arc<str>,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgTarget {
    /// Parse a `postgres://` URL (libpq's keywords in the query: `options`, `connect_timeout`,
    /// `application_name`, …). The error never repeats the URL: it may hold a password.
    pub fn parse(url: &str) -> Result<PgTarget, String> {
        // `sslrootcert` is libpq's; the client does not know it, so it is taken out first.
        let (url, root_file) = take_query_param(url, "sslrootcert")?;
        let mut config = postgres::Config::from_str(&url)
            .map_err(|e| format!("the PostgreSQL URL does not parse: {e}"))?;
        // libpq's variable, so a password need be neither in the URL nor in argv.
        if config.get_password().is_none()
            && let Some(pw) = std::env::var_os("PGPASSWORD")
        {
            use std::os::unix::ffi::OsStrExt;
            config.password(pw.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("seliq-gateway");
        }
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Require => Some(MakeRustlsConnect::new(tls_config(
                root_file.as_deref().map(std::path::Path::new),
            )?)),
            _ if root_file.is_some() => {
                return Err(
                    "sslrootcert is given but sslmode is not require; add sslmode=require"
                        .to_owned(),
                );
            }
            // `prefer` (the default) and `disable`: plain, as libpq does without a certificate
            // to check against.
            _ => None,
        };
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "postgres://{}@{host}:{port}/{}{}",
            config.get_user().unwrap_or(""),
            config.get_dbname().unwrap_or(""),
            if tls.is_some() { " (TLS)" } else { "" }
        );
        Ok(PgTarget {
            config,
            tls,
            shown,
            pool_key: std::sync::Arc::from(format!("{url}#{}", root_file.unwrap_or_default())),
        })
    }

    /// Whether this process already checked the schema behind these settings.
    pub fn schema_checked(&self) -> bool {
        checked().contains(&self.pool_key)
    }

    pub fn mark_schema_checked(&self) {
        let mut c = checked();
        if !c.contains(&self.pool_key) {
            c.push(self.pool_key.clone());
        }
    }

    fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }
}

/// `url` without the query parameter `name`, and its (percent-decoded) value.
fn take_query_param(url: &str, name: &str) -> Result<(String, Option<String>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut value = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((k, v)) if k == name => {
                let decoded = url::form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                value = Some(decoded);
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, value))
}

/// Verifying TLS: the system's roots, plus the PEM certificates of `root_file`.
fn tls_config(root_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "sslrootcert {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err(
            "sslmode=require needs a root certificate: the system has none; name one with sslrootcert=PATH"
                .to_owned(),
        );
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

enum Request {
    Begin(Begin),
    Finish(bool),
    Batch(String),
    Execute(String, Vec<Value>),
    Query(String, Vec<Value>),
}

enum Reply {
    Done,
    Changed(u64),
    Rows(Vec<Vec<Value>>),
}

/// One connection, owned by its thread.
pub struct PgConn {
    requests: Option<Sender<Request>>,
    replies: Receiver<PgResult<Reply>>,
    thread: Option<JoinHandle<()>>,
    pool_key: std::sync::Arc<str>,
    /// Set once a request failed: a connection that saw an error is closed, never pooled.
    broken: std::cell::Cell<bool>,
}

/// Idle connections kept per database for the next store handle (the API opens one per
/// request): at most [`pool_size`] each; the rest close when dropped.
type Idle = (Sender<Request>, Receiver<PgResult<Reply>>, JoinHandle<()>);
static IDLE: std::sync::Mutex<Vec<(std::sync::Arc<str>, Idle)>> = std::sync::Mutex::new(Vec::new());
static POOL_SIZE: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_POOL_SIZE);

/// Default idle connections kept per database (`--database-pool-size`).
pub const DEFAULT_POOL_SIZE: usize = 4;
/// Idle connections kept across every database the process has used.
const MAX_IDLE_TOTAL: usize = 16;

/// How many idle connections each database keeps for reuse (0: none).
pub fn set_pool_size(n: usize) {
    POOL_SIZE.store(n, std::sync::atomic::Ordering::Relaxed);
}

static CHECKED: std::sync::Mutex<Vec<std::sync::Arc<str>>> = std::sync::Mutex::new(Vec::new());

fn checked() -> std::sync::MutexGuard<'static, Vec<std::sync::Arc<str>>> {
    CHECKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pool_size() -> usize {
    POOL_SIZE.load(std::sync::atomic::Ordering::Relaxed)
}

fn idle() -> std::sync::MutexGuard<'static, Vec<(std::sync::Arc<str>, Idle)>> {
    IDLE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PgConn {
    /// A connection to `target`: an idle one made from the same settings if there is one,
    /// else a new one.
    pub fn connect(target: &PgTarget) -> PgResult<PgConn> {
        let reused = {
            let mut idle = idle();
            idle.iter()
                .position(|(k, _)| *k == target.pool_key)
                .map(|i| idle.swap_remove(i).1)
        };
        if let Some((requests, replies, thread)) = reused {
            return Ok(PgConn {
                requests: Some(requests),
                replies,
                thread: Some(thread),
                pool_key: target.pool_key.clone(),
                broken: std::cell::Cell::new(false),
            });
        }
        let (requests, inbox) = channel::<Request>();
        let (outbox, replies) = channel::<PgResult<Reply>>();
        let pool_key = target.pool_key.clone();
        let target = target.clone();
        let thread = std::thread::Builder::new()
            .name("seliq-postgres".to_owned())
            .spawn(move || Worker::run(target, inbox, outbox))
            .map_err(|e| PgError::new(format!("cannot start the connection thread: {e}")))?;
        let conn = PgConn {
            requests: Some(requests),
            replies,
            thread: Some(thread),
            pool_key,
            broken: std::cell::Cell::new(false),
        };
        // The worker connects first and answers with the outcome.
        match conn.replies.recv() {
            Ok(Ok(_)) => Ok(conn),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PgError::new("the connection thread stopped")),
        }
    }

    fn ask(&self, r: Request) -> PgResult<Reply> {
        let Some(requests) = &self.requests else {
            return Err(PgError::new("the connection is closed"));
        };
        let reply = requests
            .send(r)
            .map_err(|_| PgError::new("the connection thread stopped"))
            .and_then(|()| {
                self.replies
                    .recv()
                    .map_err(|_| PgError::new("the connection thread stopped"))?
            });
        if reply.is_err() {
            self.broken.set(true);
        }
        reply
    }

    pub fn begin(&self, how: Begin) -> PgResult<()> {
        self.ask(Request::Begin(how)).map(|_| ())
    }

    pub fn finish(&self, commit: bool) -> PgResult<()> {
        self.ask(Request::Finish(commit)).map(|_| ())
    }

    pub fn batch(&self, sql: &str) -> PgResult<()> {
        self.ask(Request::Batch(sql.to_owned())).map(|_| ())
    }

    pub fn execute(&self, sql: &str, args: &[Value]) -> PgResult<usize> {
        match self.ask(Request::Execute(sql.to_owned(), args.to_vec()))? {
            Reply::Changed(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(PgError::new("unexpected reply")),
        }
    }

    pub fn query(&self, sql: &str, args: &[Value]) -> PgResult<Vec<Vec<Value>>> {
        match self.ask(Request::Query(sql.to_owned(), args.to_vec()))? {
            Reply::Rows(rows) => Ok(rows),
            _ => Err(PgError::new("unexpected reply")),
        }
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Every transaction has ended by now (a `Tx` commits or rolls back before it goes), so
        // a connection that never failed is clean for the next handle.
        if !self.broken.get()
            && let (Some(requests), Some(thread)) = (self.requests.take(), self.thread.take())
        {
            let mut idle = idle();
            if idle.iter().filter(|(k, _)| *k == self.pool_key).count() < pool_size() {
                let (_, replies) = std::sync::mpsc::channel();
                let replies = std::mem::replace(&mut self.replies, replies);
                idle.push((self.pool_key.clone(), (requests, replies, thread)));
                // A process that has used many databases (tests, `migrate`) keeps the newest.
                let evicted: Vec<_> = if idle.len() > MAX_IDLE_TOTAL {
                    let n = idle.len() - MAX_IDLE_TOTAL;
                    idle.drain(..n).collect()
                } else {
                    Vec::new()
                };
                drop(idle);
                for (_, (requests, _, thread)) in evicted {
                    drop(requests);
                    let _ = thread.join();
                }
                return;
            }
            drop(idle);
            self.requests = Some(requests);
            self.thread = Some(thread);
        }
        // Closing the channel ends the worker, which closes the connection.
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writers of one schema wait for each other on this advisory lock (with the schema's hash as
/// the second key), as SQLite's `BEGIN IMMEDIATE` makes them wait for the file's write lock.
const WRITE_LOCK: i32 = 0x5e11;
/// Schema migrations of one schema, so replicas starting together migrate once.
const MIGRATE_LOCK: i32 = 0x5e12;

struct Worker {
    target: PgTarget,
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Worker {
    fn run(target: PgTarget, inbox: Receiver<Request>, outbox: Sender<PgResult<Reply>>) {
        let client = match target.connect() {
            Ok(c) => c,
            Err(e) => {
                let _ = outbox.send(Err(e.into()));
                return;
            }
        };
        if outbox.send(Ok(Reply::Done)).is_err() {
            return;
        }
        let mut w = Worker {
            target,
            client,
            statements: HashMap::new(),
        };
        for request in inbox {
            let reply = w.handle(request);
            if outbox.send(reply).is_err() {
                return;
            }
        }
    }

    fn handle(&mut self, request: Request) -> PgResult<Reply> {
        match request {
            Request::Begin(how) => {
                if self.client.is_closed() {
                    self.client = self.target.connect()?;
                    self.statements.clear();
                }
                let sql = match how {
                    Begin::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned(),
                    Begin::Write => format!(
                        "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK}, hashtext(current_schema()))"
                    ),
                    Begin::Rows => "BEGIN ISOLATION LEVEL READ COMMITTED".to_owned(),
                    Begin::Migrate => format!(
                        "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({MIGRATE_LOCK}, hashtext(current_schema()))"
                    ),
                };
                match self.client.batch_execute(&sql) {
                    Ok(()) => {}
                    // The server went away while this connection sat idle (a restart, a
                    // failover, `pg_terminate_backend`): nothing has happened in this transaction
                    // yet, so open a new connection and begin there.
                    Err(e)
                        if self.client.is_closed()
                            || e.as_db_error().is_none_or(|d| {
                                // admin_shutdown, crash_shutdown, cannot_connect_now; and the
                                // connection_exception class.
                                let code = d.code().code();
                                code.starts_with("57P") || code.starts_with("08")
                            }) =>
                    {
                        tracing::debug!(error = %e, "PostgreSQL connection lost while idle; reconnecting");
                        self.client = self.target.connect()?;
                        self.statements.clear();
                        self.client.batch_execute(&sql)?;
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok(Reply::Done)
            }
            Request::Finish(commit) => {
                if self.client.is_closed() {
                    return if commit {
                        Err(PgError::new(
                            "the connection to PostgreSQL broke before the commit; nothing was written",
                        ))
                    } else {
                        Ok(Reply::Done)
                    };
                }
                self.client
                    .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })?;
                Ok(Reply::Done)
            }
            Request::Batch(sql) => {
                self.client.batch_execute(&sql)?;
                Ok(Reply::Done)
            }
            Request::Execute(sql, args) => {
                let stmt = self.statement(&sql)?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                Ok(Reply::Changed(self.client.execute(&stmt, &params)?))
            }
            Request::Query(sql, args) => {
                let stmt = self.statement(&sql)?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                let rows = self.client.query(&stmt, &params)?;
                rows.iter()
                    .map(row_values)
                    .collect::<PgResult<_>>()
                    .map(Reply::Rows)
            }
        }
    }

    /// A prepared statement per SQL text, kept for the life of the connection.
    fn statement(&mut self, sql: &str) -> PgResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(&placeholders(sql))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// SQLite's `?N` as PostgreSQL's `$N`, outside quoted text.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn row_values(row: &postgres::Row) -> PgResult<Vec<Value>> {
    let get_err = |e: postgres::Error| PgError::new(format!("a column does not decode: {e}"));
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            Ok(match *ty {
                Type::INT8 => row
                    .try_get::<_, Option<i64>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, |v| Value::Int(i64::from(v))),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, |v| Value::Int(i64::from(v))),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, |v| Value::Int(i64::from(v))),
                Type::BYTEA => row
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, Value::Blob),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
                    .try_get::<_, Option<String>>(i)
                    .map_err(get_err)?
                    .map_or(Value::Null, Value::Text),
                ref other => {
                    return Err(PgError::new(format!(
                        "column {i} has type {other}, which the store does not read"
                    )));
                }
            })
        })
        .collect()
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                ref other => Err(format!("an integer cannot be sent as {other}").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes_only() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE x = ?1 AND y = '?2' AND z = ?12"),
            "SELECT a FROM t WHERE x = $1 AND y = '?2' AND z = $12"
        );
    }

    #[test]
    fn sslrootcert_is_taken_out_of_the_url_and_needs_sslmode_require() {
        let (url, root) = take_query_param(
            "postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
            "sslrootcert",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=require&application_name=x");
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let e = PgTarget::parse("postgres://u@h/db?sslrootcert=/etc/ca.pem").unwrap_err();
        assert!(e.contains("sslmode"), "{e}");
        assert_eq!(
            take_query_param("postgres://u@h/db", "sslrootcert").unwrap(),
            ("postgres://u@h/db".to_owned(), None)
        );
    }

    #[test]
    fn a_url_with_a_password_is_shown_without_it() {
        let t = PgTarget::parse("postgres://alice:hunter2@db.example:6432/seliq").unwrap();
        assert_eq!(t.to_string(), "postgres://alice@db.example:6432/seliq");
        assert!(!format!("{t:?}").contains("hunter2"));
        let e = PgTarget::parse("postgres://alice:hunter2@db.example:notaport/x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
