//! A PostgreSQL schema of its own for one test, on the local server (or the one
//! `SELIQ_TEST_POSTGRES_URL` names), dropped when the test ends.

use postgres::{Client, NoTls};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct PgSchema {
    /// The database URL the gateway is given: the server, with this schema as its search path.
    pub url: String,
    base: String,
    pub schema: String,
}

/// Run `f` with a client on a plain thread: the synchronous client refuses to run inside the
/// tests' tokio runtimes.
fn with_client<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut Client) -> T + Send + 'static,
) -> T {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut c = Client::connect(&url, NoTls).expect("connect to the test PostgreSQL");
        f(&mut c)
    })
    .join()
    .expect("PostgreSQL client thread")
}

impl PgSchema {
    pub fn new() -> PgSchema {
        let base = std::env::var("SELIQ_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let schema = format!("it_{}", uuid::Uuid::new_v4().simple());
        let create = format!("CREATE SCHEMA {schema}");
        with_client(&base, move |c| {
            c.batch_execute(&create).expect("create schema")
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        PgSchema {
            url: format!("{base}{sep}options=-csearch_path%3D{schema}&application_name={schema}"),
            base,
            schema,
        }
    }

    /// Run `f` with a client whose search path is this schema.
    pub fn client<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> T + Send + 'static,
    ) -> T {
        with_client(&self.url, f)
    }

    /// One integer from a query in this schema.
    pub fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_owned();
        self.client(move |c| c.query_one(&sql, &[]).expect("query").get::<_, i64>(0))
    }

    /// Close every server connection the gateway holds to this database (a failover, a
    /// restarted server), except this one's own.
    pub fn terminate_gateway_connections(&self) -> i64 {
        self.client(|c| {
            c.query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = current_schema() AND pid <> pg_backend_pid()",
                &[],
            )
            .expect("terminate")
            .get::<_, i64>(0)
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let base = self.base.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = Client::connect(&base, NoTls) {
                let _ = c.batch_execute(&drop);
            }
        })
        .join();
    }
}

/// A fresh master key (base64 of 32 random bytes) for replicas that must share one.
pub fn master_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
