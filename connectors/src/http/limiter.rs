//! Per-integration request quota (governor) on an injectable clock.

use std::time::Duration;

/// A quota: at most `requests` per `period`, with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}
