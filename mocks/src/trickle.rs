//! `--trickle-every`: live new alerts while the mock serves, so a benchmark can measure the lag
//! between an alert appearing at the vendor and the gateway delivering it.
//!
//! Source `i` of `n` gets its `k`-th alert at `after + (i/n + k)·every`: arrival `m = k·n + i`
//! falls at `after + m·every/n`, so the arrivals of all sources form one evenly spaced sequence
//! (one every `every/n`) instead of a burst every `every`. Arrivals stop at `after + for`
//! (exclusive). Times are whole nanoseconds from the moment the mock is ready.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::Instant;

/// The shortest pause between two wake-ups of [`run`]: with many sources the arrivals are
/// inserted in small batches rather than one wake-up each.
const MIN_GAP: Duration = Duration::from_millis(20);

/// When the trickle's arrivals fall. Built by [`Schedule::from_args`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Each source's period, in ns (at least 1).
    every: u128,
    /// The first arrival's offset, in ns.
    after: u128,
    /// How long arrivals go on after `after`, in ns; `None` for as long as the process runs.
    length: Option<u128>,
    /// How many sources share the period (at least 1).
    sources: u64,
}

impl Schedule {
    /// The schedule of `--trickle-every/--trickle-after/--trickle-for` over `sources` sources;
    /// `None` when `--trickle-every` is absent. One error sentence per bad option.
    pub fn from_args(
        every: Option<f64>,
        after: Option<f64>,
        length: Option<f64>,
        sources: usize,
    ) -> Result<Option<Schedule>> {
        let Some(every) = every else {
            if after.is_some() {
                bail!("--trickle-after needs --trickle-every");
            }
            if length.is_some() {
                bail!("--trickle-for needs --trickle-every");
            }
            return Ok(None);
        };
        let every = positive_ns("--trickle-every", every)?;
        let after = match after {
            None => 0,
            Some(a) if a.is_finite() && a >= 0.0 => nanos("--trickle-after", a)?,
            Some(a) => bail!("--trickle-after {a} must be zero or a positive number of seconds"),
        };
        let length = length
            .map(|f| positive_ns("--trickle-for", f))
            .transpose()?;
        if sources == 0 {
            bail!("--trickle-every needs at least one source, and this mock serves none");
        }
        Ok(Some(Schedule {
            every: every.max(1),
            after,
            length,
            sources: sources as u64,
        }))
    }

    /// How many arrivals the whole trickle makes; `None` when it runs until the process ends.
    pub fn total(&self) -> Option<u64> {
        self.length.map(|l| self.arrivals_before(l))
    }

    /// The source (`0..n`) of arrival `m`, and which of that source's arrivals it is (`k`).
    pub fn arrival(&self, m: u64) -> (usize, u64) {
        ((m % self.sources) as usize, m / self.sources)
    }

    /// When arrival `m` is due, from the mock's start; `None` once the trickle is over.
    pub fn offset(&self, m: u64) -> Option<Duration> {
        if self.total().is_some_and(|t| m >= t) {
            return None;
        }
        Some(duration(
            self.after + u128::from(m) * self.every / u128::from(self.sources),
        ))
    }

    /// The arrivals due by `elapsed` (from the mock's start), starting at arrival `next`: the
    /// range `next..end` of arrival numbers, empty when none is due yet.
    pub fn due(&self, next: u64, elapsed: Duration) -> Range<u64> {
        let elapsed = elapsed.as_nanos();
        if elapsed < self.after {
            return next..next;
        }
        // Arrivals whose offset from `after` is at most `elapsed − after`.
        let mut end = self.arrivals_before(elapsed - self.after + 1);
        if let Some(t) = self.total() {
            end = end.min(t);
        }
        next..end.max(next)
    }

    /// How many arrivals fall strictly less than `ns` after `after`: the `m` with
    /// `⌊m·every/n⌋ < ns`, i.e. `m < ⌈ns·n/every⌉`.
    fn arrivals_before(&self, ns: u128) -> u64 {
        let n = ns.saturating_mul(u128::from(self.sources));
        u64::try_from(n.div_ceil(self.every)).unwrap_or(u64::MAX)
    }

