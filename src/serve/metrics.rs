//! Prometheus metrics of `serve`, in a registry this process owns (no global recorder, so tests
//! and several gateways in one process never mix their figures).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    pub workspace: String,
    pub integration: String,
    pub vendor: String,
    pub replica: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

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
    pub lag_seconds: Family<IntegrationLabels, F64Gauge>,
    pub since_success_seconds: Family<IntegrationLabels, F64Gauge>,
    pub sink_delivered: Family<SinkLabels, Counter>,
    pub sink_duplicates: Family<SinkLabels, Counter>,
    pub sink_failures: Family<SinkLabels, Counter>,
    pub sink_blocked: Family<SinkLabels, Gauge>,
    pub lease_held: Family<LeaseLabels, Gauge>,
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
            lag_seconds: Family::default(),
            since_success_seconds: Family::default(),
            sink_delivered: Family::default(),
            sink_duplicates: Family::default(),
            sink_failures: Family::default(),
            sink_blocked: Family::default(),
            lease_held: Family::default(),
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
            "lag_seconds",
            "Now minus the newest vendor last-modified time emitted for the integration",
            m.lag_seconds.clone(),
        );
        registry.register(
            "seconds_since_last_success",
            "Seconds since the integration's last successful poll",
            m.since_success_seconds.clone(),
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
        registry.register(
            "lease_held",
            "On PostgreSQL: 1 while this replica holds the integration's lease (and polls it), else 0",
            m.lease_held.clone(),
        );
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
