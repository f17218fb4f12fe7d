//! When each integration polls next: pure functions of the interval, a random unit and the
//! failure count, so the rules are tested without a clock.

use std::time::Duration;

/// A poll's delay after a success stays within the interval ± this fraction; the scheduler uses
/// the room to move each integration to its own slot of the interval (see [`after_success`]).
pub const JITTER: f64 = 0.10;
/// A failing integration waits at most this long between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The delay until the next poll after a successful one that started `started` after the
/// scheduler's epoch. Each integration has a slot, `phase` (uniform in `[0, 1)`) of the way
/// into every interval counted from the epoch. The delay is the interval, moved toward the
/// nearest slot by at most [`JITTER`] of it: integrations that start together (a restart of
/// thousands) spread over the interval within a few polls, and from then on each polls exactly
/// once per interval, a late start (a full slot pool) being made up at the next. A random delay
/// per poll would spread them too, but would stretch some gaps to 1.1 intervals for good, and
/// with them the time a new alert waits.
pub fn after_success(interval: Duration, started: Duration, phase: f64) -> Duration {
    let i = interval.as_secs_f64();
    if i <= 0.0 {
        return interval;
    }
    let phase = if phase.is_finite() {
        phase.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = started.as_secs_f64();
    // The slot nearest one interval from now.
    let k = ((s + i) / i - phase).round();
    let slot = (k + phase) * i;
    Duration::from_secs_f64((slot - s).clamp(i * (1.0 - JITTER), i * (1.0 + JITTER)))
}

/// The delay after the `failures`-th failure in a row (1 = the first): the interval doubled per
/// failure beyond the first, capped at [`MAX_BACKOFF`] (and never below the interval itself).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    interval
        .checked_mul(1u32 << doublings)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
        .max(interval.min(MAX_BACKOFF))
}

/// When a newly seen integration first polls: spread over the first tenth of its interval, so a
/// start with thousands of integrations ramps up instead of bursting.
pub fn first_delay(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(JITTER * unit.clamp(0.0, 1.0))
}

/// What an integration is doing, for status and the `integrations by state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Waiting for its next poll after a success (or before the first).
    Ok,
    Polling,
    /// The last poll failed; the next waits [`backoff`].
    BackingOff,
    /// The vendor rejected the credential: no polls until it is rotated or resumed.
    Suspended,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Ok,
        State::Polling,
        State::BackingOff,
        State::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Polling => "polling",
            State::BackingOff => "backing_off",
            State::Suspended => "suspended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn every_delay_stays_within_ten_percent_of_the_interval() {
        for p in 0..=100 {
            for s in 0..=240 {
                let d = after_success(MIN, Duration::from_millis(s * 500), f64::from(p) / 100.0);
                assert!(
                    d >= Duration::from_secs(54) && d <= Duration::from_secs(66),
                    "{d:?}"
                );
            }
        }
        // Out-of-range phases are clamped, never stretch the bounds.
        for p in [7.0, -1.0, f64::NAN, f64::INFINITY] {
            let d = after_success(MIN, Duration::from_secs(13), p);
            assert!(d >= Duration::from_secs(54) && d <= Duration::from_secs(66));
        }
    }

    /// Polls that all start in the first seconds settle on their slots within a few polls, then
    /// keep exactly the interval, and late starts are made up.
    #[test]
    fn polls_move_to_their_slot_then_keep_the_interval() {
        let n = 600;
        let mut starts: Vec<f64> = (0..n).map(|k| 6.0 * f64::from(k) / f64::from(n)).collect();
        let phases: Vec<f64> = (0..n)
            .map(|k| f64::from((k * 7) % n) / f64::from(n))
            .collect();
        for _ in 0..6 {
            for (s, &p) in starts.iter_mut().zip(&phases) {
                *s += after_success(MIN, Duration::from_secs_f64(*s), p).as_secs_f64();
            }
        }
        for (s, &p) in starts.iter_mut().zip(&phases) {
            let slot_offset = (*s / 60.0 - p).rem_euclid(1.0);
            assert!(
                slot_offset.min(1.0 - slot_offset) < 1e-6,
                "not on its slot: {s} {p}"
            );
            let d = after_success(MIN, Duration::from_secs_f64(*s), p);
            assert!((d.as_secs_f64() - 60.0).abs() < 1e-6, "{d:?}");
            // Started 2 s late: the next delay is 2 s shorter.
            let late = after_success(MIN, Duration::from_secs_f64(*s + 2.0), p);
            assert!((late.as_secs_f64() - 58.0).abs() < 1e-6, "{late:?}");
        }
        // The slots, and so the polls of one interval, spread evenly over it.
        let mut in_interval: Vec<f64> = starts.iter().map(|s| s.rem_euclid(60.0)).collect();
        in_interval.sort_by(f64::total_cmp);
        let widest_gap = in_interval
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0, f64::max);
        assert!(widest_gap < 0.2, "{widest_gap}");
    }

    #[test]
    fn backoff_doubles_from_the_interval_and_caps_at_fifteen_minutes() {
        let ten = Duration::from_secs(10);
        let got: Vec<u64> = (1..=9).map(|f| backoff(ten, f).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(backoff(ten, u32::MAX), MAX_BACKOFF);
        // A failing hourly integration retries within the cap rather than an hour later.
        assert_eq!(backoff(Duration::from_secs(3600), 1), MAX_BACKOFF);
    }

    #[test]
    fn first_polls_spread_over_the_first_tenth_of_the_interval() {
        assert_eq!(first_delay(MIN, 0.0), Duration::ZERO);
        assert!(first_delay(MIN, 0.999) < Duration::from_secs(6));
    }
}
