//! `serve`: every integration of every workspace polled on its own schedule, into a rotating
//! spool per workspace (or stdout), with health, metrics and status over HTTP.
//!
//! One task owns the store and the sinks (the *scheduler*); it starts polls, commits their
//! batches and records their outcomes, in that order, so the exactly-once rule of `pull` (write,
//! fsync, then commit cursor and file length together) holds unchanged. Each poll runs the same
//! engine as `pull` ([`crate::pull::pull_one`]) on its own task; a slow or failing vendor delays
//! nothing but its own integration.
//!
//! - `schedule`: each integration's slot in its interval, exponential backoff, the states.
//! - `spool`: the per-workspace rotating NDJSON files.
//! - `metrics`, `status`, `http`: what operators see.
//! - `config`: the TOML file and its flags.

pub mod config;
mod http;
mod leases;
mod metrics;
pub mod schedule;
pub mod spool;
pub mod status;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::RngExt;
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{Connector, registry};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::{CredentialVersion, IntegrationId};
use crate::integrations;
use crate::pull::{self, Delivery, Job, Sink, TaskOutcome};
use crate::store::{IntegrationRow, IntegrationStateRow};
use metrics::{IntegrationLabels, PollLabels, StateLabels, VendorLabels};
use schedule::State;

pub use config::ServeOptions;

/// How often the scheduler re-reads workspaces and integrations: changes made by other
/// processes (an integration added, a credential rotated, a workspace deleted) apply this fast.
/// On SQLite the re-read is skipped while no other connection has committed (see
/// [`ReloadGate`]); on PostgreSQL other replicas write integration states, so it always runs.
const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// The longest a reload is skipped for, whatever the database says.
const RELOAD_AT_LEAST_EVERY: Duration = Duration::from_secs(60);
/// How long `/v1/status` waits for the scheduler to answer before it reads the store instead.
const STATUS_WAIT: Duration = Duration::from_secs(5);
/// The longest an idle integration's cursor moves only in memory: an empty batch that moves
/// the cursor (every idle Splunk poll, whose window end follows the clock) is committed at most
/// this often. A restart replays at most this much of windows that emitted nothing.
const HOLD_CURSOR_FOR: Duration = Duration::from_secs(300);
/// The scheduler's heartbeat; `/readyz` fails when it stops for two reload intervals.
const TICK: Duration = Duration::from_secs(1);

/// One integration as the scheduler tracks it.
struct Entry {
    workspace: String,
    integ: IntegrationRow,
    credential_version: Option<CredentialVersion>,
    connector: Option<Arc<dyn Connector>>,
    /// Its connector's HTTP figures at the end of the last poll, for the metric deltas.
    last_stats: seliq_connectors::http::HttpStats,
    due: Instant,
    state: State,
    stored: IntegrationStateRow,
    /// This poll so far (reset at its start).
    poll_alerts: u64,
    poll_pages: u64,
    poll_started: Option<(Instant, DateTime<Utc>)>,
    /// What the last poll start read from the store, kept while no other connection commits.
    read: Option<StartRead>,
    /// The cursor the last poll ended on, ahead of the stored checkpoint at this version: empty
    /// batches that only moved it were not committed. Used while the checkpoint stays there.
    held: Option<(u64, seliq_connectors::Cursor)>,
    /// When this process last committed the checkpoint (or scheduled the integration).
    cursor_committed: Instant,
    /// Its slot in every interval, as a fraction (see [`schedule::after_success`]).
    phase: f64,
    /// The times its lag and since-success gauges are computed from at scrape.
    clock: Arc<metrics::IntegrationClock>,
}

/// What a poll start reads besides the credential: the binding check passed, the SLA policy and
/// the checkpoint. Valid while SQLite's `data_version` stays at `data_version` (nothing but this
/// process's own scheduler connection wrote), with the checkpoint kept current by the commits of
/// this process; an idle poll then starts without a transaction.
struct StartRead {
    data_version: i64,
    policy: Arc<seliq_sla::Policy>,
    /// Version and cursor of the checkpoint.
    checkpoint: Option<(u64, seliq_connectors::Cursor)>,
}

impl Entry {
    fn labels(&self, hide_workspace: bool) -> IntegrationLabels {
        IntegrationLabels {
            workspace: if hide_workspace {
                String::new()
            } else {
                self.workspace.clone()
            },
            integration: self.integ.name.to_string(),
            vendor: self.integ.kind.as_str().to_owned(),
        }
    }

    /// Tell the gauges the times `stored` now holds.
    fn sync_clock(&self) {
        self.clock
            .set(self.stored.newest_updated_at, self.stored.last_success);
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.integ.poll_interval_secs).clamp(
            integrations::MIN_POLL_INTERVAL,
            integrations::MAX_POLL_INTERVAL,
        )
    }
}

/// What a poll task reports when it ends.
struct Finished {
    id: IntegrationId,
    outcome: TaskOutcome,
}

