//! The pull engine: every alert, once.
//!
//! Integrations fetch concurrently (bounded). Their batches go to one committer that, for each
//! batch in turn, writes the NDJSON lines, makes them durable (flush, fsync for a file), and only
//! then commits the integration's new checkpoint — together with the file's new committed length.
//! Batches that wait at the committer together are committed together (one write, one fsync,
//! one transaction; see `commit`). So at any moment at most one commit's lines (one batch per
//! integration) are written but uncommitted: after a crash, a file is truncated back to the
//! committed length and stdout repeats at most those, with the same `event_id`s.

mod commit;
mod fault;
mod progress;
pub(crate) mod sink;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{Batch, Budget, Connector, Cursor, registry};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::{IntegrationId, WorkspaceId};
use crate::integrations;
use crate::sinks::{EncodedBatch, Route};
use crate::slug::{IntegrationName, Slug};
use crate::store::IntegrationRow;
use crate::workspaces;

pub use commit::encode_line;
pub(crate) use commit::{Committing, commit_group};
pub use sink::Sink;

/// First-run window when neither `--since` nor the integration says otherwise.
pub const DEFAULT_FIRST_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Alerts per batch: the unit of commit, and the most stdout can repeat after a crash.
pub const DEFAULT_BATCH: usize = 2000;

pub struct PullRequest {
    pub workspace: Slug,
    pub integration: Option<IntegrationName>,
    pub since: Option<DateTime<Utc>>,
    pub max: Option<u64>,
    pub concurrency: usize,
    pub batch_size: usize,
    /// External sinks (JetStream, HEC, `_bulk`) every batch is delivered to before its commit.
    pub route: Option<Arc<Route>>,
}

/// What happened to one integration.
#[derive(Debug, Clone, Default)]
pub struct IntegrationReport {
    pub name: String,
    pub alerts: u64,
    pub pages: u64,
    pub retries: u64,
    /// Vendor records that could not be mapped, kept in the integration's dead letters.
    pub dead_lettered: u64,
    /// A few distinct reasons among them (our own text), for the summary and the audit entry.
    pub dead_letter_reasons: Vec<String>,
    pub error: Option<String>,
    pub credential_rejected: bool,
    /// Another process moved this integration's checkpoint: exit 3.
    pub conflict: bool,
}

/// How many distinct dead-letter reasons a report keeps.
const MAX_REASONS: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct PullReport {
    pub integrations: Vec<IntegrationReport>,
}

impl PullReport {
    pub fn alerts(&self) -> u64 {
        self.integrations.iter().map(|r| r.alerts).sum()
    }

    /// All good; another writer moved a checkpoint (conflict); some failed (partial); all failed
    /// on rejected credentials; all failed otherwise (failure).
    pub fn exit(&self) -> crate::error::Exit {
        use crate::error::Exit;
        let failed: Vec<_> = self
            .integrations
            .iter()
            .filter(|r| r.error.is_some())
            .collect();
        if failed.is_empty() {
            Exit::Ok
        } else if failed.iter().any(|r| r.conflict) {
            Exit::Conflict
        } else if failed.len() < self.integrations.len() {
            Exit::Partial
        } else if failed.iter().all(|r| r.credential_rejected) {
            Exit::CredentialRejected
        } else {
            Exit::Failure
        }
    }
}

/// The lease a `serve` replica polled under (PostgreSQL): its batches commit only while the
/// replica still holds the integration at this epoch, checked in the commit's transaction.
#[derive(Debug, Clone)]
pub(crate) struct Fence {
    pub owner: Arc<str>,
    pub epoch: u64,
}

/// One integration ready to pull.
pub(crate) struct Job {
    /// The workspace slug, as it appears in every line.
    pub workspace: String,
    pub integ: IntegrationRow,
    /// Shared so `serve` keeps one connector (token cache, rate limiter) across polls.
    pub connector: Arc<dyn Connector>,
    pub cursor: Option<Cursor>,
    /// The stored checkpoint's version when the cursor was read (0: none yet).
    pub checkpoint_version: u64,
    pub since: DateTime<Utc>,
    /// The external sinks of this workspace; `None`: the file or stdout only.
    pub route: Option<Arc<Route>>,
    /// The workspace's SLA policy and the ledger its stamps read.
    pub sla: Arc<crate::sla::Stamper>,
    /// The lease this poll runs under (`serve` on PostgreSQL); `None`: no lease is needed.
    pub fence: Option<Fence>,
    /// An empty batch that only moves the cursor is not committed; the outcome hands its cursor
    /// back instead (`serve`, between its periodic cursor commits). Replaying from the older
    /// stored cursor after a crash re-reads a window that emitted nothing, so nothing is lost
    /// or repeated; what is saved is one write transaction per idle poll.
    pub hold_cursor_only: bool,
}

