//! The audit clock. Release builds use the system clock only; debug builds (the test binary)
//! accept `SELIQ_NOW=<RFC 3339>` so a test can write entries "in the past" and prune years ahead.

use chrono::{DateTime, SecondsFormat, Utc};

/// Only honoured by debug builds; a release gateway ignores it.
pub const NOW_ENV: &str = "SELIQ_NOW";

pub fn now() -> DateTime<Utc> {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var(NOW_ENV)
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
    {
        return t.with_timezone(&Utc);
    }
    Utc::now()
}

/// RFC 3339 UTC with milliseconds: the form every audit timestamp is stored and hashed in.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