/// Where a poll starts: the cursor the last poll held back while the stored checkpoint is still
/// the version it was ahead of, else the stored checkpoint (another writer moved it, or there is
/// none yet: a first checkpoint is never held).
fn continue_from(
    stored: Option<(u64, seliq_connectors::Cursor)>,
    held: Option<(u64, seliq_connectors::Cursor)>,
) -> Option<(u64, seliq_connectors::Cursor)> {
    match (stored, held) {
        (Some((v, _)), Some((held_v, cursor))) if v == held_v => Some((v, cursor)),
        (stored, _) => stored,
    }
}

fn unit() -> f64 {
    rand::rng().random::<f64>()
}

/// Run until SIGTERM/SIGINT. Returns the exit code (0 after a clean drain).
pub async fn run(mut app: App, http: HttpOptions, opts: ServeOptions) -> Result<u8> {
    let _lock = crate::lock::serve(&app.config().data_dir, &opts.listen.to_string())?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Runtime(format!("cannot listen on {}: {e}", opts.listen)))?;
    let metrics = metrics::Metrics::new();
    // External sinks connect (and a JetStream stream is checked) before any vendor is called.
    let external = crate::sinks::SinkSet::build_with(opts.sinks.clone(), None, &|name, kind| {
        metrics.sink_stats(name, kind)
    })
    .await?;
    let mut sinks = if opts.stdout {
        Sinks::Stdout(Sink::stdout())
    } else {
        let (dir, max) = match &external.file {
            Some(f) => (f.dir.clone(), f.max_bytes.unwrap_or(opts.spool_max_bytes)),
            None => (app.config().data_dir.join("spool"), opts.spool_max_bytes),
        };
        Sinks::Spool(spool::Spool::open(dir, max, app.store())?)
    };

    let shared = Arc::new(http::Shared {
        metrics,
        ready: AtomicBool::new(false),
        last_tick: Mutex::new((Instant::now(), false)),
        tick_deadline: RELOAD_EVERY * 2,
    });
    // `/v1/status` asks the scheduler, which builds the list from its live view when asked (no
    // rebuild of every integration's status while nobody reads it); everything else the API
    // does through its own store connections, so it never waits on the scheduler.
    let (status_tx, mut status_rx) = mpsc::channel::<StatusRequest>(16);
    let api = crate::api::ApiState::new(&app, http.clone()).with_live_status(Arc::new(
        move |only: Option<String>| {
            let tx = status_tx.clone();
            Box::pin(async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send(StatusRequest { only, reply }).await.ok()?;
                tokio::time::timeout(STATUS_WAIT, answer).await.ok()?.ok()
            }) as crate::api::LiveStatusAnswer
        },
    ));
    let routes = http::router(shared.clone()).merge(crate::api::router(api));
    let (http_stop_tx, mut http_stop_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        routes.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop_rx.wait_for(|v| *v).await;
    });
    let server = tokio::spawn(async move { server.await });
    tracing::info!(listen = %opts.listen, delivery = if opts.stdout { "stdout" } else { "spool" }, "serve started");

    let mut sched = Scheduler {
        ledger: crate::sla::Ledger::open(app.store())?,
        external,
        entries: HashMap::new(),
        http,
        opts: opts.clone(),
        shared: shared.clone(),
        running: 0,
        unsaved: HashMap::new(),
        policies: HashMap::new(),
        epoch: Instant::now(),
        leasing: app
            .store()
            .database()
            .is_postgres()
            .then(|| leases::Leasing::new(&opts.replica_id, opts.lease_ttl)),
    };
    if let Some(l) = &sched.leasing {
        shared.metrics.clocks.set_replica(l.replica());
        tracing::info!(
            replica = l.replica(),
            lease_ttl_secs = opts.lease_ttl.as_secs_f64(),
            "sharing integrations with other replicas through leases"
        );
    }
    // Bounds the batches queued at the committer (each poll holds at most one in flight).
    let (tx, mut rx) = mpsc::channel::<Delivery>(
        opts.max_concurrent_polls
            .unwrap_or(config::MIN_POLL_SLOTS)
            .max(1),
    );
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signals = Signals::new()?;

    let mut gate = ReloadGate::new(app.store());
    let _ = sched.reload(&mut app);
    shared.ready.store(true, Ordering::SeqCst);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reload = Instant::now();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut batch_no = 0u64;

    loop {
        tokio::select! {
            biased;
            () = signals.recv() => break,
            Some(d) = rx.recv() => {
                batch_no += 1;
                let mut ready = vec![d];
                while let Ok(more) = rx.try_recv() {
                    ready.push(more);
                }
                sched.commit(&mut app, &mut sinks, ready, batch_no, &mut buf);
            }
            Some(f) = done_rx.recv() => sched.finish(&mut app, f),
            Some(q) = status_rx.recv() => {
                let _ = q.reply.send(sched.status(q.only.as_deref()));
            }
            _ = tick.tick() => {
                sched.save_states(&mut app);
                if last_reload.elapsed() >= RELOAD_EVERY {
                    if gate.due(app.store()) {
                        for ws in sched.reload(&mut app) {
                            if let Sinks::Spool(spool) = &mut sinks {
                                spool.close(&ws);
                            }
                        }
                    } else {
                        sched.mark_tick(true);
                    }
                    last_reload = Instant::now();
                }
                sched.lease_round(&mut app);
                sched.start_due(&mut app, &tx, &done_tx, &stop_rx);
                sched.publish();
            }
        }
    }

    // Shutdown: not ready, no new polls, in-flight fetches abandoned, batches already fetched
    // written and committed, within the grace period. A second signal exits at once: the next
    // start resumes from the checkpoints, so that loses nothing either.
    shared.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    tracing::info!(
        polls_in_flight = sched.running,
        grace_secs = opts.shutdown_grace.as_secs(),
        "shutting down"
    );
    let deadline = tokio::time::Instant::now() + opts.shutdown_grace;
    while sched.running > 0 {
        tokio::select! {
            biased;
            () = signals.recv() => {
                tracing::warn!("second signal: exiting now; the next start resumes from the checkpoints");
                std::process::exit(130);
            }
            Some(d) = rx.recv() => {
                batch_no += 1;
                let mut ready = vec![d];
                while let Ok(more) = rx.try_recv() {
                    ready.push(more);
                }
                sched.commit(&mut app, &mut sinks, ready, batch_no, &mut buf);
            }
            Some(f) = done_rx.recv() => sched.finish(&mut app, f),
            Some(q) = status_rx.recv() => {
                let _ = q.reply.send(sched.status(q.only.as_deref()));
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(polls_in_flight = sched.running, "grace period over; exiting with polls unfinished (nothing uncommitted is kept)");
                break;
            }
        }
    }
    sched.save_states(&mut app);
    if let Some(l) = &mut sched.leasing {
        l.release_all(app.store());
    }
    let _ = http_stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    tracing::info!("serve stopped");
    Ok(0)
}

