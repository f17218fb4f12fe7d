//! Where the gateway's data lives and who acts: resolved from flags and environment before
//! anything is opened.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::store::Database;

pub const DB_FILE: &str = "seliq.db";
pub const KEY_FILE: &str = "master.key";
pub const MASTER_KEY_ENV: &str = "SELIQ_MASTER_KEY";

/// Global settings resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `--database-url` / `SELIQ_DATABASE_URL`. Secret: a PostgreSQL URL may hold a password.
    pub database_url: Option<SecretString>,
    pub actor: String,
}

impl Config {
    /// The database: the URL's, else SQLite in the data dir. A URL that does not parse is one
    /// sentence that never repeats it.
    pub fn database(&self) -> Result<Database, String> {
        match &self.database_url {
            None => Ok(Database::Sqlite(self.data_dir.join(DB_FILE))),
            Some(url) => Database::parse(url.expose_secret())
                .map_err(|e| format!("--database-url (or SELIQ_DATABASE_URL): {e}")),
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }
}
