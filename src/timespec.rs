//! `TIME` arguments: an RFC 3339 timestamp or a span back from now (`90m`, `24h`, `7d`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The longest span or window any flag or stored setting may name: ten years. Longer is a
/// typo, and unbounded values overflow date arithmetic.
pub const MAX_SPAN: Duration = Duration::from_secs(3650 * 86_400);

/// Check a span is positive and at most [`MAX_SPAN`]; `what` names it in the error.
pub fn check_span(what: &str, span: Duration) -> Result<Duration> {
    if span.is_zero() {
        return Err(Error::Invalid(format!("{what} must be longer than zero")));
    }
    if span > MAX_SPAN {
        return Err(Error::Invalid(format!(
            "{what} of {}s is longer than the maximum of 3650 days",
            span.as_secs()
        )));
    }
    Ok(span)
}

/// Parse a span such as `30s`, `90m`, `24h` or `7d`: positive and at most [`MAX_SPAN`].
pub fn parse_span(flag: &str, raw: &str) -> Result<Duration> {
    let span = parse_any_span(flag, raw)?;
    check_span(&format!("{flag} {raw:?}"), span)
}

fn parse_any_span(flag: &str, raw: &str) -> Result<Duration> {
    let bad = || {
        Error::Invalid(format!(
            "{flag} {raw:?} is not a span; use a number followed by s, m, h or d (e.g. 90m, 24h, 7d)"
        ))
    };
    let raw_t = raw.trim();
    // Split off the last *character*: a byte index would panic inside a multi-byte one (`5µ`).
    let unit_at = raw_t.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = raw_t.split_at(unit_at);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// Parse a `TIME`: RFC 3339, or a span back from `now`.
pub fn parse_time(flag: &str, raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let span = parse_any_span(flag, raw).map_err(|_| {
        Error::Invalid(format!(
            "{flag} {raw:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a span back from now (90m, 24h, 7d)"
        ))
    })?;
    let span = chrono::Duration::from_std(span)
        .map_err(|_| Error::Invalid(format!("{flag} {raw:?} is too far back")))?;
    now.checked_sub_signed(span)
        .ok_or_else(|| Error::Invalid(format!("{flag} {raw:?} is too far back")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_byte_input_is_an_error_not_a_panic() {
        for bad in ["5µ", "é", "1é", "µ", "", "１d"] {
            assert!(parse_span("--look-back", bad).is_err(), "{bad}");
            assert!(parse_time("--since", bad, Utc::now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_zero_and_spans_beyond_ten_years() {
        for bad in [
            "0s",
            "0d",
            "3651d",
            "99999999999999d",
            "18446744073709551615s",
        ] {
            let e = parse_span("--first-window", bad).unwrap_err().to_string();
            assert!(e.contains("--first-window"), "{bad}: {e}");
        }
        assert_eq!(parse_span("--first-window", "3650d").unwrap(), MAX_SPAN);
        assert!(check_span("stored window", Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn parses_spans_and_timestamps() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("--since", "90m", now).unwrap().to_rfc3339(),
            "2026-11-28T10:30:00+00:00"
        );
        assert_eq!(
            parse_time("--since", "7d", now).unwrap().to_rfc3339(),
            "2026-11-21T12:00:00+00:00"
        );
        assert_eq!(
            parse_time("--since", "2026-11-01T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn names_the_value_it_cannot_parse() {
        let now = Utc::now();
        for bad in ["yesterday", "5x", "", "-3h", "2026-13-01"] {
            let err = parse_time("--since", bad, now).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
