//! External sinks: NATS JetStream, Splunk HEC, Elasticsearch/OpenSearch `_bulk`.
//!
//! The contract: [`ExternalSink::deliver`] returns only when the sink has acknowledged the lines
//! (durable on its side). The engine delivers a batch to every sink routed to its workspace, in
//! the poll's own task, and hands the batch to the committer only after all of them acknowledged
//! it; the checkpoint follows. A sink that is down keeps that poll waiting here (retrying with
//! capped back-off), so the integrations feeding it stop fetching while memory stays at one
//! batch per running poll. Delivery is at-least-once per sink, with the alert's `event_id` as the
//! idempotency key each sink turns into exactly-once on its side (`Nats-Msg-Id`, `_id`).
//!
//! - `config`: the `[[sink]]` tables, validated at start.
//! - `encoded`: a batch encoded once for every sink and the file.
//! - `nats`, `hec`, `elastic`: one file per sink kind.
//! - `route`: which sinks (and which index, subject prefix, sourcetype) serve a workspace.

pub mod config;
mod elastic;
mod encoded;
mod hec;
mod http;
mod nats;
mod route;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

pub use config::SinkTable;
pub use encoded::{EncodedBatch, LineMeta};
pub use route::{Route, SinkSet, Target};

/// How a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// Worth retrying as is (connection refused, 429, 5xx, a timeout, an ack that never came).
    Transient(String),
    /// Retrying cannot help (refused credentials, a mapping the index rejects): the poll fails
    /// with this sentence and the checkpoint stays where it is.
    Permanent(String),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Transient(m) | SinkError::Permanent(m) => f.write_str(m),
        }
    }
}

/// One sink. `deliver` sends the lines of `batch` whose indices are in `pending` and removes
/// each one the sink acknowledged, so a retry sends only what is still missing.
#[async_trait::async_trait]
pub trait ExternalSink: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> &'static str;
    async fn deliver(
        &self,
        target: &Target,
        batch: &EncodedBatch,
        pending: &mut Vec<usize>,
        stats: &SinkStats,
    ) -> Result<(), SinkError>;
}

/// What operators see of one sink: counters for `/metrics`, and whether it is blocking polls.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub delivered: Counter,
    /// Lines the sink already had (`duplicate: true` acks, `_bulk` 409s).
    pub duplicates: Counter,
    pub failures: Counter,
    /// 1 while at least one poll waits on this sink.
    pub blocked: Gauge,
    state: Mutex<BlockState>,
}

#[derive(Debug, Default)]
struct BlockState {
    waiting: usize,
    since: Option<Instant>,
    last_error: Option<String>,
    last_logged: Option<Instant>,
}

impl SinkStats {
    /// Stats whose counters are shared with a metrics registry.
    pub fn new(
        delivered: Counter,
        duplicates: Counter,
        failures: Counter,
        blocked: Gauge,
    ) -> SinkStats {
        SinkStats {
            delivered,
            duplicates,
            failures,
            blocked,
            state: Mutex::default(),
        }
    }

    /// The last failure while some poll is waiting on this sink, with how long it has waited.
    pub fn blocking(&self) -> Option<(Duration, String)> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match (s.waiting, s.since, &s.last_error) {
            (w, Some(since), Some(e)) if w > 0 => Some((since.elapsed(), e.clone())),
            _ => None,
        }
    }

    fn failed(&self, sink: &str, error: &str) {
        self.failures.inc();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.last_error = Some(error.to_owned());
        let now = Instant::now();
        let since = *s.since.get_or_insert(now);
        // One line when a sink starts failing, then one a minute: an outage of hours must not
        // flood the log, and the operator still sees that it goes on.
        if s.last_logged.is_none_or(|t| now - t >= LOG_EVERY) {
            s.last_logged = Some(now);
            tracing::warn!(
                sink = sink,
                waiting_polls = s.waiting,
                blocked_for_secs = (now - since).as_secs(),
                error = error,
                "sink is not acknowledging; the integrations feeding it wait"
            );
        }
    }

    fn enter(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.waiting += 1;
    }

    fn leave(&self, sink: &str, recovered: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.waiting = s.waiting.saturating_sub(1);
        if recovered && let Some(since) = s.since.take() {
            tracing::info!(
                sink = sink,
                blocked_for_secs = since.elapsed().as_secs(),
                "sink acknowledges again"
            );
            s.last_error = None;
            s.last_logged = None;
        }
        self.blocked
            .set(i64::from(s.since.is_some() && s.waiting > 0));
    }
}