/// `/v1/status` asking the scheduler for every integration's status, or one workspace's.
struct StatusRequest {
    only: Option<String>,
    reply: tokio::sync::oneshot::Sender<Vec<status::IntegrationStatus>>,
}

enum Sinks {
    Stdout(Sink),
    Spool(spool::Spool),
}

struct Scheduler {
    /// JetStream, HEC and `_bulk` sinks; each poll delivers to its workspace's before committing.
    external: crate::sinks::SinkSet,
    /// The SLA ledger's read connection, shared by every poll.
    ledger: Arc<crate::sla::Ledger>,
    entries: HashMap<IntegrationId, Entry>,
    http: HttpOptions,
    opts: ServeOptions,
    shared: Arc<http::Shared>,
    running: usize,
    /// On PostgreSQL: the leases that say which integrations this replica polls.
    leasing: Option<leases::Leasing>,
    /// States of polls finished since the last tick, saved together at the next (one write
    /// transaction and one fsync a second instead of one per poll). A crash loses at most a
    /// second of them: the next start then polls those integrations a little early, and their
    /// checkpoints, committed with their alerts, are not affected.
    unsaved: HashMap<IntegrationId, IntegrationStateRow>,
    /// The SLA policy last read per workspace: a poll start that reads an equal one shares it.
    policies: HashMap<crate::ids::WorkspaceId, Arc<seliq_sla::Policy>>,
    /// Where every integration's slots are counted from.
    epoch: Instant,
}

/// Whether a reload is worth its queries: on SQLite only when another connection committed
/// since the last one (`PRAGMA data_version`), or [`RELOAD_AT_LEAST_EVERY`] passed; on
/// PostgreSQL always.
struct ReloadGate {
    version: Option<i64>,
    last: Instant,
}

impl ReloadGate {
    fn new(store: &crate::store::Store) -> ReloadGate {
        ReloadGate {
            version: store.data_version().ok().flatten(),
            last: Instant::now(),
        }
    }

    fn due(&mut self, store: &crate::store::Store) -> bool {
        let now = store.data_version().ok().flatten();
        let due =
            now.is_none() || now != self.version || self.last.elapsed() >= RELOAD_AT_LEAST_EVERY;
        if due {
            self.version = now;
            self.last = Instant::now();
        }
        due
    }
}

