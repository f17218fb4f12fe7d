//! Prometheus metrics of `serve`, in a registry this process owns (no global recorder, so tests
//! and several gateways in one process never mix their figures).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct IntegrationLabels {
    pub workspace: String,
    pub integration: String,
    pub vendor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub workspace: String,
    pub integration: String,
    pub vendor: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VendorLabels {
    pub vendor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    pub sink: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct LeaseLabels {
    pub workspace: String,
    pub integration: String,
    pub vendor: String,
    pub replica: String,
}

fn poll_histogram() -> Histogram {
    // 50 ms … ~7 min: one page to a long backlog.
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Upper bounds of the delivery lag buckets, in seconds: fine around one to two default 60 s
/// intervals (where an idle-then-new alert lands), coarse beyond for backlogs and late events.
pub const DELIVERY_LAG_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 62.0, 65.0, 70.0, 75.0, 80.0, 90.0,
    120.0, 180.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0,
];

fn delivery_lag_histogram() -> Histogram {
    Histogram::new(DELIVERY_LAG_BUCKETS.iter().copied())
}

pub struct Metrics {
    registry: Registry,
    pub alerts: Family<IntegrationLabels, Counter>,
    pub dead_letters: Family<IntegrationLabels, Counter>,
    pub polls: Family<PollLabels, Counter>,
    pub poll_seconds: Family<VendorLabels, Histogram, fn() -> Histogram>,
    pub delivery_lag: Family<VendorLabels, Histogram, fn() -> Histogram>,
    pub requests: Family<IntegrationLabels, Counter>,
    pub retries: Family<IntegrationLabels, Counter>,
    pub throttled_waits: Family<IntegrationLabels, Counter>,
    pub integrations: Family<StateLabels, Gauge>,
    /// The lag, since-success and lease gauges of every scheduled integration, computed at
    /// scrape time.
    pub clocks: Arc<Clocks>,
    pub sink_delivered: Family<SinkLabels, Counter>,
    pub sink_duplicates: Family<SinkLabels, Counter>,
    pub sink_failures: Family<SinkLabels, Counter>,
    pub sink_blocked: Family<SinkLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("seliq");
        let m = Metrics {
            alerts: Family::default(),
            dead_letters: Family::default(),
            polls: Family::default(),
            poll_seconds: Family::new_with_constructor(poll_histogram as fn() -> Histogram),
            delivery_lag: Family::new_with_constructor(delivery_lag_histogram as fn() -> Histogram),
            requests: Family::default(),
            retries: Family::default(),
            throttled_waits: Family::default(),
            integrations: Family::default(),
            clocks: Arc::new(Clocks::default()),
            sink_delivered: Family::default(),
            sink_duplicates: Family::default(),
            sink_failures: Family::default(),
            sink_blocked: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "alerts_emitted",
            "Alerts written and committed to the sink",
            m.alerts.clone(),
        );
        registry.register(
            "dead_letters",
            "Vendor records that could not be mapped, kept as dead letters",
            m.dead_letters.clone(),
        );
        registry.register("polls", "Polls by outcome", m.polls.clone());
        registry.register(
            "poll_duration_seconds",
            "How long one poll took, from its start to its last committed batch",
            m.poll_seconds.clone(),
        );
        registry.register(
            "delivery_lag_seconds",
            "Per alert version: its commit by this gateway minus the vendor's last-modified time",
            m.delivery_lag.clone(),
        );
        registry.register(
            "vendor_requests",
            "HTTP requests sent to the vendor (every attempt)",
            m.requests.clone(),
        );
        registry.register(
            "vendor_retries",
            "Vendor requests retried (429, 5xx, transport errors)",
            m.retries.clone(),
        );
        registry.register(
            "vendor_throttled_waits",
            "Times a vendor request waited on a rate limit or a Retry-After",
            m.throttled_waits.clone(),
        );
        registry.register(
            "integrations",
            "Integrations by scheduler state",
            m.integrations.clone(),
        );
        registry.register(
            "sink_delivered",
            "Alert lines an external sink acknowledged",
            m.sink_delivered.clone(),
        );
        registry.register(
            "sink_duplicates",
            "Lines a sink already had (JetStream duplicate acks, _bulk 409s): redeliveries absorbed by event_id",
            m.sink_duplicates.clone(),
        );
        registry.register(
            "sink_failures",
            "Delivery attempts an external sink did not acknowledge",
            m.sink_failures.clone(),
        );
        registry.register(
            "sink_blocked",
            "1 while polls wait on this sink (it is down or refusing), else 0",
            m.sink_blocked.clone(),
        );
        registry.register_collector(Box::new(m.clocks.clone()));
        Metrics { registry, ..m }
    }

    /// The figures of one external sink, shared with the families above so `/metrics` shows them.
    pub fn sink_stats(&self, sink: &str, kind: &str) -> crate::sinks::SinkStats {
        let l = SinkLabels {
            sink: sink.to_owned(),
            kind: kind.to_owned(),
        };
        crate::sinks::SinkStats::new(
            self.sink_delivered.get_or_create(&l).clone(),
            self.sink_duplicates.get_or_create(&l).clone(),
            self.sink_failures.get_or_create(&l).clone(),
            self.sink_blocked.get_or_create(&l).clone(),
        )
    }

    /// The Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// No time recorded yet.
const NEVER: i64 = i64::MIN;

fn millis(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(NEVER, |t| t.timestamp_millis())
}

/// What the gauges of one integration are computed from. The scheduler stores the two times when
/// they change (a commit, a successful poll); a scrape subtracts them from its own clock. So no
/// task rewrites a gauge per integration per second, and a scrape is never staler than itself.
#[derive(Debug)]
pub struct IntegrationClock {
    labels: IntegrationLabels,
    /// Unix milliseconds of the newest vendor last-modified time emitted, or [`NEVER`].
    newest_updated: AtomicI64,
    /// Unix milliseconds of the last successful poll, or [`NEVER`].
    last_success: AtomicI64,
    /// On PostgreSQL: whether this replica holds the integration's lease.
    lease_held: AtomicBool,
}

impl IntegrationClock {
    /// Record both times (each only moves when the scheduler's view of it moved).
    pub fn set(&self, newest_updated: Option<DateTime<Utc>>, last_success: Option<DateTime<Utc>>) {
        self.newest_updated
            .store(millis(newest_updated), Ordering::Relaxed);
        self.last_success
            .store(millis(last_success), Ordering::Relaxed);
    }

    pub fn set_lease_held(&self, held: bool) {
        self.lease_held.store(held, Ordering::Relaxed);
    }
}

/// The clocks of every scheduled integration, registered as one collector.
#[derive(Debug, Default)]
pub struct Clocks {
    by_id: Mutex<HashMap<crate::ids::IntegrationId, Arc<IntegrationClock>>>,
    /// On PostgreSQL: this replica's name, for `lease_held`.
    replica: Mutex<Option<String>>,
}

impl Clocks {
    /// The clock of a newly scheduled integration (replacing any under the same id).
    pub fn add(
        &self,
        id: crate::ids::IntegrationId,
        labels: IntegrationLabels,
    ) -> Arc<IntegrationClock> {
        let clock = Arc::new(IntegrationClock {
            labels,
            newest_updated: AtomicI64::new(NEVER),
            last_success: AtomicI64::new(NEVER),
            lease_held: AtomicBool::new(false),
        });
        self.lock().insert(id, clock.clone());
        clock
    }

    /// Its gauges go with it (it is no longer scheduled).
    pub fn remove(&self, id: crate::ids::IntegrationId) {
        self.lock().remove(&id);
    }

    pub fn set_replica(&self, replica: &str) {
        *self.replica.lock().unwrap_or_else(|p| p.into_inner()) = Some(replica.to_owned());
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<crate::ids::IntegrationId, Arc<IntegrationClock>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds from each recorded time to `now`, one series per label set. Integrations that
    /// share a label set (workspace labels hidden, one integration name in several workspaces)
    /// report the largest: the worst lag is the one an operator must see.
    fn gauges(
        &self,
        now_ms: i64,
        pick: impl Fn(&IntegrationClock) -> i64,
    ) -> BTreeMap<IntegrationLabels, f64> {
        let mut out: BTreeMap<IntegrationLabels, f64> = BTreeMap::new();
        for c in self.lock().values() {
            let t = pick(c);
            if t == NEVER {
                continue;
            }
            let secs = now_ms.saturating_sub(t).max(0) as f64 / 1000.0;
            out.entry(c.labels.clone())
                .and_modify(|v| *v = v.max(secs))
                .or_insert(secs);
        }
        out
    }
}

fn encode_gauges<L: EncodeLabelSet, N: prometheus_client::encoding::EncodeGaugeValue + Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &BTreeMap<L, N>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, value) in series {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for Clocks {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = Utc::now().timestamp_millis();
        encode_gauges(
            &mut encoder,
            "lag_seconds",
            "Now minus the newest vendor last-modified time emitted for the integration",
            &self.gauges(now, |c| c.newest_updated.load(Ordering::Relaxed)),
        )?;
        encode_gauges(
            &mut encoder,
            "seconds_since_last_success",
            "Seconds since the integration's last successful poll",
            &self.gauges(now, |c| c.last_success.load(Ordering::Relaxed)),
        )?;
        let replica = self
            .replica
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(replica) = replica {
            let mut held: BTreeMap<LeaseLabels, i64> = BTreeMap::new();
            for c in self.lock().values() {
                let l = LeaseLabels {
                    workspace: c.labels.workspace.clone(),
                    integration: c.labels.integration.clone(),
                    vendor: c.labels.vendor.clone(),
                    replica: replica.clone(),
                };
                let v = i64::from(c.lease_held.load(Ordering::Relaxed));
                held.entry(l).and_modify(|h| *h = (*h).max(v)).or_insert(v);
            }
            encode_gauges(
                &mut encoder,
                "lease_held",
                "On PostgreSQL: 1 while this replica holds the integration's lease (and polls it), else 0",
                &held,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IntegrationId;

    fn labels(ws: &str, name: &str) -> IntegrationLabels {
        IntegrationLabels {
            workspace: ws.to_owned(),
            integration: name.to_owned(),
            vendor: "crowdstrike".to_owned(),
        }
    }

    fn series(text: &str, metric: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}{{")))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn lag_and_since_success_are_computed_at_the_scrape() {
        let m = Metrics::new();
        let id = IntegrationId::new();
        let a = m.clocks.add(id, labels("acme", "falcon"));
        let _never = m.clocks.add(IntegrationId::new(), labels("acme", "quiet"));
        let now = Utc::now();
        a.set(
            Some(now - chrono::Duration::seconds(90)),
            Some(now - chrono::Duration::seconds(30)),
        );
        let text = m.encode();
        let lag = series(&text, "seliq_lag_seconds");
        assert_eq!(lag.len(), 1, "no time, no series: {text}");
        assert!(lag[0].0.contains(r#"integration="falcon""#));
        assert!((90.0..92.0).contains(&lag[0].1), "{lag:?}");
        let since = series(&text, "seliq_seconds_since_last_success");
        assert!((30.0..32.0).contains(&since[0].1), "{since:?}");
        assert!(
            text.contains("# TYPE seliq_lag_seconds gauge"),
            "declared a gauge: {text}"
        );
        // Without leases (SQLite) there is no lease gauge at all.
        assert!(!text.contains("seliq_lease_held"), "{text}");

        // Gone from the schedule: gone from the scrape.
        m.clocks.remove(id);
        assert!(series(&m.encode(), "seliq_lag_seconds").is_empty());
    }

    #[test]
    fn integrations_sharing_labels_report_the_worst_and_leases_name_the_replica() {
        let m = Metrics::new();
        m.clocks.set_replica("r1");
        let now = Utc::now();
        // Workspace labels hidden: one integration name in two workspaces.
        let a = m.clocks.add(IntegrationId::new(), labels("", "falcon"));
        let b = m.clocks.add(IntegrationId::new(), labels("", "falcon"));
        a.set(Some(now - chrono::Duration::seconds(10)), None);
        b.set(Some(now - chrono::Duration::seconds(500)), None);
        b.set_lease_held(true);
        let text = m.encode();
        let lag = series(&text, "seliq_lag_seconds");
        assert_eq!(lag.len(), 1, "one series per label set: {text}");
        assert!((500.0..502.0).contains(&lag[0].1), "{lag:?}");
        let held = series(&text, "seliq_lease_held");
        assert_eq!(held.len(), 1, "{text}");
        assert!(held[0].0.contains(r#"replica="r1""#), "{held:?}");
        assert_eq!(held[0].1, 1.0);
        // A time in the future (a vendor clock ahead) is no negative lag.
        a.set(Some(now + chrono::Duration::seconds(3600)), None);
        b.set(None, None);
        assert_eq!(series(&m.encode(), "seliq_lag_seconds")[0].1, 0.0);
    }
}