/// A batch on its way to the committer; the ack says whether it was committed.
pub(crate) struct Delivery {
    pub index: usize,
    pub integration_id: IntegrationId,
    pub batch: Batch,
    /// The checkpoint version this commit writes: the one read plus one. A stored checkpoint at
    /// any other version means another writer moved it, and the commit is refused.
    pub version: u64,
    /// The lease the batch was fetched under, if any.
    pub fence: Option<Fence>,
    /// The lines as delivered to the external sinks, written as they are (encoded once).
    pub encoded: Option<EncodedBatch>,
    /// Each alert's `sla`/`routing` fields and ledger row, committed with the checkpoint.
    pub stamped: crate::sla::Stamped,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// Where a first pull of `integ` starts: its stored first window back from `now`.
pub(crate) fn first_window_start(
    integ: &IntegrationRow,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let window = crate::timespec::check_span(
        &format!("the stored first window of integration {}", integ.name),
        Duration::from_secs(integ.first_window_secs),
    )?;
    let window = chrono::Duration::from_std(window)
        .map_err(|_| Error::Runtime("the stored first window is out of range".to_owned()))?;
    now.checked_sub_signed(window)
        .ok_or_else(|| Error::Runtime("the stored first window is out of range".to_owned()))
}

/// Resolve the integrations, open credentials and checkpoints, and build the connectors.
fn prepare(
    app: &mut App,
    http: &HttpOptions,
    req: &PullRequest,
) -> Result<(WorkspaceId, Vec<Job>, Vec<IntegrationReport>)> {
    let vault = app.vault().clone();
    let now = Utc::now();
    let (ws, policy, rows) = app.store().read(|tx| {
        let ws = workspaces::require(tx, &req.workspace)?;
        let rows = match &req.integration {
            Some(name) => vec![integrations::require(tx, &req.workspace, name)?.1],
            None => tx.integrations(ws.id)?,
        };
        let policy = crate::sla::effective(tx, ws.id)?;
        let mut out = Vec::new();
        for integ in rows {
            let secret = integrations::open_current(tx, &vault, &ws, &integ);
            let checkpoint = tx.checkpoint(integ.id)?;
            out.push((integ, secret, checkpoint));
        }
        Ok::<_, Error>((ws, policy, out))
    })?;
    let sla = Arc::new(crate::sla::Stamper {
        workspace_id: ws.id,
        policy: Arc::new(policy),
        ledger: crate::sla::Ledger::open(app.store())?,
    });
    let mut jobs = Vec::new();
    let mut failed = Vec::new();
    for (integ, secret, checkpoint) in rows {
        // The stored window is untrusted input too: a bad value fails this integration only.
        let since = match req.since {
            Some(t) => Ok(t),
            None => first_window_start(&integ, now),
        };
        let built = since.and_then(|since| {
            let s = secret?;
            Ok((since, registry::build(&integ.settings, s, http)?))
        });
        match built {
            Ok((since, connector)) => jobs.push(Job {
                workspace: req.workspace.to_string(),
                sla: sla.clone(),
                route: req.route.clone(),
                checkpoint_version: checkpoint.as_ref().map_or(0, |c| c.version),
                cursor: checkpoint.map(|c| c.cursor),
                integ,
                connector: Arc::from(connector),
                since,
                fence: None,
                hold_cursor_only: false,
            }),
            Err(e) => failed.push(IntegrationReport {
                name: integ.name.to_string(),
                credential_rejected: matches!(&e, Error::Connector(c) if c.is_credential_rejected()),
                error: Some(e.to_string()),
                ..Default::default()
            }),
        }
    }
    Ok((ws.id, jobs, failed))
}

/// Pull every selected integration of one workspace into `sink`.
pub async fn run(
    app: &mut App,
    http: &HttpOptions,
    req: &PullRequest,
    sink: &mut Sink,
) -> Result<PullReport> {
    let (workspace_id, jobs, mut failed) = prepare(app, http, req)?;
    let engine = Engine {
        concurrency: req.concurrency,
        batch_size: req.batch_size,
        max: req.max,
        progress: true,
    };
    let (mut reports, _) = run_jobs(app, sink, jobs, &engine).await?;
    reports.append(&mut failed);
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    record(app, workspace_id, &reports)?;
    Ok(PullReport {
        integrations: reports,
    })
}

/// How [`run_jobs`] runs.
pub(crate) struct Engine {
    /// Integrations fetching at once.
    pub concurrency: usize,
    pub batch_size: usize,
    /// `--max`: alerts in all, across every integration.
    pub max: Option<u64>,
    /// Draw the progress line on a terminal.
    pub progress: bool,
}

/// What the committer did: batches committed, and the transactions (fsyncs) they took.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommitStats {
    pub batches: u64,
    pub commits: u64,
}

