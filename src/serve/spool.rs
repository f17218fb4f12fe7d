//! The default delivery of `serve`: one rotating NDJSON file per workspace under
//! `<data-dir>/spool/<workspace>/`, named `alerts-<UTC date>.ndjson` and, past the size limit,
//! `alerts-<UTC date>.<n>.ndjson`. Each file is a [`Sink`] with the same exactly-once rule as
//! `pull --output`: its committed length is stored with every checkpoint, and anything beyond it
//! is cut off when the file is opened again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::pull::Sink;
use crate::store::Store;

pub struct Spool {
    root: PathBuf,
    max_bytes: u64,
    open: HashMap<String, Current>,
}

struct Current {
    date: String,
    index: u32,
    sink: Sink,
}

fn file_name(date: &str, index: u32) -> String {
    if index == 0 {
        format!("alerts-{date}.ndjson")
    } else {
        format!("alerts-{date}.{index}.ndjson")
    }
}

/// The highest index already used for `date` in `dir` (0 when none).
fn latest_index(dir: &Path, date: &str) -> u32 {
    let prefix = format!("alerts-{date}");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let rest = name.strip_prefix(&prefix)?.strip_suffix(".ndjson")?;
                    match rest {
                        "" => Some(0),
                        r => r.strip_prefix('.')?.parse::<u32>().ok(),
                    }
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

impl Spool {
    /// Create the spool root (0700) and recover every spool file the store knows: a crash may
    /// have left an uncommitted batch in a file this run would not reopen (yesterday's).
    pub fn open(root: PathBuf, max_bytes: u64, store: &mut Store) -> Result<Spool> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| Error::Runtime(format!("cannot create {}: {e}", root.display())))?;
        let canonical = std::fs::canonicalize(&root)
            .map_err(|e| Error::Runtime(format!("cannot resolve {}: {e}", root.display())))?;
        let known = store.read(|tx| Ok::<_, Error>(tx.sink_paths()?))?;
        for key in known {
            let Some(p) = crate::pull::sink::key_path(store, &key) else {
                continue;
            };
            if p.starts_with(&canonical) && p.exists() {
                // Opening recovers (truncates an uncommitted tail, refuses a short file).
                drop(Sink::open_file(p, store)?);
            }
        }
        Ok(Spool {
            root: canonical,
            max_bytes: max_bytes.max(1),
            open: HashMap::new(),
        })
    }

    /// The sink for `workspace`'s next batch at `now`: today's file, rotated to a new one when the
    /// UTC day changed or the current file reached the size limit.
    pub fn sink_for(
        &mut self,
        workspace: &str,
        now: DateTime<Utc>,
        store: &mut Store,
    ) -> Result<&mut Sink> {
        let date = now.format("%Y-%m-%d").to_string();
        let stale = match self.open.get(workspace) {
            None => true,
            Some(c) => c.date != date || c.sink.written_len() >= self.max_bytes,
        };
        if stale {
            let dir = self.root.join(workspace);
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| Error::Runtime(format!("cannot create {}: {e}", dir.display())))?;
                std::fs::File::open(&self.root)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| {
                        Error::Runtime(format!("cannot sync {}: {e}", self.root.display()))
                    })?;
            }
            let mut index = match self.open.get(workspace) {
                Some(c) if c.date == date => c.index + 1,
                _ => latest_index(&dir, &date),
            };
            let mut sink = Sink::open_file(&dir.join(file_name(&date, index)), store)?;
            // A reopened file of today may already be full.
            while sink.written_len() >= self.max_bytes {
                index += 1;
                sink = Sink::open_file(&dir.join(file_name(&date, index)), store)?;
            }
            self.open
                .insert(workspace.to_owned(), Current { date, index, sink });
        }
        Ok(&mut self
            .open
            .get_mut(workspace)
            .unwrap_or_else(|| unreachable!("inserted above"))
            .sink)
    }

    /// Close a workspace's file (its workspace was deleted).
    pub fn close(&mut self, workspace: &str) {
        self.open.remove(workspace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_day_and_size_and_resumes_the_latest_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("seliq.db")).unwrap();
        let root = dir.path().join("spool");
        let mut spool = Spool::open(root.clone(), 10, &mut store).unwrap();
        let day1: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        spool
            .sink_for("acme", day1, &mut store)
            .unwrap()
            .write_batch(b"0123456789ab\n")
            .unwrap();
        // Full: the next batch goes to .1
        let s = spool.sink_for("acme", day1, &mut store).unwrap();
        s.write_batch(b"x\n").unwrap();
        assert!(root.join("acme/alerts-2026-12-03.1.ndjson").exists());
        let day2: DateTime<Utc> = "2026-12-04T00:00:01Z".parse().unwrap();
        spool.sink_for("acme", day2, &mut store).unwrap();
        assert!(root.join("acme/alerts-2026-12-04.ndjson").exists());
        // A new process finds today's latest file (this one's locks go first).
        drop(spool);
        let mut again = Spool::open(root.clone(), 10, &mut store).unwrap();
        let s = again.sink_for("acme", day1, &mut store).unwrap();
        assert_eq!(
            s.written_len(),
            0,
            "the .1 file holds uncommitted bytes only: recovered to 0"
        );
        assert_eq!(latest_index(&root.join("acme"), "2026-12-03"), 1);
    }
}
