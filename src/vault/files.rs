//! Key files: permission checks on read, atomic writes (temp, fsync, rename, fsync directory).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::VaultError;

/// Refuse a key file that group or others can read or write.
pub fn check_private(path: &Path) -> Result<(), VaultError> {
    let meta = fs::metadata(path).map_err(|e| VaultError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(VaultError::KeyFilePermissions {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// Write `bytes` to `path` with mode 0600 so that a crash leaves either the old file or the new
/// one, never a torn mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    crate::fs_atomic::write_atomic(path, bytes).map_err(|e| VaultError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_refuses_group_readable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        write_atomic(&p, b"k").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        check_private(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_private(&p).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && err.contains("master.key"),
            "{err}"
        );
    }
}