    /// For the ready line on stdout.
    pub fn describe(&self) -> serde_json::Value {
        let secs = |ns: u128| ns as f64 / 1e9;
        serde_json::json!({
            "every_s": secs(self.every),
            "after_s": secs(self.after),
            "for_s": self.length.map(secs),
            "sources": self.sources,
            "alerts": self.total(),
        })
    }
}

fn positive_ns(flag: &str, secs: f64) -> Result<u128> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{flag} {secs} must be a positive number of seconds");
    }
    nanos(flag, secs)
}

fn nanos(flag: &str, secs: f64) -> Result<u128> {
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => Ok(d.as_nanos()),
        Err(_) => bail!("{flag} {secs:e} is too many seconds"),
    }
}

fn duration(ns: u128) -> Duration {
    let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % 1_000_000_000) as u32)
}

/// Drives the trickle from `origin` (the moment the mock was ready): sleeps until the next
/// arrival is due (at least [`MIN_GAP`] after the last wake-up, so many sources are served in
/// small batches), then calls `insert(source)` for every arrival due, counting in `added` those
/// it reports as added. Returns when the trickle is over.
pub async fn run(
    schedule: Schedule,
    origin: Instant,
    added: Arc<AtomicU64>,
    mut insert: impl FnMut(usize) -> bool,
) {
    let mut next = 0;
    let mut last_wake: Option<Instant> = None;
    while let Some(at) = schedule.offset(next) {
        let Some(mut wake) = origin.checked_add(at) else {
            // Beyond what the clock can name: never.
            return std::future::pending().await;
        };
        if let Some(w) = last_wake {
            wake = wake.max(w + MIN_GAP);
        }
        tokio::time::sleep_until(wake).await;
        last_wake = Some(Instant::now());
        let due = schedule.due(next, origin.elapsed());
        next = due.end;
        for m in due {
            if insert(schedule.arrival(m).0) {
                added.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(every: f64, after: Option<f64>, length: Option<f64>, n: usize) -> Schedule {
        Schedule::from_args(Some(every), after, length, n)
            .unwrap()
            .unwrap()
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn arrivals_are_staggered_across_the_period() {
        // 4 sources every 1 s from 10 s: one arrival every 250 ms, source by source.
        let s = schedule(1.0, Some(10.0), None, 4);
        let offsets: Vec<(usize, u64, Duration)> = (0..6)
            .map(|m| {
                let (i, k) = s.arrival(m);
                (i, k, s.offset(m).unwrap())
            })
            .collect();
        assert_eq!(
            offsets,
            vec![
                (0, 0, ms(10_000)),
                (1, 0, ms(10_250)),
                (2, 0, ms(10_500)),
                (3, 0, ms(10_750)),
                (0, 1, ms(11_000)),
                (1, 1, ms(11_250)),
            ]
        );
        assert_eq!(s.total(), None);
    }

    #[test]
    fn due_names_the_arrivals_between_two_offsets() {
        let s = schedule(1.0, Some(10.0), None, 4);
        assert_eq!(s.due(0, ms(0)), 0..0);
        assert_eq!(s.due(0, ms(9_999)), 0..0);
        assert_eq!(s.due(0, ms(10_000)), 0..1, "due at its exact offset");
        assert_eq!(s.due(0, ms(10_249)), 0..1);
        assert_eq!(s.due(1, ms(10_600)), 1..3);
        assert_eq!(s.due(3, ms(10_600)), 3..3, "none due yet");
        assert_eq!(s.due(3, ms(13_000)), 3..13);
        // Late wake-ups catch up on everything missed, exactly once.
        let mut next = 0;
        let mut seen = Vec::new();
        for t in [10_100, 10_100, 10_900, 12_000, 12_001] {
            let d = s.due(next, ms(t));
            seen.extend(d.clone());
            next = d.end;
        }
        assert_eq!(seen, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn the_trickle_ends_after_its_length() {
        // 2 sources every 0.3 s for 0.7 s: arrivals at 0, .15, .3, .45, .6.
        let s = schedule(0.3, None, Some(0.7), 2);
        assert_eq!(s.total(), Some(5));
        assert_eq!(s.due(0, ms(5_000)), 0..5);
        assert_eq!(s.offset(4), Some(ms(600)));
        assert_eq!(s.offset(5), None);
        // The end is exclusive: 3 sources every 0.3 s for exactly 0.3 s.
        assert_eq!(schedule(0.3, None, Some(0.3), 3).total(), Some(3));
        assert_eq!(
            schedule(60.0, Some(5.0), Some(60.0), 3334).total(),
            Some(3334)
        );
        // A length shorter than the stagger leaves later sources without an alert.
        let s = schedule(10.0, Some(1.0), Some(0.5), 4);
        assert_eq!(s.total(), Some(1));
        assert_eq!(s.due(0, ms(100_000)), 0..1);
    }

    #[test]
    fn thousands_of_sources_every_minute_make_one_arrival_per_18_ms() {
        let s = schedule(60.0, None, None, 3334);
        let per_second = s.due(0, ms(1_000)).end;
        assert!((55..=57).contains(&per_second), "{per_second}");
        assert_eq!(s.due(0, ms(60_000) - Duration::from_nanos(1)).end, 3334);
        assert_eq!(s.arrival(3334), (0, 1));
    }

    #[test]
    fn bad_options_get_one_sentence_each() {
        let err = |every, after, length, n| {
            Schedule::from_args(every, after, length, n)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(Some(0.0), None, None, 2),
            "--trickle-every 0 must be a positive number of seconds"
        );
        assert_eq!(
            err(Some(f64::NAN), None, None, 2),
            "--trickle-every NaN must be a positive number of seconds"
        );
        assert_eq!(
            err(Some(-1.0), None, None, 2),
            "--trickle-every -1 must be a positive number of seconds"
        );
        assert_eq!(
            err(Some(1.0), Some(-0.5), None, 2),
            "--trickle-after -0.5 must be zero or a positive number of seconds"
        );
        assert_eq!(
            err(Some(1.0), Some(f64::INFINITY), None, 2),
            "--trickle-after inf must be zero or a positive number of seconds"
        );
        assert_eq!(
            err(Some(1.0), None, Some(0.0), 2),
            "--trickle-for 0 must be a positive number of seconds"
        );
        assert_eq!(
            err(Some(1e300), None, None, 2),
            "--trickle-every 1e300 is too many seconds"
        );
        assert_eq!(
            err(None, Some(1.0), None, 2),
            "--trickle-after needs --trickle-every"
        );
        assert_eq!(
            err(None, None, Some(1.0), 2),
            "--trickle-for needs --trickle-every"
        );
        assert_eq!(
            err(Some(1.0), None, None, 0),
            "--trickle-every needs at least one source, and this mock serves none"
        );
        assert_eq!(Schedule::from_args(None, None, None, 2).unwrap(), None);
        assert!(
            Schedule::from_args(Some(1e-12), Some(0.0), None, 2)
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn run_inserts_each_arrival_once_in_order_never_early_and_stops() {
        // Arrivals at 50, 65, 80, 95, 110 ms (wall clock: the mocks' tokio has no paused time).
        let s = schedule(0.03, Some(0.05), Some(0.07), 2);
        let added = Arc::new(AtomicU64::new(0));
        let origin = Instant::now();
        let mut log = Vec::new();
        run(s, origin, Arc::clone(&added), |i| {
            log.push((i, origin.elapsed()));
            i != 1
        })
        .await;
        let sources: Vec<usize> = log.iter().map(|(i, _)| *i).collect();
        assert_eq!(sources, vec![0, 1, 0, 1, 0]);
        assert_eq!(added.load(Ordering::Relaxed), 3, "only those added count");
        for (m, (_, at)) in log.iter().enumerate() {
            assert!(*at >= s.offset(m as u64).unwrap(), "{m} early: {at:?}");
        }
    }
}
