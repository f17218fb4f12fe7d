//! Which sinks serve a workspace, and with which per-workspace settings.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::config::{self, RouteTable, SinkTable};
use super::{ExternalSink, SinkStats, elastic, hec, nats};

/// One workspace's overrides on one sink; `None` keeps the sink's default.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub workspace: String,
    pub subject_prefix: Option<String>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
}

struct Entry {
    sink: Arc<dyn ExternalSink>,
    stats: Arc<SinkStats>,
    /// `None`: every workspace.
    workspaces: Option<HashSet<String>>,
    routes: HashMap<String, RouteTable>,
}

/// The sinks of one workspace, as a poll delivers to them.
pub struct Route {
    targets: Vec<(Arc<dyn ExternalSink>, Arc<SinkStats>, Target)>,
}

impl Route {
    pub fn targets(&self) -> impl Iterator<Item = (&dyn ExternalSink, &SinkStats, &Target)> {
        self.targets
            .iter()
            .map(|(s, st, t)| (s.as_ref(), st.as_ref(), t))
    }

    pub fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|(s, _, _)| s.name()).collect()
    }
}

/// A file (spool) sink from the config.
#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    pub name: String,
    pub dir: PathBuf,
    pub max_bytes: Option<u64>,
}

/// Every configured sink, connected and checked.
#[derive(Default)]
pub struct SinkSet {
    entries: Vec<Entry>,
    pub file: Option<FileSinkConfig>,
}

impl SinkSet {
    /// Validate every table (names unique, keys that apply, secrets readable), keep the ones in
    /// `only` when given (`pull --sink`), and connect them: a JetStream stream is created or
    /// checked here, so a window too short refuses the start.
    pub async fn build(tables: Vec<SinkTable>, only: Option<&[String]>) -> Result<SinkSet> {
        Self::build_with(tables, only, &|_, _| SinkStats::default()).await
    }

    /// [`SinkSet::build`] with each sink's figures made by `stats` (name, kind): `serve` shares
    /// them with its metrics registry.
    pub async fn build_with(
        tables: Vec<SinkTable>,
        only: Option<&[String]>,
        stats: &(dyn Fn(&str, &'static str) -> SinkStats + Sync),
    ) -> Result<SinkSet> {
        let mut names = HashSet::new();
        for t in &tables {
            config::check_name(t.name())?;
            if !names.insert(t.name().to_owned()) {
                return Err(Error::Invalid(format!(
                    "two sinks are named {:?}; sink names must be unique",
                    t.name()
                )));
            }
        }
        if let Some(only) = only {
            for n in only {
                if !names.contains(n) {
                    return Err(Error::Invalid(format!(
                        "--sink {n:?} names no [[sink]] of the config file"
                    )));
                }
            }
        }
        let mut set = SinkSet::default();
        for t in tables {
            if only.is_some_and(|o| !o.iter().any(|n| n == t.name())) {
                continue;
            }
            let (sink, workspaces, routes): (Arc<dyn ExternalSink>, _, _) = match t {
                SinkTable::File(f) => {
                    if set.file.is_some() {
                        return Err(Error::Invalid(format!(
                            "sink {:?}: only one file sink can be used at a time",
                            f.name
                        )));
                    }
                    set.file = Some(FileSinkConfig {
                        name: f.name,
                        dir: f.dir,
                        max_bytes: f.max_bytes,
                    });
                    continue;
                }
                SinkTable::Nats(n) => {
                    config::check_workspaces(&n.name, &n.workspaces, &n.route)?;
                    config::check_route_keys(&n.name, &n.route, true, false, false)?;
                    let sink = nats::NatsSink::connect(&n).await?;
                    (Arc::new(sink) as _, n.workspaces, n.route)
                }
                SinkTable::Hec(h) => {
                    config::check_workspaces(&h.name, &h.workspaces, &h.route)?;
                    config::check_route_keys(&h.name, &h.route, false, true, true)?;
                    let sink = hec::HecSink::new(&h)?;
                    (Arc::new(sink) as _, h.workspaces, h.route)
                }
                SinkTable::Elasticsearch(e) => {
                    config::check_workspaces(&e.name, &e.workspaces, &e.route)?;
                    config::check_route_keys(&e.name, &e.route, false, true, false)?;
                    let sink = elastic::ElasticSink::new(&e)?;
                    (Arc::new(sink) as _, e.workspaces, e.route)
                }
            };
            set.entries.push(Entry {
                stats: Arc::new(stats(sink.name(), sink.kind())),
                sink,
                workspaces: workspaces.map(|w| w.into_iter().collect()),
                routes: routes
                    .into_iter()
                    .map(|r| (r.workspace.clone(), r))
                    .collect(),
            });
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The external sinks that take `workspace`'s alerts; `None` when there are none.
    pub fn route(&self, workspace: &str) -> Option<Arc<Route>> {
        let targets: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.workspaces.as_ref().is_none_or(|w| w.contains(workspace)))
            .map(|e| {
                let r = e.routes.get(workspace);
                let target = Target {
                    workspace: workspace.to_owned(),
                    subject_prefix: r.and_then(|r| r.subject_prefix.clone()),
                    index: r.and_then(|r| r.index.clone()),
                    sourcetype: r.and_then(|r| r.sourcetype.clone()),
                };
                (e.sink.clone(), e.stats.clone(), target)
            })
            .collect();
        (!targets.is_empty()).then(|| Arc::new(Route { targets }))
    }

    /// A sink of `workspace` that polls are waiting on: `"<name>: <last error> (for N s)"`.
    pub fn blocking(&self, workspace: &str) -> Option<String> {
        self.entries
            .iter()
            .filter(|e| e.workspaces.as_ref().is_none_or(|w| w.contains(workspace)))
            .find_map(|e| {
                e.stats
                    .blocking()
                    .map(|(d, err)| format!("{}: {err} (for {} s)", e.sink.name(), d.as_secs()))
            })
    }

    /// Every external sink's name, kind and figures (for `/metrics` and status).
    pub fn stats(&self) -> impl Iterator<Item = (&str, &'static str, &Arc<SinkStats>)> {
        self.entries
            .iter()
            .map(|e| (e.sink.name(), e.sink.kind(), &e.stats))
    }
}