impl Scheduler {
    /// Re-read workspaces, integrations, credential versions and stored state: add what is new,
    /// drop what is gone, pick up rotations, poll-interval changes and resumptions.
    /// Returns the workspaces no longer scheduled (deleted), whose spool files can close.
    fn reload(&mut self, app: &mut App) -> Vec<String> {
        // Four queries whatever the number of integrations (on PostgreSQL each is a round trip).
        let read = app.store().read(|tx| {
            let live: HashMap<_, _> = tx
                .list_workspaces(false)?
                .into_iter()
                .map(|w| (w.id, w.slug.to_string()))
                .collect();
            let versions = tx.current_credential_versions()?;
            let mut states = tx.integration_states()?;
            let mut out = Vec::new();
            for integ in tx.all_integrations()? {
                let Some(slug) = live.get(&integ.workspace_id) else {
                    continue;
                };
                let version = versions.get(&integ.id).copied();
                let state = states.remove(&integ.id);
                out.push((slug.clone(), integ, version, state));
            }
            Ok::<_, Error>(out)
        });
        let rows = match read {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the store; keeping the last known integrations");
                self.mark_tick(false);
                return Vec::new();
            }
        };
        self.mark_tick(true);
        // Deleted workspaces' policies go; the others are shared again at their next reads.
        self.policies.clear();
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for (workspace, integ, version, stored) in rows {
            seen.insert(integ.id);
            let stored = stored.unwrap_or_else(|| IntegrationStateRow::new(integ.id));
            // Held by another replica: its state is what that replica last stored.
            let elsewhere = self
                .leasing
                .as_ref()
                .is_some_and(|l| l.fence(integ.id).is_none());
            match self.entries.get_mut(&integ.id) {
                Some(e) => {
                    if elsewhere && e.state != State::Polling {
                        e.state = if stored.suspended_at.is_some() {
                            State::Suspended
                        } else if e.state == State::Suspended {
                            State::Ok
                        } else {
                            e.state
                        };
                        e.stored = stored.clone();
                    }
                    if e.credential_version != version || e.integ.settings != integ.settings {
                        // Rotated (or rolled back): the next poll builds a fresh connector.
                        e.connector = None;
                        // A cursor held under other settings is not theirs to continue.
                        e.held = None;
                        e.credential_version = version;
                    }
                    if e.integ.poll_interval_secs != integ.poll_interval_secs
                        && e.state == State::Ok
                    {
                        e.due = now
                            + schedule::first_delay(
                                Duration::from_secs(integ.poll_interval_secs),
                                unit(),
                            );
                    }
                    e.integ = integ;
                    if e.state == State::Suspended && stored.suspended_at.is_none() {
                        tracing::info!(workspace = %e.workspace, integration = %e.integ.name, "resumed");
                        e.state = State::Ok;
                        e.stored = stored;
                        e.due = now;
                    }
                    e.sync_clock();
                }
                None => {
                    let clock = self.shared.metrics.clocks.add(
                        integ.id,
                        IntegrationLabels {
                            workspace: if self.opts.hide_workspace_labels {
                                String::new()
                            } else {
                                workspace.clone()
                            },
                            integration: integ.name.to_string(),
                            vendor: integ.kind.as_str().to_owned(),
                        },
                    );
                    clock.set(stored.newest_updated_at, stored.last_success);
                    let interval = Duration::from_secs(integ.poll_interval_secs);
                    let state = if stored.suspended_at.is_some() {
                        State::Suspended
                    } else {
                        State::Ok
                    };
                    self.entries.insert(
                        integ.id,
                        Entry {
                            workspace,
                            credential_version: version,
                            connector: None,
                            last_stats: Default::default(),
                            due: now + schedule::first_delay(interval, unit()),
                            state,
                            stored,
                            poll_alerts: 0,
                            poll_pages: 0,
                            poll_started: None,
                            read: None,
                            held: None,
                            cursor_committed: now,
                            phase: unit(),
                            clock,
                            integ,
                        },
                    );
                }
            }
        }
        let gone_candidates: std::collections::BTreeSet<String> =
            self.entries.values().map(|e| e.workspace.clone()).collect();
        // Removed integrations and deleted workspaces: no new polls. A poll in flight finds its
        // checkpoint refused (the row is gone), takes its bytes back out of the spool and ends.
        let clocks = &self.shared.metrics.clocks;
        self.entries.retain(|id, e| {
            let keep = seen.contains(id) || e.state == State::Polling;
            if !keep {
                tracing::info!(workspace = %e.workspace, integration = %e.integ.name, "integration gone; no longer polled");
                clocks.remove(*id);
            }
            keep
        });
        let before: std::collections::BTreeSet<String> = gone_candidates;
        before
            .into_iter()
            .filter(|w| !self.entries.values().any(|e| &e.workspace == w))
            .collect()
    }

    /// On PostgreSQL, every third of the lease TTL: renew, even out the share, and poll newly
    /// granted integrations soon.
    fn lease_round(&mut self, app: &mut App) {
        let Some(leasing) = &mut self.leasing else {
            return;
        };
        if !leasing.round_due() {
            return;
        }
        let entries = &self.entries;
        let granted = leasing.round(app.store(), |id| {
            entries.get(&id).is_some_and(|e| e.state == State::Polling)
        });
        let now = Instant::now();
        for id in granted {
            if let Some(e) = self.entries.get_mut(&id)
                && e.state == State::Ok
            {
                // Taken over or newly ours: poll soon, spread over a second.
                e.due = now + Duration::from_secs(1).mul_f64(unit());
            }
        }
    }

    /// Whether this replica polls `id` now (always, without leases).
    fn may_poll(&self, id: IntegrationId) -> bool {
        self.leasing.as_ref().is_none_or(|l| l.fence(id).is_some())
    }

    fn mark_tick(&self, store_ok: bool) {
        *self
            .shared
            .last_tick
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (Instant::now(), store_ok);
    }

    /// Start every due poll, up to the concurrency limit.
    fn start_due(
        &mut self,
        app: &mut App,
        tx: &mpsc::Sender<Delivery>,
        done_tx: &mpsc::UnboundedSender<Finished>,
        stop_rx: &watch::Receiver<bool>,
    ) {
        {
            let mut last = self
                .shared
                .last_tick
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            last.0 = Instant::now();
        }
        let now = Instant::now();
        let mut due: Vec<(Instant, IntegrationId)> = self
            .entries
            .iter()
            .filter(|(id, e)| {
                matches!(e.state, State::Ok | State::BackingOff)
                    && e.due <= now
                    && self.may_poll(**id)
            })
            .map(|(id, e)| (e.due, *id))
            .collect();
        due.sort();
        let slots = self.opts.poll_slots(self.entries.len());
        for (_, id) in due {
            if self.running >= slots {
                break;
            }
            self.start(app, id, tx, done_tx, stop_rx);
        }
    }

    fn start(
        &mut self,
        app: &mut App,
        id: IntegrationId,
        tx: &mpsc::Sender<Delivery>,
        done_tx: &mpsc::UnboundedSender<Finished>,
        stop_rx: &watch::Receiver<bool>,
    ) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        let vault = app.vault().clone();
        let integ = e.integ.clone();
        let workspace = e.workspace.clone();
        let need_secret = e.connector.is_none();
        let fence = self.leasing.as_ref().and_then(|l| l.fence(id));
        let data_version = app.store().data_version().ok().flatten();
        let kept = e
            .read
            .take()
            .filter(|r| !need_secret && data_version == Some(r.data_version));
        let read = match kept {
            Some(r) => Ok((None, r.checkpoint, r.policy)),
            None => app
                .store()
                .read(|tx| {
                    let secret = if need_secret {
                        // The workspace this entry was scheduled under, resolved live again now: a
                        // workspace deleted since the last reload opens nothing.
                        let slug = crate::slug::Slug::parse(&workspace)?;
                        let ws = crate::workspaces::require(tx, &slug)?;
                        Some(integrations::open_current(tx, &vault, &ws, &integ)?)
                    } else {
                        // Still refuse settings that no longer match the binding.
                        integrations::bound_source(tx, &integ)?;
                        None
                    };
                    // The policy in force at the start of the poll stamps all of it.
                    let policy = crate::sla::effective(tx, integ.workspace_id)?;
                    let checkpoint = tx.checkpoint(integ.id)?.map(|c| (c.version, c.cursor));
                    Ok::<_, Error>((secret, checkpoint, policy))
                })
                .map(|(secret, checkpoint, policy)| {
                    // One value per workspace, shared by its integrations between polls.
                    let shared = match self.policies.get(&integ.workspace_id) {
                        Some(p) if **p == policy => p.clone(),
                        _ => {
                            let p = Arc::new(policy);
                            self.policies.insert(integ.workspace_id, p.clone());
                            p
                        }
                    };
                    (secret, checkpoint, shared)
                }),
        };
        // Continue from the cursor the last poll held back while the checkpoint is still the
        // one it was ahead of (another writer's commit moves the version and drops it).
        let held = e.held.take();
        let hold_cursor_only = e.cursor_committed.elapsed() < HOLD_CURSOR_FOR;
        let started_at = Utc::now();
        e.poll_started = Some((Instant::now(), started_at));
        e.poll_alerts = 0;
        e.poll_pages = 0;
        // The last poll is now this one: no end and no outcome until it finishes.
        e.stored.last_poll_start = Some(started_at);
        e.stored.last_poll_end = None;
        e.stored.last_outcome = None;
        let prepared = read.and_then(|(secret, checkpoint, policy)| {
            let connector = match (secret, &e.connector) {
                (Some(secret), _) => {
                    let c: Arc<dyn Connector> =
                        Arc::from(registry::build(&integ.settings, secret, &self.http)?);
                    e.connector = Some(c.clone());
                    e.last_stats = Default::default();
                    c
                }
                (None, Some(c)) => c.clone(),
                (None, None) => unreachable!("a secret is read whenever there is no connector"),
            };
            let since = match checkpoint.as_ref() {
                Some(_) => Utc::now(),
                None => pull::first_window_start(&integ, Utc::now())?,
            };
            if let Some(data_version) = data_version {
                e.read = Some(StartRead {
                    data_version,
                    policy: policy.clone(),
                    checkpoint: checkpoint.clone(),
                });
            }
            let checkpoint = continue_from(checkpoint, held);
            let checkpoint_version = checkpoint.as_ref().map_or(0, |c| c.0);
            Ok(Job {
                sla: Arc::new(crate::sla::Stamper {
                    workspace_id: integ.workspace_id,
                    policy,
                    ledger: self.ledger.clone(),
                }),
                workspace: e.workspace.clone(),
                route: self.external.route(&e.workspace),
                integ: integ.clone(),
                connector,
                checkpoint_version,
                cursor: checkpoint.map(|c| c.1),
                since,
                fence,
                // Never before the first checkpoint: `since` of a first window is not kept.
                hold_cursor_only: hold_cursor_only && checkpoint_version > 0,
            })
        });
        let job = match prepared {
            Ok(job) => job,
            Err(err) => {
                // Could not even start (credential unopenable, settings tampered): a failed poll.
                let rejected = matches!(&err, Error::Connector(c) if c.is_credential_rejected());
                let outcome = TaskOutcome {
                    retries: 0,
                    error: Some(pull::PullError {
                        message: err.to_string(),
                        credential_rejected: rejected,
                    }),
                    stopped: false,
                    held_cursor: None,
                };
                e.state = State::Polling;
                self.running += 1;
                self.finish(app, Finished { id, outcome });
                return;
            }
        };
        e.state = State::Polling;
        self.running += 1;
        let (tx, done_tx, stop) = (tx.clone(), done_tx.clone(), stop_rx.clone());
        let batch = self.opts.batch_size;
        tokio::spawn(async move {
            let remaining = Arc::new(AtomicU64::new(u64::MAX));
            let outcome = pull::pull_one(0, job, batch, remaining, tx, Some(stop)).await;
            let _ = done_tx.send(Finished { id, outcome });
        });
    }

    /// Write and commit the batches waiting at the committer (the same rule as `pull`), then
    /// count them. Batches bound for one sink (stdout, or one workspace's spool file) are
    /// committed together: one write, one fsync, one transaction.
    fn commit(
        &mut self,
        app: &mut App,
        sinks: &mut Sinks,
        ready: Vec<Delivery>,
        batch_no: u64,
        buf: &mut Vec<u8>,
    ) {
        // Grouped by the sink they go to: stdout takes every workspace's lines, the spool one
        // file per workspace.
        let mut groups: Vec<Vec<(String, String, Delivery)>> = Vec::new();
        for d in ready {
            let Some(e) = self.entries.get(&d.integration_id) else {
                let _ = d
                    .ack
                    .send(Err("the integration is no longer scheduled".to_owned()));
                continue;
            };
            if let (Some(l), Some(f)) = (&self.leasing, &d.fence)
                && !l.still_holds(d.integration_id, f)
            {
                // Not even tried: by now another replica may hold it (the database would refuse
                // the commit too). The poll ends; nothing of it is committed.
                let _ = d.ack.send(Err(format!(
                    "replica {} no longer holds this integration's lease; the batch is not committed",
                    f.owner
                )));
                continue;
            }
            let item = (e.workspace.clone(), e.integ.name.to_string(), d);
            let same_sink = |g: &Vec<(String, String, Delivery)>| match sinks {
                Sinks::Stdout(_) => true,
                Sinks::Spool(_) => g[0].0 == item.0,
            };
            match groups.iter_mut().find(|g| same_sink(g)) {
                Some(g) => g.push(item),
                None => groups.push(vec![item]),
            }
        }
        for items in groups {
            let sink = match sinks {
                Sinks::Stdout(s) => Ok(s),
                Sinks::Spool(spool) => spool.sink_for(&items[0].0, Utc::now(), app.store()),
            };
            let results: Vec<crate::error::Result<()>> = match sink {
                Ok(sink) => {
                    let group: Vec<pull::Committing<'_>> = items
                        .iter()
                        .map(|(workspace, name, d)| pull::Committing {
                            workspace,
                            integration: name,
                            delivery: d,
                        })
                        .collect();
                    pull::commit_group(app, sink, &group, batch_no, buf)
                }
                Err(e) => {
                    let message = e.to_string();
                    items
                        .iter()
                        .map(|_| Err(crate::error::Error::Runtime(message.clone())))
                        .collect()
                }
            };
            for ((_, name, d), result) in items.into_iter().zip(results) {
                self.committed(&name, d, result);
            }
        }
    }

    /// Count one batch's commit (or log why it was not), and answer its poll.
    fn committed(&mut self, name: &str, d: Delivery, result: crate::error::Result<()>) {
        let Some(e) = self.entries.get_mut(&d.integration_id) else {
            let _ = d
                .ack
                .send(Err("the integration is no longer scheduled".to_owned()));
            return;
        };
        match &result {
            Ok(()) => {
                // The checkpoint the store now holds, for the next poll's start.
                if let Some(r) = &mut e.read {
                    r.checkpoint = Some((d.version, d.batch.cursor.clone()));
                }
                e.cursor_committed = Instant::now();
                let n = d.batch.alerts.len() as u64;
                e.poll_alerts += n;
                e.poll_pages += u64::from(d.batch.pages);
                if let Some(newest) = d.batch.alerts.iter().map(|a| a.updated_at).max() {
                    e.stored.newest_updated_at = e.stored.newest_updated_at.max(Some(newest));
                    e.sync_clock();
                }
                let labels = e.labels(self.opts.hide_workspace_labels);
                self.shared.metrics.alerts.get_or_create(&labels).inc_by(n);
                if n > 0 {
                    // Committed now: the lag a consumer of the sink sees, vendor change to line.
                    let lag = self
                        .shared
                        .metrics
                        .delivery_lag
                        .get_or_create(&VendorLabels {
                            vendor: labels.vendor.clone(),
                        });
                    let now = Utc::now();
                    for a in &d.batch.alerts {
                        lag.observe((now - a.updated_at).num_milliseconds().max(0) as f64 / 1000.0);
                    }
                }
                let q = d.batch.quarantined.len() as u64;
                if q > 0 {
                    self.shared
                        .metrics
                        .dead_letters
                        .get_or_create(&labels)
                        .inc_by(q);
                    tracing::warn!(workspace = %e.workspace, integration = %name, records = q, "records dead-lettered");
                }
            }
            Err(err) => {
                // Whatever the store holds now is read again at the next start.
                e.read = None;
                tracing::error!(workspace = %e.workspace, integration = %name, error = %err, "batch not committed")
            }
        }
        let _ = d.ack.send(result.map_err(|e| e.to_string()));
    }

    /// A poll ended: decide the next one, suspend on a rejected credential, record everything.
    fn finish(&mut self, app: &mut App, mut f: Finished) {
        self.running = self.running.saturating_sub(1);
        let Some(e) = self.entries.get_mut(&f.id) else {
            return;
        };
        let now = Utc::now();
        let (started, _) = e.poll_started.take().unwrap_or((Instant::now(), now));
        let took = started.elapsed();
        let interval = e.interval();
        e.held = f.outcome.held_cursor.take();
        let outcome_name;
        match &f.outcome.error {
            None => {
                outcome_name = if f.outcome.stopped { "stopped" } else { "ok" };
                e.stored.failures = 0;
                e.stored.last_error = None;
                if !f.outcome.stopped {
                    e.stored.last_success = Some(now);
                    e.sync_clock();
                }
                e.state = State::Ok;
                e.due = started
                    + schedule::after_success(
                        interval,
                        started.saturating_duration_since(self.epoch),
                        e.phase,
                    );
            }
            Some(err) if err.credential_rejected => {
                outcome_name = "rejected";
                e.state = State::Suspended;
                e.stored.last_error = Some(err.message.clone());
                e.stored.suspended_at = Some(now);
                e.stored.suspended_reason = Some(format!(
                    "suspended: the vendor rejected the credential ({}); rotate it or run `seliq-gateway integration resume`",
                    err.message
                ));
                e.stored.suspended_credential_version = e.credential_version;
                e.connector = None;
                let who = app.who().clone();
                let (ws_id, name, reason) = (
                    e.integ.workspace_id,
                    e.integ.name.clone(),
                    err.message.clone(),
                );
                let audited = app.store().write(|tx| {
                    audit::append(
                        tx,
                        ws_id,
                        &who,
                        Event::new(
                            Action::IntegrationSuspended,
                            name.as_str(),
                            Outcome::Failure,
                        )
                        .details(json!({
                            "integration_id": f.id,
                            "credential_version": e.credential_version,
                            "reason": reason,
                        })),
                    )
                });
                if let Err(err) = audited {
                    tracing::error!(error = %err, "could not audit the suspension");
                }
                tracing::warn!(workspace = %e.workspace, integration = %e.integ.name, "suspended: the vendor rejected the credential");
            }
            Some(err) => {
                outcome_name = "failed";
                e.stored.failures = e.stored.failures.saturating_add(1);
                e.stored.last_error = Some(err.message.clone());
                e.state = State::BackingOff;
                e.due = Instant::now() + schedule::backoff(interval, e.stored.failures);
            }
        }
        e.stored.last_poll_end = Some(now);
        e.stored.last_outcome = Some(outcome_name.to_owned());
        e.stored.last_alerts = e.poll_alerts;
        e.stored.next_poll = (e.state != State::Suspended).then(|| {
            now + chrono::Duration::from_std(e.due.saturating_duration_since(Instant::now()))
                .unwrap_or_default()
        });
        let labels = e.labels(self.opts.hide_workspace_labels);
        let m = &self.shared.metrics;
        m.polls
            .get_or_create(&PollLabels {
                workspace: labels.workspace.clone(),
                integration: labels.integration.clone(),
                vendor: labels.vendor.clone(),
                outcome: outcome_name.to_owned(),
            })
            .inc();
        m.poll_seconds
            .get_or_create(&VendorLabels {
                vendor: labels.vendor.clone(),
            })
            .observe(took.as_secs_f64());
        if let Some(c) = &e.connector {
            let s = c.http_stats();
            m.requests
                .get_or_create(&labels)
                .inc_by(s.requests.saturating_sub(e.last_stats.requests));
            m.retries
                .get_or_create(&labels)
                .inc_by(s.retries.saturating_sub(e.last_stats.retries));
            m.throttled_waits.get_or_create(&labels).inc_by(
                s.throttled_waits
                    .saturating_sub(e.last_stats.throttled_waits),
            );
            e.last_stats = s;
        }
        tracing::info!(
            workspace = %e.workspace,
            integration = %e.integ.name,
            vendor = e.integ.kind.as_str(),
            alerts = e.poll_alerts,
            pages = e.poll_pages,
            duration_ms = took.as_millis() as u64,
            outcome = outcome_name,
            error = e.stored.last_error.as_deref().unwrap_or(""),
            "poll"
        );
        let state = e.stored.clone();
        if !self.may_poll(f.id) {
            // The lease moved on during this poll: the row is the new holder's to write.
            tracing::info!(integration_id = %state.integration_id, "lease lost during the poll; its state is left to the new holder");
            return;
        }
        self.unsaved.insert(f.id, state);
    }

    /// Save the states of the polls finished since the last call, in one transaction.
    fn save_states(&mut self, app: &mut App) {
        if self.unsaved.is_empty() {
            return;
        }
        let mut states: Vec<IntegrationStateRow> = self.unsaved.drain().map(|(_, s)| s).collect();
        // A lease lost since the poll ended (PostgreSQL): the row is the new holder's to write.
        states.retain(|s| self.may_poll(s.integration_id));
        let saved = app.store().write(|tx| {
            for state in &states {
                // An integration removed since its poll ended has no state to keep (its row
                // would cascade away): skipped, so it cannot fail the others.
                if tx.integration_exists(state.integration_id)? {
                    tx.save_integration_state(state)?;
                }
            }
            Ok::<_, Error>(())
        });
        if let Err(err) = saved {
            tracing::warn!(error = %err, states = states.len(), "integration states not saved; the next polls save theirs");
        }
    }

    /// Every integration's status (or one workspace's) as of now, sorted, for `/v1/status`.
    fn status(&self, only: Option<&str>) -> Vec<status::IntegrationStatus> {
        let now = Utc::now();
        let mut list: Vec<_> = self
            .entries
            .values()
            .filter(|e| only.is_none_or(|w| e.workspace == w))
            .map(|e| {
                let mut s = status::build(&e.workspace, &e.integ, e.state, &e.stored, now);
                s.replica = self
                    .leasing
                    .as_ref()
                    .and_then(|l| l.holder(e.integ.id))
                    .map(str::to_owned);
                if e.state == State::Polling {
                    s.waiting_on_sink = self.external.blocking(&e.workspace);
                }
                s
            })
            .collect();
        list.sort_by(|a, b| (&a.workspace, &a.integration).cmp(&(&b.workspace, &b.integration)));
        list
    }

    /// Publish the gauges that are not computed at scrape: integrations per state and, on
    /// PostgreSQL, which leases this replica holds. One pass over the entries that allocates
    /// nothing per integration.
    fn publish(&self) {
        let mut counts = [0i64; State::ALL.len()];
        for e in self.entries.values() {
            if let Some(i) = State::ALL.iter().position(|s| *s == e.state) {
                counts[i] += 1;
            }
            if let Some(l) = &self.leasing {
                e.clock.set_lease_held(l.fence(e.integ.id).is_some());
            }
        }
        let m = &self.shared.metrics;
        for (s, n) in State::ALL.iter().zip(counts) {
            m.integrations
                .get_or_create(&StateLabels {
                    state: s.as_str().to_owned(),
                })
                .set(n);
        }
    }
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| Error::Runtime(format!("cannot handle signals: {e}"));
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(err)?,
            int: signal(SignalKind::interrupt()).map_err(err)?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use seliq_connectors::{Cursor, Kind};
    use serde_json::json;

    use super::continue_from;

    fn cursor(n: u64) -> Cursor {
        Cursor::seal(Kind::Splunk, 2, &json!({ "hw": n })).unwrap()
    }

    #[test]
    fn a_held_cursor_is_used_only_over_the_checkpoint_it_was_ahead_of() {
        // Still the version it was ahead of: continue from it.
        assert_eq!(
            continue_from(Some((4, cursor(1))), Some((4, cursor(2)))),
            Some((4, cursor(2)))
        );
        // Another writer committed since: the store wins.
        assert_eq!(
            continue_from(Some((5, cursor(3))), Some((4, cursor(2)))),
            Some((5, cursor(3)))
        );
        // No checkpoint (removed and added again): nothing held survives.
        assert_eq!(continue_from(None, Some((4, cursor(2)))), None);
        assert_eq!(
            continue_from(Some((4, cursor(1))), None),
            Some((4, cursor(1)))
        );
    }
}
