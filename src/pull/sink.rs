//! Where alerts go: stdout, or a file appended with exactly-once recovery.
//!
//! A file sink's committed length lives in the store and moves in the same transaction as the
//! checkpoint of each batch. On open, anything beyond it is an uncommitted (possibly torn) batch
//! from a crashed run, and is truncated before the same batch is fetched and written again.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::Store;

pub enum Sink {
    /// No local copy: the alerts go to external sinks only (`pull --sink`).
    None,
    Stdout(std::io::Stdout),
    File {
        file: File,
        path: PathBuf,
        key: String,
        len: u64,
    },
}

impl Sink {
    pub fn stdout() -> Sink {
        Sink::Stdout(std::io::stdout())
    }

    /// Open (or create) `path` for appending, recovering from a crash between write and commit.
    /// Fails before any vendor is called if the file cannot be written.
    pub fn open_file(path: &Path, store: &mut Store) -> Result<Sink> {
        let io = |e: std::io::Error| {
            Error::Runtime(format!("cannot write output file {}: {e}", path.display()))
        };
        // A new file is created 0600: alerts carry client data and are for the ingestion user
        // alone (an existing file keeps the mode its owner gave it).
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        // One writer per file: a second `pull` (or `serve`) on it would interleave batches and
        // corrupt both processes' committed offsets. The lock lives as long as the handle.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Conflict(format!(
                    "another process is writing output file {}; wait for it or choose another file",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        if !existed {
            // The new directory entry must be durable before a checkpoint says it was written.
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let key = sink_key(store, &std::fs::canonicalize(path).map_err(io)?);
        let len = file.metadata().map_err(io)?.len();
        let committed = store.read(|tx| Ok::<_, Error>(tx.sink_offset(&key)?))?;
        let len = match committed {
            Some(c) if len > c => {
                tracing::warn!(file = %key, committed = c, found = len, "truncating an uncommitted batch left by an interrupted pull");
                file.set_len(c).map_err(io)?;
                file.sync_all().map_err(io)?;
                c
            }
            // A file that existed but is shorter than what was committed lost committed alerts
            // outside the gateway (truncated by hand, copytruncate): refuse rather than write
            // on and let the offsets lie. A removed file is a deliberate fresh start.
            Some(c) if len < c && existed => {
                return Err(Error::Runtime(format!(
                    "output file {key} is shorter than its committed length ({len} bytes, {c} committed: {} bytes of delivered alerts are missing); it was truncated outside the gateway. Move it aside and pull into a new file",
                    c - len
                )));
            }
            _ => len,
        };
        // Record the starting length before the first write, so even the first batch of a new
        // file is recoverable.
        store.write(|tx| Ok::<_, Error>(tx.set_sink_offset(&key, len)?))?;
        file.seek(SeekFrom::Start(len)).map_err(io)?;
        Ok(Sink::File {
            file,
            path: path.to_owned(),
            key,
            len,
        })
    }

    /// Write one batch and make it durable (flush; fsync for a file). Returns the file length
    /// after the batch (0 for stdout).
    pub fn write_batch(&mut self, bytes: &[u8]) -> Result<u64> {
        match self {
            Sink::None => Ok(0),
            Sink::Stdout(out) => {
                let mut lock = out.lock();
                lock.write_all(bytes)
                    .and_then(|()| lock.flush())
                    .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
                Ok(0)
            }
            // Nothing to make durable (a batch that only moves a cursor, as most idle `serve`
            // polls of Splunk): no fsync. What was written before was synced by its own batch.
            Sink::File { len, .. } if bytes.is_empty() => Ok(*len),
            Sink::File {
                file, path, len, ..
            } => {
                if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_data()) {
                    // Cut a torn write off again, so the next batch does not land after it.
                    let _ = file
                        .set_len(*len)
                        .and_then(|()| file.seek(SeekFrom::Start(*len)));
                    return Err(Error::Runtime(format!(
                        "cannot write output file {}: {e}",
                        path.display()
                    )));
                }
                *len += bytes.len() as u64;
                Ok(*len)
            }
        }
    }

    /// The file's length as written (0 for stdout).
    pub fn written_len(&self) -> u64 {
        match self {
            Sink::None | Sink::Stdout(_) => 0,
            Sink::File { len, .. } => *len,
        }
    }

    /// Take back a batch whose checkpoint did not commit: the file returns to `to`, the length
    /// the store records, so committed offsets never fall behind or ahead of the file.
    pub fn truncate_to(&mut self, to: u64) -> Result<()> {
        if let Sink::File {
            file, path, len, ..
        } = self
        {
            file.set_len(to)
                .and_then(|()| file.seek(SeekFrom::Start(to)).map(drop))
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    Error::Runtime(format!(
                        "cannot truncate output file {} after a failed commit: {e}",
                        path.display()
                    ))
                })?;
            *len = to;
        }
        Ok(())
    }

    /// The store key of a file sink (see [`sink_key`]).
    pub fn key(&self) -> Option<&str> {
        match self {
            Sink::None | Sink::Stdout(_) => None,
            Sink::File { key, .. } => Some(key),
        }
    }
}

/// The store key of a file sink: its canonical path, and on PostgreSQL, where replicas on
/// several hosts share one database, this host's name before it, so two hosts that spool to the
/// same path never read or move each other's committed lengths.
pub(crate) fn sink_key(store: &Store, canonical: &Path) -> String {
    if store.database().is_postgres() {
        format!("{}:{}", host_name(), canonical.display())
    } else {
        canonical.display().to_string()
    }
}

/// The path of a sink key written by this host (`None`: another host's file).
pub(crate) fn key_path<'k>(store: &Store, key: &'k str) -> Option<&'k Path> {
    if store.database().is_postgres() {
        let host = host_name();
        key.strip_prefix(host.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .map(Path::new)
    } else {
        Some(Path::new(key))
    }
}

/// This host's name (the kernel's), `localhost` when it cannot be read.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
