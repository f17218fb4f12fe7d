//! `serve` settings: defaults, then the TOML file (`--config`), then flags and `SELIQ_*`
//! variables (clap reads both), each later source winning. Unknown keys in the file are an
//! error naming them, so a typo never silently keeps a default.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::timespec::parse_span;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// The fewest poll slots `serve` sizes for itself.
pub const MIN_POLL_SLOTS: usize = 64;
/// The most poll slots, set or sized.
pub const MAX_POLL_SLOTS: usize = 4096;
/// Integrations per automatic poll slot. A poll takes about 2 s against the mocks and longer
/// against a real Splunk (a search job); one slot carries about 30 polls a minute at 2 s, so one
/// per 16 integrations keeps every 60 s interval with room for polls twice that slow.
pub const INTEGRATIONS_PER_POLL_SLOT: usize = 16;

impl ServeOptions {
    /// How many polls may run at once with `integrations` scheduled: the configured number, else
    /// one slot per [`INTEGRATIONS_PER_POLL_SLOT`] integrations within
    /// [`MIN_POLL_SLOTS`]..=[`MAX_POLL_SLOTS`] (64 slots up to 1,024 integrations, 625 at
    /// 10,000).
    pub fn poll_slots(&self, integrations: usize) -> usize {
        self.max_concurrent_polls.unwrap_or_else(|| {
            integrations
                .div_ceil(INTEGRATIONS_PER_POLL_SLOT)
                .clamp(MIN_POLL_SLOTS, MAX_POLL_SLOTS)
        })
    }
}
/// How long a replica's lease on an integration lasts without renewal (PostgreSQL only).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// Everything `serve` needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Metric labels carry no workspace slug (for deployments whose scrapers must not see them).
    pub hide_workspace_labels: bool,
    /// All alerts to stdout (at-least-once, as `pull`) instead of the spool.
    pub stdout: bool,
    pub spool_max_bytes: u64,
    pub shutdown_grace: Duration,
    /// Polls running at once; `None`: [`ServeOptions::poll_slots`] sizes it from the number of
    /// integrations.
    pub max_concurrent_polls: Option<usize>,
    pub batch_size: usize,
    /// The config file's sinks, connected when `serve` starts.
    pub sinks: Vec<crate::sinks::SinkTable>,
    /// On PostgreSQL: how long a lease lasts unrenewed (renewed every third of it).
    pub lease_ttl: Duration,
    /// On PostgreSQL: this replica's name in the lease table (default: host name and pid).
    pub replica_id: String,
}

/// The config file. Every key is optional and has a flag and a `SELIQ_*` variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub hide_workspace_labels: Option<bool>,
    pub stdout: Option<bool>,
    pub spool_max_bytes: Option<u64>,
    pub shutdown_grace: Option<String>,
    pub max_concurrent_polls: Option<usize>,
    pub lease_ttl: Option<String>,
    pub replica_id: Option<String>,
    /// `[[sink]]` tables: where alerts are delivered besides (or instead of) the spool.
    #[serde(default)]
    pub sink: Vec<crate::sinks::SinkTable>,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Invalid(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text).map_err(|e| {
            // toml's message names the key and line; keep it to one line.
            let msg = e.message().replace('\n', " ");
            Error::Invalid(format!("config file {} is invalid: {msg}", path.display()))
        })
    }
}

/// Flag (or variable) values, `None` when not given.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub hide_workspace_labels: bool,
    pub stdout: bool,
    pub spool_max_bytes: Option<u64>,
    pub shutdown_grace: Option<String>,
    pub max_concurrent_polls: Option<usize>,
    pub lease_ttl: Option<String>,
    pub replica_id: Option<String>,
}

