//! When each integration polls next: pure functions of the interval, a random unit and the
//! failure count, so the rules are tested without a clock.

use std::time::Duration;

/// Each poll starts at its interval ± this fraction, so integrations added together (or a
/// restart of thousands) drift apart instead of firing at once.
pub const JITTER: f64 = 0.10;
/// A failing integration waits at most this long between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The delay until the next poll after a successful one: `interval` scaled into
/// `[1 - JITTER, 1 + JITTER]` by `unit` (uniform in `[0, 1)`).
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = unit.clamp(0.0, 1.0);
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
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
    fn jitter_stays_within_ten_percent_of_the_interval() {
        for i in 0..=1000 {
            let d = jittered(MIN, f64::from(i) / 1000.0);
            assert!(
                d >= Duration::from_secs(54) && d <= Duration::from_secs(66),
                "{d:?}"
            );
        }
        assert_eq!(jittered(MIN, 0.5), MIN);
        // Out-of-range units are clamped, never stretch the bounds.
        assert_eq!(jittered(MIN, 7.0), Duration::from_secs(66));
        assert_eq!(jittered(MIN, -1.0), Duration::from_secs(54));
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
