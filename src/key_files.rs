//! The master key's files in the data dir during a rotation (see [`crate::rekey`] for the
//! order of steps): `master.key.next`, the rotation lock, and the completion at open of a
//! rotation interrupted between its commit and its rename. Apart from `rekey` so opening the
//! gateway (`app`) can finish a rotation without depending on the rotation command.

use std::path::{Path, PathBuf};

use crate::config::{Config, MASTER_KEY_ENV};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::vault::MasterKey;

pub(crate) fn next_path(config: &Config) -> PathBuf {
    let mut p = config.key_path().into_os_string();
    p.push(".next");
    PathBuf::from(p)
}

/// Hold the data dir's rotation lock until the returned file is dropped.
pub(crate) fn rotation_lock(config: &Config) -> Result<std::fs::File> {
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
pub(crate) fn clean_stray_temp_files(config: &Config) {
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

pub(crate) fn promote(next: &Path, key: &Path) -> Result<()> {
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
