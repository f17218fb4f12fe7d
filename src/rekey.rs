//! Master-key rotation: rewrap every workspace DEK under a new KEK in one transaction, then
//! switch the key file — in an order that never leaves the data unreadable.
//!
//! Order when the key lives in `<data-dir>/master.key`:
//! 1. write the new key to `master.key.next` (atomic, 0600);
//! 2. commit the rewrap (all DEKs or none);
//! 3. rename `master.key.next` over `master.key`.
//!
//! A crash between 2 and 3 leaves DEKs under the new key and `master.key.next` beside the old
//! file; [`crate::key_files::finish_interrupted_rotation`] completes step 3 the next time the gateway opens.
//!
//! Races. Steps 1–3 run under an exclusive lock on `<data-dir>/rotation.lock`, which the
//! completion at open also takes, so no process mistakes a rotation in flight for a crashed one.
//! A process that loaded the old key before the rotation and writes afterwards is refused inside
//! its own write transaction (`Vault::ensure_current` re-reads the current key id), so no data
//! key is ever wrapped under a retired master key.

use serde_json::json;

use crate::app::{App, MASTER_KEY_ENV};
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::key_files::{clean_stray_temp_files, next_path, promote, rotation_lock};
use crate::vault::{FailAfter, MasterKey};

/// Rewrap all DEKs under `new`. `hook` injects a failure after that many DEKs (debug builds).
pub fn rotate_master_key(app: &mut App, new: &MasterKey, hook: FailAfter) -> Result<usize> {
    if new.id() == app.vault().master().id() {
        return Err(Error::Invalid(format!(
            "the new master key is the current one (key id {}); generate a new key",
            new.id()
        )));
    }
    let uses_file = std::env::var_os(MASTER_KEY_ENV).is_none();
    let _lock = rotation_lock(app.config())?;
    clean_stray_temp_files(app.config());
    let next = next_path(app.config());
    if uses_file {
        new.write_file(&next)?;
    }
    let vault = app.vault().clone();
    let who = app.who().clone();
    let old_id = vault.master().id().to_owned();
    let result =
        app.store().write(|tx| {
            let n = vault.rotate_master_key(tx, new, hook)?;
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
        promote(&next, &app.config().key_path())?;
    }
    Ok(n)
}