const LOG_EVERY: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts at one batch. A line whose ack was lost is published
/// again within this (plus a request timeout), well inside NATS's duplicate window.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest span between two publishes of one line while a batch is retried (back-off plus
/// request timeouts, with margin). A JetStream stream's `duplicate_window` must cover it.
pub const LONGEST_RETRY_SPAN: Duration = Duration::from_secs(10 * 60);

/// Deliver `batch` to one sink until it acknowledged every line, retrying transient failures
/// with capped exponential back-off. Cancel-safe: dropping the future (a stop) loses nothing,
/// since nothing is committed until this returns.
pub async fn deliver_one(
    sink: &dyn ExternalSink,
    stats: &SinkStats,
    target: &Target,
    batch: &EncodedBatch,
) -> Result<(), SinkError> {
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    if pending.is_empty() {
        return Ok(());
    }
    stats.enter();
    // Leave the waiting count even if this future is dropped mid-retry.
    struct Leave<'a>(&'a SinkStats, &'a str, bool);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.leave(self.1, self.2);
        }
    }
    let mut guard = Leave(stats, sink.name(), false);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let before = pending.len();
        let result = sink.deliver(target, batch, &mut pending, stats).await;
        stats.delivered.inc_by((before - pending.len()) as u64);
        match result {
            Ok(()) if pending.is_empty() => {
                guard.2 = true;
                return Ok(());
            }
            // Progress without completion (a partial HEC acceptance): go on at once.
            Ok(()) => continue,
            Err(SinkError::Permanent(e)) => {
                stats.failed(sink.name(), &e);
                return Err(SinkError::Permanent(format!("sink {}: {e}", sink.name())));
            }
            Err(SinkError::Transient(e)) => {
                stats.failed(sink.name(), &e);
                stats.blocked.set(1);
                // Jitter so many polls waiting on one sink do not retry in lockstep.
                let jitter = rand::RngExt::random_range(&mut rand::rng(), 0.8..1.2);
                tokio::time::sleep(backoff.mul_f64(jitter)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Deliver `batch` to every sink of `route` at once; `Ok` when all acknowledged every line.
pub async fn deliver_all(route: &Route, batch: &EncodedBatch) -> Result<(), SinkError> {
    let all = route
        .targets()
        .map(|(sink, stats, target)| deliver_one(sink, stats, target, batch));
    for r in futures::future::join_all(all).await {
        r?;
    }
    Ok(())
}

/// Text from a sink's response, made safe for a log line or an error: one line, bounded, and
/// scrubbed of anything shaped like a credential.
pub(crate) fn remote_text(raw: &[u8]) -> String {
    use seliq_connectors::redact::{scrub_patterns, truncate};
    let text = String::from_utf8_lossy(&raw[..raw.len().min(4096)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(&scrub_patterns(&one_line), 300).into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;

    /// A sink that answers from a script: each call pops the next outcome; `Ok(n)` acknowledges
    /// the first `n` pending lines.
    struct Scripted {
        script: StdMutex<Vec<Result<usize, SinkError>>>,
        calls: StdMutex<Vec<Vec<usize>>>,
    }

    #[async_trait::async_trait]
    impl ExternalSink for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn kind(&self) -> &'static str {
            "test"
        }
        async fn deliver(
            &self,
            _target: &Target,
            _batch: &EncodedBatch,
            pending: &mut Vec<usize>,
            _stats: &SinkStats,
        ) -> Result<(), SinkError> {
            self.calls.lock().unwrap().push(pending.clone());
            match self.script.lock().unwrap().remove(0) {
                Ok(n) => {
                    pending.drain(..n.min(pending.len()));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    }

    fn batch(n: usize) -> EncodedBatch {
        EncodedBatch {
            bytes: vec![b'\n'; n],
            lines: (0..n)
                .map(|i| LineMeta {
                    start: i,
                    end: i,
                    event_id: format!("e{i}"),
                    vendor: seliq_connectors::Kind::Crowdstrike,
                    severity: seliq_connectors::Severity::High,
                    created_at: chrono::Utc::now(),
                })
                .collect(),
        }
    }

    fn sink(script: Vec<Result<usize, SinkError>>) -> Scripted {
        Scripted {
            script: StdMutex::new(script),
            calls: StdMutex::new(Vec::new()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_and_resend_only_what_is_missing() {
        let t = |m: &str| Err(SinkError::Transient(m.to_owned()));
        let s = sink(vec![t("503"), Ok(2), t("429"), t("429"), Ok(10)]);
        let stats = SinkStats::default();
        let started = tokio::time::Instant::now();
        deliver_one(&s, &stats, &Target::default(), &batch(5))
            .await
            .unwrap();
        let calls = s.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 5);
        assert_eq!(calls[0], vec![0, 1, 2, 3, 4]);
        // After two lines were acknowledged, only the other three go again.
        assert_eq!(calls[2], vec![2, 3, 4]);
        assert_eq!(stats.failures.get(), 3);
        assert_eq!(stats.delivered.get(), 5);
        assert_eq!(stats.blocked.get(), 0, "unblocked once it acknowledged");
        assert!(stats.blocking().is_none());
        // Three back-offs of 0.2, 0.4, 0.8 s (±20 %): well under 2 s of (paused) time.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1100) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_is_capped_and_a_permanent_refusal_ends_at_once() {
        let mut script: Vec<Result<usize, SinkError>> = (0..12)
            .map(|_| Err(SinkError::Transient("down".into())))
            .collect();
        script.push(Err(SinkError::Permanent(
            "401: the sink refused the credential".into(),
        )));
        let s = sink(script);
        let stats = SinkStats::default();
        let started = tokio::time::Instant::now();
        let err = deliver_one(&s, &stats, &Target::default(), &batch(3))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SinkError::Permanent("sink scripted: 401: the sink refused the credential".into())
        );
        // 0.2+0.4+…+51.2 s, then five more at the 60 s cap: never an unbounded wait.
        let waited = started.elapsed();
        let max = Duration::from_secs_f64((0.2 * (2f64.powi(9) - 1.0) + 60.0 * 3.0) * 1.2);
        assert!(waited <= max, "{waited:?} > {max:?}");
        assert_eq!(stats.delivered.get(), 0);
    }

    /// Down for ten minutes of (paused) time, then back: delivered once, about one attempt a
    /// minute once the back-off is capped, and nothing counted as waiting afterwards.
    #[tokio::test(start_paused = true)]
    async fn a_ten_minute_outage_is_ridden_out_with_capped_attempts() {
        struct DownFor(tokio::time::Instant, StdMutex<u32>);
        #[async_trait::async_trait]
        impl ExternalSink for DownFor {
            fn name(&self) -> &str {
                "down"
            }
            fn kind(&self) -> &'static str {
                "test"
            }
            async fn deliver(
                &self,
                _t: &Target,
                _b: &EncodedBatch,
                pending: &mut Vec<usize>,
                _s: &SinkStats,
            ) -> Result<(), SinkError> {
                *self.1.lock().unwrap() += 1;
                if tokio::time::Instant::now() < self.0 {
                    return Err(SinkError::Transient("connection refused".into()));
                }
                pending.clear();
                Ok(())
            }
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(600);
        let s = DownFor(until, StdMutex::new(0));
        let stats = SinkStats::default();
        deliver_one(&s, &stats, &Target::default(), &batch(2000))
            .await
            .unwrap();
        let attempts = *s.1.lock().unwrap();
        // 9 doublings reach the cap in about 100 s; then one attempt per 48-72 s.
        assert!((15..=25).contains(&attempts), "{attempts} attempts");
        assert_eq!(stats.delivered.get(), 2000);
        let late = tokio::time::Instant::now() - until;
        assert!(
            late <= MAX_BACKOFF.mul_f64(1.2),
            "recovered {late:?} after the sink"
        );
        assert!(stats.blocking().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_delivery_leaves_no_poll_counted_as_waiting() {
        let s = sink(
            (0..100)
                .map(|_| Err(SinkError::Transient("down".into())))
                .collect(),
        );
        let stats = SinkStats::default();
        let b = batch(1);
        let target = Target::default();
        let attempt = deliver_one(&s, &stats, &target, &b);
        // A stop (shutdown) drops the future mid-back-off.
        let _ = tokio::time::timeout(Duration::from_secs(5), attempt).await;
        assert!(stats.blocking().is_none(), "nobody waits any more");
        assert!(stats.failures.get() >= 3);
    }

    #[test]
    fn remote_text_is_one_bounded_scrubbed_line() {
        let raw = b"{\"error\":\"bad\",\n\"authorization\":\"Splunk 1234-secret\"}";
        let t = remote_text(raw);
        assert!(!t.contains('\n'));
        assert!(!t.contains("1234-secret"), "{t}");
        assert!(remote_text(&[b'x'; 10_000]).chars().count() < 400);
    }
}