/// The engine: every job fetches concurrently (up to `concurrency`), one committer writes and
/// commits their batches into `sink`. Batches that wait at the committer together are committed
/// together ([`commit_group`]): one write, one fsync, one transaction. Jobs may belong to
/// different workspaces (each carries its slug and SLA stamper). One report per job, in order.
pub(crate) async fn run_jobs(
    app: &mut App,
    sink: &mut Sink,
    jobs: Vec<Job>,
    engine: &Engine,
) -> Result<(Vec<IntegrationReport>, CommitStats)> {
    let names: Vec<String> = jobs.iter().map(|j| j.integ.name.to_string()).collect();
    let slugs: Vec<String> = jobs.iter().map(|j| j.workspace.clone()).collect();
    let mut reports: Vec<IntegrationReport> = names
        .iter()
        .map(|n| IntegrationReport {
            name: n.clone(),
            ..Default::default()
        })
        .collect();
    let progress = engine.progress.then(|| progress::Progress::new(&names));

    let concurrency = engine.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Delivery>(concurrency);
    let gate = Arc::new(Semaphore::new(concurrency));
    // `--max`: alerts reserved by in-flight fetches, so concurrent fetches never overshoot.
    let remaining = Arc::new(AtomicU64::new(engine.max.unwrap_or(u64::MAX)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let tx = tx.clone();
        let gate = gate.clone();
        let remaining = remaining.clone();
        let batch_size = engine.batch_size;
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let outcome = pull_one(index, job, batch_size, remaining, tx, None).await;
            (index, outcome)
        });
    }
    drop(tx);

    let mut stats = CommitStats::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut waiting: Vec<Delivery> = Vec::new();
    while let Some(first) = rx.recv().await {
        waiting.push(first);
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        stats.commits += 1;
        let group: Vec<Committing<'_>> = waiting
            .iter()
            .map(|d| Committing {
                workspace: &slugs[d.index],
                integration: &names[d.index],
                delivery: d,
            })
            .collect();
        let results = commit_group(app, sink, &group, stats.commits, &mut buf);
        drop(group);
        for (d, result) in waiting.drain(..).zip(results) {
            match &result {
                Ok(()) => {
                    stats.batches += 1;
                    let r = &mut reports[d.index];
                    r.alerts += d.batch.alerts.len() as u64;
                    r.pages += u64::from(d.batch.pages);
                    r.dead_lettered += d.batch.quarantined.len() as u64;
                    for q in &d.batch.quarantined {
                        if r.dead_letter_reasons.len() < MAX_REASONS
                            && !r.dead_letter_reasons.contains(&q.reason)
                        {
                            r.dead_letter_reasons.push(q.reason.clone());
                        }
                    }
                    if let Some(p) = &progress {
                        p.update(d.index, r.alerts);
                    }
                }
                Err(e) => {
                    reports[d.index].conflict |= matches!(e, Error::Conflict(_));
                    tracing::error!(integration = %names[d.index], error = %e, "batch not committed")
                }
            }
            let _ = d.ack.send(result.map_err(|e| e.to_string()));
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) =
            joined.map_err(|e| Error::Runtime(format!("pull task failed: {e}")))?;
        let r = &mut reports[index];
        r.retries = outcome.retries;
        if let Some(e) = outcome.error {
            r.credential_rejected = e.credential_rejected;
            r.error = Some(e.message);
        }
    }
    Ok((reports, stats))
}

