//! Per-integration request quota (governor) on an injectable clock.
//!
//! governor's default clock and `until_ready` run on real time, which would make every test of
//! throttling take real seconds. The limiter here reads `tokio::time::Instant`, so tests on
//! tokio's paused clock see the same behaviour in no wall time, and every wait is a
//! `tokio::time::sleep`.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// A quota: at most `requests` in any window of `period`.
///
/// Requests are spaced evenly (`period / requests` apart, no burst): vendors count in sliding
/// windows (CrowdStrike: 6000 per minute), and a burst followed by the steady rate would put up to
/// `2 * requests - 1` into one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

impl RateLimit {
    pub const fn new(requests: u32, period: Duration) -> Self {
        RateLimit { requests, period }
    }

    pub const fn per_second(requests: u32) -> Self {
        RateLimit::new(requests, Duration::from_secs(1))
    }

    pub const fn per_minute(requests: u32) -> Self {
        RateLimit::new(requests, Duration::from_secs(60))
    }

    /// The time between two requests; `None` when the quota does not limit anything
    /// (zero period, or an interval that rounds to zero).
    pub fn interval(&self) -> Option<Duration> {
        let requests = self.requests.max(1);
        let interval = self.period / requests;
        (!interval.is_zero()).then_some(interval)
    }

    fn quota(&self) -> Option<Quota> {
        Quota::with_period(self.interval()?).map(|q| q.allow_burst(NonZeroU32::MIN))
    }
}

/// A governor clock over `tokio::time::Instant`, measured from the limiter's creation.
///
/// It remembers its last reading so the limiter can record the exact instant governor granted a
/// request (the statistics then prove the quota from the limiter's own point of view).
#[derive(Debug)]
struct TokioClock {
    origin: Instant,
    last: AtomicU64,
}

impl TokioClock {
    fn new(origin: Instant) -> Self {
        TokioClock {
            origin,
            last: AtomicU64::new(0),
        }
    }

    fn nanos_now(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Shared clock handle: governor wants the clock by value, and the limiter and our statistics
/// must read the very same clock.
#[derive(Debug, Clone)]
struct SharedClock(std::sync::Arc<TokioClock>);

impl Clock for SharedClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let n = self.0.nanos_now();
        self.0.last.store(n, Ordering::Relaxed);
        Nanos::from(n)
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, SharedClock, NoOpMiddleware<Nanos>>;

/// Upper bound on remembered request times: keeps memory bounded even without a quota.
const WINDOW_CAP: usize = 65_536;

#[derive(Debug, Default)]
struct Window {
    /// Grant times (nanoseconds since the clock's origin) within the last `period`.
    starts: VecDeque<u64>,
    max_in_period: u64,
    granted: u64,
    throttled_waits: u64,
}

/// The per-integration gate every attempt passes before it is sent.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    clock: std::sync::Arc<TokioClock>,
    governor: Option<Governor>,
    /// Serialises check-and-record so recorded times are exactly governor's grant times.
    window: Mutex<Window>,
}

/// What the limiter has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LimiterCounts {
    pub granted: u64,
    pub throttled_waits: u64,
    pub max_in_period: u64,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let clock = std::sync::Arc::new(TokioClock::new(Instant::now()));
        let governor = limit
            .quota()
            .map(|q| RateLimiter::direct_with_clock(q, SharedClock(clock.clone())));
        Limiter {
            limit,
            clock,
            governor,
            window: Mutex::new(Window::default()),
        }
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Waits until the quota admits one more request and records it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut w = lock(&self.window);
                match &self.governor {
                    None => {
                        let now = self.clock.nanos_now();
                        self.record(&mut w, now);
                        return;
                    }
                    Some(g) => match g.check() {
                        Ok(()) => {
                            let granted_at = self.clock.last.load(Ordering::Relaxed);
                            self.record(&mut w, granted_at);
                            return;
                        }
                        Err(not_until) => {
                            w.throttled_waits += 1;
                            not_until.wait_time_from(Nanos::from(self.clock.nanos_now()))
                        }
                    },
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn record(&self, w: &mut Window, at: u64) {
        let period = u64::try_from(self.limit.period.as_nanos()).unwrap_or(u64::MAX);
        // Half-open window (at - period, at]: a request exactly one period later starts a new one.
        while let Some(&first) = w.starts.front() {
            if first.saturating_add(period) <= at || w.starts.len() >= WINDOW_CAP {
                w.starts.pop_front();
            } else {
                break;
            }
        }
        w.starts.push_back(at);
        w.granted += 1;
        w.max_in_period = w.max_in_period.max(w.starts.len() as u64);
    }

    pub(crate) fn counts(&self) -> LimiterCounts {
        let w = lock(&self.window);
        LimiterCounts {
            granted: w.granted,
            throttled_waits: w.throttled_waits,
            max_in_period: w.max_in_period,
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain counters; the data is
/// still usable, so recover it rather than propagate the panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_requests_evenly_over_the_period() {
        assert_eq!(
            RateLimit::per_second(5).interval(),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            RateLimit::per_minute(6000).interval(),
            Some(Duration::from_millis(10))
        );
        assert_eq!(RateLimit::new(5, Duration::ZERO).interval(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn never_admits_more_than_the_quota_in_any_window() {
        let limiter = Limiter::new(RateLimit::per_second(5));
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_secs(2));
        let counts = limiter.counts();
        assert_eq!(counts.granted, 11);
        assert_eq!(counts.max_in_period, 5);
        assert!(counts.throttled_waits >= 10);
    }
}
