//! The opened gateway: data dir, store, vault and who is acting. Built once per command.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use uuid::Uuid;

use crate::audit::Attribution;
use crate::error::{Error, Result};
use crate::store::{Database, Store};
use crate::vault::{MasterKey, Vault};

pub use crate::config::{Config, DB_FILE, KEY_FILE, MASTER_KEY_ENV};

/// An opened gateway. Its parts are reached through methods, so a caller cannot swap in another
/// vault or store under an opened attribution.
pub struct App {
    config: Config,
    store: Store,
    vault: Vault,
    who: Attribution,
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
    /// An opened gateway from its parts, for a server that opens one store per request over a
    /// vault and signer it opened once (`api`).
    pub(crate) fn from_parts(config: Config, store: Store, vault: Vault, who: Attribution) -> App {
        App {
            config,
            store,
            vault,
            who,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Who acts: the actor, the request id of this command, and the audit signer.
    pub fn who(&self) -> &Attribution {
        &self.who
    }

    /// Open an initialised data dir. Anything else is told to run `init` first (exit 2).
    pub fn open(config: Config) -> Result<App> {
        let database = config.database().map_err(Error::Invalid)?;
        if let Database::Sqlite(db) = &database
            && !db.exists()
        {
            return Err(Error::NotInitialised(config.data_dir.display().to_string()));
        }
        let mut master = load_master_key(&config)?;
        let mut store = Store::connect(&database)?;
        if let Some(finished) =
            crate::key_files::finish_interrupted_rotation(&config, &mut store, &master)?
        {
            master = finished;
        }
        check_master_key_matches(&mut store, &master)?;
        let vault = Vault::new(master);
        let signer = audit_signer(&mut store, &vault)?;
        let who = Attribution {
            actor: config.actor.clone(),
            request_id: Uuid::new_v4(),
            signer,
        };
        Ok(App {
            config,
            store,
            vault,
            who,
        })
    }
}

/// The audit signer, creating the audit key on the first open of a data dir (see
/// `Vault::audit_key`). A data dir that already holds workspaces was signed by older builds
/// under the key derived from its master key, and keeps that key.
fn audit_signer(store: &mut Store, vault: &Vault) -> Result<crate::audit::CheckpointSigner> {
    let existing = store.read(|tx| Ok::<_, Error>(vault.existing_audit_key(tx)?))?;
    let (key_id, key) = match existing {
        Some(k) => k,
        None => store.write(|tx| {
            let legacy = !tx.list_workspaces(true)?.is_empty();
            Ok::<_, Error>(vault.audit_key(tx, legacy)?)
        })?,
    };
    Ok(crate::audit::CheckpointSigner::from_key(key, key_id))
}

/// Refuse a master key that is not the one this data dir's data keys are wrapped under, before
/// anything is written: otherwise a new workspace would get a DEK under a second KEK and the
/// data dir would be split across two master keys.
fn check_master_key_matches(store: &mut Store, master: &MasterKey) -> Result<()> {
    let ids = store.read(|tx| {
        let mut ids = tx.dek_key_ids()?;
        ids.extend(tx.gateway_key_kek_ids()?);
        Ok::<_, Error>(ids)
    })?;
    match ids.iter().find(|id| id.as_str() != master.id()) {
        None => Ok(()),
        Some(other) => Err(Error::Invalid(format!(
            "master key {} is not the key of this data dir (its data keys are wrapped under key {other}); set {MASTER_KEY_ENV} or master.key to the key it was initialised with",
            master.id()
        ))),
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

    let database = config.database().map_err(Error::Invalid)?;
    let dir = &config.data_dir;
    let key = config.key_path();
    let env_key = std::env::var_os(MASTER_KEY_ENV).is_some();
    let exists = Store::exists(&database)?;
    if exists && !env_key && !key.exists() {
        // Minting a key now would orphan every data key already in the database.
        return Err(Error::Invalid(format!(
            "{database} exists but there is no master key: set {MASTER_KEY_ENV} to the key it was initialised with, or restore {}",
            key.display()
        )));
    }
    // The data dir holds the spool and the locks even when the database is elsewhere: a second
    // replica's `init` on an initialised PostgreSQL database still makes its own.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Runtime(format!("cannot create data dir {}: {e}", dir.display())))?;
    // `mode` only applies to directories it creates; tighten an existing empty one too.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if exists {
        // Validate rather than trust: a broken key or database must not be reported as fine.
        let master = load_master_key(config)?;
        let mut store = Store::connect(&database)?;
        check_master_key_matches(&mut store, &master)?;
        return Ok(InitOutcome::AlreadyInitialised);
    }
    let mut key_file = None;
    if env_key {
        load_master_key(config)?;
    } else if key.exists() {
        MasterKey::read_file(&key)?;
    } else {
        MasterKey::generate()?.write_file(&key)?;
        key_file = Some(key);
    }
    Store::create_in(&database)?;
    Ok(InitOutcome::Created { key_file })
}

/// `true` when `path` looks initialised (used by `demo` to reuse a dir).
pub fn is_initialised(data_dir: &Path) -> bool {
    data_dir.join(DB_FILE).exists()
}
