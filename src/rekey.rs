//! Master-key rotation: rewrap every workspace DEK under a new KEK in one transaction, then
//! switch the key file — in an order that never leaves the data unreadable.
//!
//! Order when the key lives in `<data-dir>/master.key`:
//! 1. write the new key to `master.key.next` (atomic, 0600);
//! 2. commit the rewrap (all DEKs or none);
//! 3. rename `master.key.next` over `master.key`.
//!
//! A crash between 2 and 3 leaves DEKs under the new key and `master.key.next` beside the old
//! file; [`finish_interrupted_rotation`] completes step 3 the next time the gateway opens.
//!
//! Races. Steps 1–3 run under an exclusive lock on `<data-dir>/rotation.lock`, which the
//! completion at open also takes, so no process mistakes a rotation in flight for a crashed one.
//! A process that loaded the old key before the rotation and writes afterwards is refused inside
//! its own write transaction (`Vault::ensure_current` re-reads the current key id), so no data
//! key is ever wrapped under a retired master key.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::app::{App, Config, MASTER_KEY_ENV};
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::vault::MasterKey;

fn next_path(config: &Config) -> PathBuf {
    let mut p = config.key_path().into_os_string();
    p.push(".next");
    PathBuf::from(p)
}

/// Hold the data dir's rotation lock until the returned file is dropped.
fn rotation_lock(config: &Config) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config.data_dir.join("rotation.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::Runtime(format!("cannot open {}: {e}", path.display())))?;
    file.lock()
        .map_err(|e| Error::Runtime(format!("cannot lock {}: {e}", path.display())))?;
    Ok(file)
}

/// Remove temp files an interrupted atomic write of `master.key.next` left behind (`fs_atomic`
/// names them `.master.key.next.tmp-<uuid>`). Called with the rotation lock held, so none of
/// them belongs to a write in progress.
fn clean_stray_temp_files(config: &Config) {
    let Ok(entries) = std::fs::read_dir(&config.data_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".master.key") && name.contains(".tmp-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Rewrap all DEKs under `new`. `fail_after` injects a failure after that many DEKs (tests).
pub fn rotate_master_key(
    app: &mut App,
    new: &MasterKey,
    fail_after: Option<usize>,
) -> Result<usize> {
    if new.id() == app.vault.master().id() {
        return Err(Error::Invalid(format!(
            "the new master key is the current one (key id {}); generate a new key",
            new.id()
        )));
    }
    let uses_file = std::env::var_os(MASTER_KEY_ENV).is_none();
    let _lock = rotation_lock(&app.config)?;
    clean_stray_temp_files(&app.config);
    let next = next_path(&app.config);
    if uses_file {
        new.write_file(&next)?;
    }
    let vault = app.vault.clone();
    let who = app.who.clone();
    let old_id = vault.master().id().to_owned();
    let result =
        app.store.write(|tx| {
            let n = vault.rotate_master_key(tx, new, fail_after)?;
            // Every chain, deleted workspaces' included: each must tell its own story.
            for ws in tx.list_workspaces(true)? {
                audit::append(
                tx,
                ws.id,
                &who,
                Event::new(Action::VaultMasterKeyRotated, "master key", Outcome::Success).details(
                    json!({"old_key_id": old_id, "new_key_id": new.id(), "data_keys_rewrapped": n}),
                ),
            )?;
            }
            Ok::<_, Error>(n)
        });
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            if uses_file {
                let _ = std::fs::remove_file(&next);
            }
            return Err(e);
        }
    };
    if uses_file {
        promote(&next, &app.config.key_path())?;
    }
    Ok(n)
}

fn promote(next: &Path, key: &Path) -> Result<()> {
    std::fs::rename(next, key)
        .and_then(|()| std::fs::File::open(key.parent().unwrap_or(Path::new(".")))?.sync_all())
        .map_err(|e| {
            Error::Runtime(format!(
                "cannot move {} over {}: {e}",
                next.display(),
                key.display()
            ))
        })
}

/// Complete a rotation interrupted between commit and rename (see the module docs).
pub fn finish_interrupted_rotation(
    config: &Config,
    store: &mut Store,
    current: &MasterKey,
) -> Result<Option<MasterKey>> {
    let next = next_path(config);
    if std::env::var_os(MASTER_KEY_ENV).is_some() || !next.exists() {
        return Ok(None);
    }
    // A rotation may be in flight rather than crashed: wait for it, then look again.
    let _lock = rotation_lock(config)?;
    clean_stray_temp_files(config);
    if !next.exists() {
        return Ok(None);
    }
    let candidate = MasterKey::read_file(&next)?;
    let (ids, deks) =
        store.read(|tx| Ok::<_, Error>((tx.gateway_key_kek_ids()?, tx.all_deks()?)))?;
    let ids: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain(deks.iter().map(|d| d.kek_id.as_str()))
        .collect();
    let under_next = ids.contains(&candidate.id());
    let under_current = ids.contains(&current.id());
    if under_next && !under_current {
        promote(&next, &config.key_path())?;
        return Ok(Some(candidate));
    }
    // The rewrap never committed: the leftover file is useless.
    let _ = std::fs::remove_file(&next);
    Ok(None)
}