/// Why one integration's pull stopped early. The message is one sentence (connector errors are
/// redacted before they get here).
#[derive(Debug, Clone)]
pub(crate) struct PullError {
    pub message: String,
    /// The vendor refused the credential: retrying cannot help until it changes.
    pub credential_rejected: bool,
}

pub(crate) struct TaskOutcome {
    pub retries: u64,
    pub error: Option<PullError>,
    /// A stop was asked for (shutdown, integration removed): the pull ended early, nothing lost.
    pub stopped: bool,
    /// The cursor the pull ended on when it is ahead of the committed checkpoint (only with
    /// [`Job::hold_cursor_only`]), with the version of that checkpoint.
    pub held_cursor: Option<(u64, Cursor)>,
}

/// Pull one integration until it is caught up (or `--max`, an error, or `stop`), handing each
/// batch to the committer through `tx` and waiting for its ack before the next cursor is used.
pub(crate) async fn pull_one(
    index: usize,
    job: Job,
    batch_size: usize,
    remaining: Arc<AtomicU64>,
    tx: mpsc::Sender<Delivery>,
    mut stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> TaskOutcome {
    let Job {
        workspace,
        integ,
        connector,
        mut cursor,
        mut checkpoint_version,
        since,
        route,
        sla,
        fence,
        hold_cursor_only,
    } = job;
    let fail = |e: String, rejected: bool, c: &dyn Connector| TaskOutcome {
        retries: c.retries(),
        error: Some(PullError {
            message: e,
            credential_rejected: rejected,
        }),
        stopped: false,
        held_cursor: None,
    };
    // Set while the cursor is ahead of what was handed to the committer.
    let mut held = false;
    let mut stopped = false;
    // The previous batch's commit, still in flight. Fetching batch k+1 from cursor k while batch
    // k is written and fsynced overlaps the vendor's latency with our disk; it is safe because a
    // cursor still reaches the store only after its own batch is durable, and batch k+1 is sent
    // only once batch k is acknowledged.
    let mut in_flight: Option<oneshot::Receiver<Result<(), String>>> = None;
    let committed = |ack: Option<Result<Result<(), String>, oneshot::error::RecvError>>| match ack {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(_)) => Err("the committer stopped".to_owned()),
    };
    loop {
        let want = reserve(&remaining, batch_size as u64);
        if want == 0 {
            break;
        }
        let budget = Budget {
            max_alerts: want as usize,
            since,
        };
        let previous = async {
            match in_flight.take() {
                Some(rx) => Some(rx.await),
                None => None,
            }
        };
        // A stop abandons the fetch in flight (nothing of it is committed, so nothing is lost)
        // but never a batch already handed to the committer: that one's ack is awaited below.
        let fetch = connector.fetch(cursor.as_ref(), budget);
        let stop_asked = async {
            match stop.as_mut() {
                Some(rx) => {
                    let _ = rx.wait_for(|v| *v).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let raced = async {
            tokio::select! {
                f = fetch => Some(f),
                () = stop_asked => None,
            }
        };
        let (fetched, ack) = tokio::join!(raced, previous);
        let Some(fetched) = fetched else {
            remaining.fetch_add(want, Ordering::SeqCst);
            stopped = true;
            if let Err(e) = committed(ack) {
                return fail(e, false, connector.as_ref());
            }
            break;
        };
        if let Err(e) = committed(ack) {
            remaining.fetch_add(want, Ordering::SeqCst);
            return fail(e, false, connector.as_ref());
        }
        let batch = match fetched {
            Ok(b) => b,
            Err(e) => {
                remaining.fetch_add(want, Ordering::SeqCst);
                return fail(
                    e.to_string(),
                    e.is_credential_rejected(),
                    connector.as_ref(),
                );
            }
        };
        let got = batch.alerts.len() as u64;
        if got > want {
            return fail(
                format!("connector returned {got} alerts for a budget of {want}"),
                false,
                connector.as_ref(),
            );
        }
        remaining.fetch_add(want - got, Ordering::SeqCst);
        // Stamping reads the ledger (SQLite, blocking): on the ledger's own thread, so the async
        // workers keep fetching for other integrations meanwhile. An empty batch (most `serve`
        // polls) has nothing to stamp: no thread hop, no ledger transaction.
        let stamped = if batch.alerts.is_empty() {
            Ok((Ok(sla.nothing(Utc::now())), batch))
        } else {
            let stamper = sla.clone();
            sla.ledger
                .run(move || {
                    let stamped = stamper.stamp(&batch.alerts, Utc::now());
                    (stamped, batch)
                })
                .await
        };
        let (stamped, batch) = match stamped {
            Ok((Ok(s), batch)) => (s, batch),
            Ok((Err(e), _)) | Err(e) => return fail(e.to_string(), false, connector.as_ref()),
        };
        // Every external sink acknowledges the batch before the committer sees it; a stop while
        // a sink is down abandons it (nothing of it is committed, so nothing is lost).
        let encoded = match &route {
            Some(route) if got > 0 => {
                let enc = match EncodedBatch::encode(
                    &workspace,
                    integ.name.as_str(),
                    &batch.alerts,
                    &stamped.extras,
                ) {
                    Ok(e) => e,
                    Err(e) => return fail(e.to_string(), false, connector.as_ref()),
                };
                let delivered = tokio::select! {
                    r = crate::sinks::deliver_all(route, &enc) => Some(r),
                    () = stop_requested(&mut stop) => None,
                };
                match delivered {
                    Some(Ok(())) => Some(enc),
                    Some(Err(e)) => return fail(e.to_string(), false, connector.as_ref()),
                    None => {
                        remaining.fetch_add(got, Ordering::SeqCst);
                        stopped = true;
                        break;
                    }
                }
            }
            _ => None,
        };
        let next = batch.cursor.clone();
        let unchanged = cursor.as_ref() == Some(&next);
        // An empty batch that does not move the cursor would be fetched again forever.
        let caught_up = batch.caught_up || (got == 0 && unchanged);
        // Quarantined records are written by the committer: a batch with any is committed.
        if got == 0 && !unchanged && hold_cursor_only && batch.quarantined.is_empty() {
            held = true;
        } else if got > 0 || !unchanged {
            held = false;
            let (ack_tx, ack_rx) = oneshot::channel();
            checkpoint_version += 1;
            let delivery = Delivery {
                index,
                integration_id: integ.id,
                batch,
                version: checkpoint_version,
                fence: fence.clone(),
                encoded,
                stamped,
                ack: ack_tx,
            };
            if tx.send(delivery).await.is_err() {
                return fail(
                    "the committer stopped".to_owned(),
                    false,
                    connector.as_ref(),
                );
            }
            in_flight = Some(ack_rx);
        }
        cursor = Some(next);
        if caught_up {
            break;
        }
    }
    let last = match in_flight.take() {
        Some(rx) => Some(rx.await),
        None => None,
    };
    if let Err(e) = committed(last) {
        return fail(e, false, connector.as_ref());
    }
    TaskOutcome {
        retries: connector.retries(),
        error: None,
        stopped,
        held_cursor: held
            .then(|| cursor.map(|c| (checkpoint_version, c)))
            .flatten(),
    }
}

/// Resolves when a stop is asked for; never without a stop channel.
async fn stop_requested(stop: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match stop.as_mut() {
        Some(rx) => {
            let _ = rx.wait_for(|v| *v).await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Take up to `want` from the shared `--max` budget.
fn reserve(remaining: &AtomicU64, want: u64) -> u64 {
    let mut cur = remaining.load(Ordering::SeqCst);
    loop {
        let take = cur.min(want);
        if take == 0 {
            return 0;
        }
        match remaining.compare_exchange(cur, cur - take, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return take,
            Err(actual) => cur = actual,
        }
    }
}

/// One `pull.completed` entry per integration, in one transaction.
fn record(app: &mut App, workspace_id: WorkspaceId, reports: &[IntegrationReport]) -> Result<()> {
    let who = app.who().clone();
    app.store().write(|tx| {
        for r in reports {
            let outcome = if r.error.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            audit::append(
                tx,
                workspace_id,
                &who,
                Event::new(Action::PullCompleted, r.name.as_str(), outcome).details(json!({
                    "alerts": r.alerts,
                    "pages": r.pages,
                    "retries": r.retries,
                    "dead_lettered": r.dead_lettered,
                    "dead_letter_reasons": r.dead_letter_reasons,
                    "error": r.error,
                })),
            )?;
        }
        Ok::<_, Error>(())
    })
}

/// Elapsed-time helper for progress.
pub(crate) fn rate(count: u64, since: Instant) -> f64 {
    let secs = since.elapsed().as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}
