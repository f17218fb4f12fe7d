//! The opened gateway: data dir, store, vault and who is acting. Built once per command.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use uuid::Uuid;

use crate::audit::Attribution;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::vault::{MasterKey, Vault};

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
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub vault: Vault,
    pub who: Attribution,
}

/// The actor: `--actor`, else `SELIQ_ACTOR` (both via clap), else the OS user.
pub fn default_actor() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The master key: `SELIQ_MASTER_KEY` (base64) when set, else `<data-dir>/master.key`.
pub fn load_master_key(config: &Config) -> Result<MasterKey> {
    if let Some(v) = std::env::var_os(MASTER_KEY_ENV) {
        let v = SecretString::from(v.to_string_lossy().into_owned());
        return Ok(MasterKey::from_base64(&v, MASTER_KEY_ENV)?);
    }
    let path = config.key_path();
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "no master key: {} does not exist and {MASTER_KEY_ENV} is not set",
            path.display()
        )));
    }
    Ok(MasterKey::read_file(&path)?)
}

impl App {
    /// Open an initialised data dir. Anything else is told to run `init` first (exit 2).
    pub fn open(config: Config) -> Result<App> {
        if config.database_url.as_deref().is_some_and(|u| !u.starts_with("sqlite:")) {
            return Err(Error::Invalid(format!(
                "database URL {:?} is not supported yet; this build stores data in SQLite (leave --database-url unset)",
                config.database_url.as_deref().unwrap_or_default()
            )));
        }
        let db = config.db_path();
        if !db.exists() {
            return Err(Error::NotInitialised(config.data_dir.display().to_string()));
        }
        let mut master = load_master_key(&config)?;
        let mut store = Store::open(&db)?;
        if let Some(finished) = crate::rekey::finish_interrupted_rotation(&config, &mut store, &master)? {
            master = finished;
        }
        let who = Attribution {
            actor: config.actor.clone(),
            request_id: Uuid::new_v4(),
            signer: crate::audit::CheckpointSigner::new(&master),
        };
        Ok(App {
            config,
            store,
            vault: Vault::new(master),
            who,
        })
    }
}

/// What `init` did.
#[derive(Debug, PartialEq, Eq)]
pub enum InitOutcome {
    Created { key_file: Option<PathBuf> },
    AlreadyInitialised,
}

/// Create the data dir (0700), the database and, unless `SELIQ_MASTER_KEY` is set, the key file
/// (0600). A second run changes nothing.
pub fn init(config: &Config) -> Result<InitOutcome> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    let dir = &config.data_dir;
    let db = config.db_path();
    let key = config.key_path();
    let env_key = std::env::var_os(MASTER_KEY_ENV).is_some();
    if db.exists() && (env_key || key.exists()) {
        // Validate rather than trust: a broken key or database must not be reported as fine.
        load_master_key(config)?;
        Store::open(&db)?;
        return Ok(InitOutcome::AlreadyInitialised);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Runtime(format!("cannot create data dir {}: {e}", dir.display())))?;
    // `mode` only applies to directories it creates; tighten an existing empty one too.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let mut key_file = None;
    if env_key {
        load_master_key(config)?;
    } else if key.exists() {
        MasterKey::read_file(&key)?;
    } else {
        MasterKey::generate()?.write_file(&key)?;
        key_file = Some(key);
    }
    Store::create(&db)?;
    Ok(InitOutcome::Created { key_file })
}

/// `true` when `path` looks initialised (used by `demo` to reuse a dir).
pub fn is_initialised(data_dir: &Path) -> bool {
    data_dir.join(DB_FILE).exists()
}
