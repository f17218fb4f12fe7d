//! The retry policy: a type, not loops inside vendor code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The largest backoff before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Full jitter: uniform in `[0, backoff_ceiling(retry)]`, so clients that failed together do
    /// not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = u64::try_from(self.backoff_ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=ceiling))
    }

    /// Statuses that mean "try again later": throttling and transient server trouble.
    pub fn is_retryable_status(&self, status: u16) -> bool {
        matches!(status, 429 | 500 | 502 | 503 | 504)
    }

    /// Timeouts, connect failures and connections reset mid-request or mid-body. A request that
    /// could not even be built is a bug in the caller and is never retried.
    ///
    /// A refused TLS certificate is a connect error too, but retrying cannot change the
    /// certificate: it fails at once, with its own message.
    pub fn is_retryable_error(&self, err: &reqwest::Error) -> bool {
        !err.is_builder()
            && !err.is_redirect()
            && super::client::certificate_problem(err).is_none()
            && (err.is_timeout()
                || err.is_connect()
                || err.is_request()
                || err.is_body()
                || err.is_decode())
    }
}

/// The standard `Retry-After` header: delta seconds or an HTTP date. A date in the past means
/// "now".
pub fn standard_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// Parses a `Retry-After` value (delta seconds or HTTP date) relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The least wait an epoch-style reset time yields. Such headers have second granularity and
/// clocks drift, so a reset "already past" still means the window has not reopened yet
/// (psfalcon hit negative waits and now waits at least a few seconds).
pub const MIN_EPOCH_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Values above this are milliseconds since the epoch, not seconds (10^12 s is year 33658).
const EPOCH_MS_THRESHOLD: u64 = 1_000_000_000_000;

/// Parses a reset time given as an absolute epoch (CrowdStrike `X-Ratelimit-Retryafter`: epoch
/// seconds in practice, milliseconds per its swagger) into a wait from `now`. Values above 10^12
/// are read as milliseconds. Past or imminent times are clamped to [`MIN_EPOCH_RETRY_AFTER`].
/// `None` when the value is not a number.
pub fn epoch_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let raw: u64 = value.trim().parse().ok()?;
    let at = if raw > EPOCH_MS_THRESHOLD {
        Duration::from_millis(raw)
    } else {
        Duration::from_secs(raw)
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Some(at.saturating_sub(now).max(MIN_EPOCH_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_ceiling_doubles_then_caps() {
        let p = policy();
        assert_eq!(p.backoff_ceiling(0), Duration::from_millis(100));
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(3), Duration::from_millis(800));
        assert_eq!(p.backoff_ceiling(4), Duration::from_secs(1));
        assert_eq!(p.backoff_ceiling(40), Duration::from_secs(1));
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling() {
        let p = policy();
        for retry in 0..12 {
            let ceiling = p.backoff_ceiling(retry);
            let samples: Vec<Duration> = (0..200).map(|_| p.backoff(retry)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Jitter, not a constant: 200 draws from a continuous range are never all equal.
            assert!(samples.iter().any(|d| *d != samples[0]), "retry {retry}");
        }
    }

    #[test]
    fn retries_throttling_and_transient_server_errors_only() {
        let p = policy();
        for s in [429, 500, 502, 503, 504] {
            assert!(p.is_retryable_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 501] {
            assert!(!p.is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn parses_retry_after_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn epoch_retry_after_reads_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            epoch_retry_after("1700000012", now),
            Some(Duration::from_secs(12))
        );
    }

    #[test]
    fn epoch_retry_after_reads_milliseconds_above_ten_to_the_twelve() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            epoch_retry_after("1700000003500", now),
            Some(Duration::from_millis(3500))
        );
    }

    #[test]
    fn epoch_retry_after_clamps_past_values_to_the_minimum_wait() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            epoch_retry_after("1699999990", now),
            Some(MIN_EPOCH_RETRY_AFTER)
        );
        assert_eq!(
            epoch_retry_after("1700000000", now),
            Some(MIN_EPOCH_RETRY_AFTER)
        );
        assert_eq!(epoch_retry_after("0", now), Some(MIN_EPOCH_RETRY_AFTER));
        assert_eq!(epoch_retry_after("-5", now), None);
        assert_eq!(epoch_retry_after("", now), None);
    }
}