pub fn resolve(file: FileConfig, flags: Overrides) -> Result<ServeOptions> {
    let listen_raw = flags
        .listen
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr = listen_raw.parse().map_err(|_| {
        Error::Invalid(format!(
            "listen address {listen_raw:?} is not IP:PORT (e.g. 127.0.0.1:9477)"
        ))
    })?;
    let hide_workspace_labels =
        flags.hide_workspace_labels || file.hide_workspace_labels == Some(true);
    let spool_max_bytes = flags
        .spool_max_bytes
        .or(file.spool_max_bytes)
        .unwrap_or(DEFAULT_SPOOL_MAX_BYTES);
    if spool_max_bytes < 1024 * 1024 {
        return Err(Error::Invalid(format!(
            "spool_max_bytes {spool_max_bytes} is below 1 MiB; a spool file per batch helps nobody"
        )));
    }
    let shutdown_grace = match flags.shutdown_grace.or(file.shutdown_grace) {
        Some(s) => parse_span("shutdown_grace", &s)?,
        None => DEFAULT_GRACE,
    };
    let max_concurrent_polls = flags.max_concurrent_polls.or(file.max_concurrent_polls);
    if let Some(n) = max_concurrent_polls
        && !(1..=MAX_POLL_SLOTS).contains(&n)
    {
        return Err(Error::Invalid(format!(
            "max_concurrent_polls {n} is outside 1..{MAX_POLL_SLOTS}"
        )));
    }
    let lease_ttl = match flags.lease_ttl.or(file.lease_ttl) {
        Some(s) => parse_span("lease_ttl", &s)?,
        None => DEFAULT_LEASE_TTL,
    };
    if !(Duration::from_secs(3)..=Duration::from_secs(600)).contains(&lease_ttl) {
        return Err(Error::Invalid(format!(
            "lease_ttl {}s is outside 3s..10m",
            lease_ttl.as_secs_f64()
        )));
    }
    let replica_id = flags
        .replica_id
        .or(file.replica_id)
        .unwrap_or_else(|| format!("{}-{}", crate::pull::sink::host_name(), std::process::id()));
    if replica_id.is_empty()
        || replica_id.len() > 128
        || !replica_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(Error::Invalid(
            "replica_id must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'"
                .to_owned(),
        ));
    }
    Ok(ServeOptions {
        listen,
        hide_workspace_labels,
        stdout: flags.stdout || file.stdout == Some(true),
        spool_max_bytes,
        shutdown_grace,
        max_concurrent_polls,
        batch_size: crate::pull::DEFAULT_BATCH,
        sinks: file.sink,
        lease_ttl,
        replica_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file: FileConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\nmax_concurrent_polls = 8\n").unwrap();
        let o = resolve(
            file,
            Overrides {
                max_concurrent_polls: Some(16),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(o.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(o.max_concurrent_polls, Some(16));
        assert_eq!(o.poll_slots(10_000), 16, "a set number is kept");
        assert_eq!(o.shutdown_grace, DEFAULT_GRACE);
    }

    #[test]
    fn unset_poll_slots_grow_with_the_integrations() {
        let o = resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(o.max_concurrent_polls, None);
        assert_eq!(o.poll_slots(0), MIN_POLL_SLOTS);
        assert_eq!(o.poll_slots(1_024), 64);
        assert_eq!(o.poll_slots(1_025), 65);
        assert_eq!(o.poll_slots(10_000), 625);
        assert_eq!(o.poll_slots(1_000_000), MAX_POLL_SLOTS);
        let too_many = resolve(
            FileConfig::default(),
            Overrides {
                max_concurrent_polls: Some(MAX_POLL_SLOTS + 1),
                ..Default::default()
            },
        );
        assert!(
            format!("{too_many:?}").contains("outside 1..4096"),
            "{too_many:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_labels_can_be_hidden() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
        let file: FileConfig = toml::from_str("hide_workspace_labels = true").unwrap();
        assert!(
            resolve(file, Overrides::default())
                .unwrap()
                .hide_workspace_labels
        );
        // Any address: every /v1 endpoint takes a token.
        assert!(
            resolve(
                FileConfig::default(),
                Overrides {
                    listen: Some("0.0.0.0:9477".into()),
                    ..Default::default()
                },
            )
            .is_ok()
        );
    }
}
