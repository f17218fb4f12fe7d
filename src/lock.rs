//! Who may poll a data dir's integrations: one `serve`, or any number of one-shot `pull`s, never
//! both. An advisory lock on `<data-dir>/pollers.lock`: `serve` holds it exclusively (and writes
//! who it is into it), each `pull` holds it shared. The kernel drops the lock when the process
//! dies, kill -9 included, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const LOCK_FILE: &str = "pollers.lock";

/// Held for as long as the process polls; dropping it releases the lock.
#[derive(Debug)]
pub struct PollerLock {
    _file: File,
}

fn open(data_dir: &Path) -> Result<(File, PathBuf)> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::Runtime(format!("cannot open {}: {e}", path.display())))?;
    Ok((file, path))
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = Read::by_ref(file).take(256).read_to_string(&mut s);
    let s = s.trim();
    if s.is_empty() {
        "a `pull`".to_owned()
    } else {
        s.chars().filter(|c| !c.is_control()).collect()
    }
}

/// For `serve`: exclusive. Refused (exit 3) while another `serve` or any `pull` runs.
pub fn serve(data_dir: &Path, listen: &str) -> Result<PollerLock> {
    let (mut file, path) = open(data_dir)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Conflict(format!(
                "{} is polling the integrations of data dir {}; refusing to start a second poller",
                holder(&mut file),
                data_dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::Runtime(format!(
                "cannot lock {}: {e}",
                path.display()
            )));
        }
    }
    let me = format!(
        "`serve` (pid {}, listening on {listen})",
        std::process::id()
    );
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| file.write_all(me.as_bytes()))
        .map_err(|e| Error::Runtime(format!("cannot write {}: {e}", path.display())))?;
    Ok(PollerLock { _file: file })
}

/// For `pull`: shared with other pulls. Refused (exit 3) while `serve` runs.
pub fn pull(data_dir: &Path) -> Result<PollerLock> {
    let (mut file, path) = open(data_dir)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(PollerLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Conflict(format!(
            "{} holds the integrations of data dir {}; stop it, or let it deliver (pull exits without polling)",
            holder(&mut file),
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Runtime(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_excludes_pull_and_another_serve_and_pulls_share() {
        let dir = tempfile::tempdir().unwrap();
        let a = pull(dir.path()).unwrap();
        let b = pull(dir.path()).unwrap();
        let refused = serve(dir.path(), "127.0.0.1:9477").unwrap_err();
        assert_eq!(refused.exit_code(), 3);
        drop((a, b));
        let s = serve(dir.path(), "127.0.0.1:9477").unwrap();
        let e = pull(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`serve` (pid"), "{e}");
        assert_eq!(serve(dir.path(), "x").unwrap_err().exit_code(), 3);
        drop(s);
        pull(dir.path()).unwrap();
    }
}
