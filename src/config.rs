//! Where the gateway's data lives and who acts: resolved from flags and environment before
//! anything is opened.

use std::path::PathBuf;

pub const DB_FILE: &str = "seliq.db";
pub const KEY_FILE: &str = "master.key";
pub const MASTER_KEY_ENV: &str = "SELIQ_MASTER_KEY";

/// Global settings resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub actor: String,
}

impl Config {
    /// `<data-dir>/seliq.db`, or the file a `sqlite:PATH` database URL names.
    pub fn db_path(&self) -> PathBuf {
        match self.database_url.as_deref().and_then(sqlite_path) {
            Some(p) => p,
            None => self.data_dir.join(DB_FILE),
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }
}

/// The file of a `sqlite:PATH` or `sqlite://PATH` URL.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}
