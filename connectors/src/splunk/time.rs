//! Splunk time modifiers: how the `earliest` setting becomes a search's `earliest_time`.

/// `earliest` is how late an event may be indexed. A plain `-N<unit>` counts back from the window
/// start, so a backfill of an old window still finds its late events; any other modifier (a
/// snap, `0`, an epoch) is sent as given.
pub fn earliest_time(earliest: &str, window_start: i64) -> String {
    match relative_seconds(earliest) {
        Some(back) => window_start.saturating_sub(back).max(0).to_string(),
        None => earliest.to_owned(),
    }
}

fn relative_seconds(m: &str) -> Option<i64> {
    let body = m.strip_prefix('-')?;
    let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = if digits.is_empty() {
        1
    } else {
        digits.parse().ok()?
    };
    let unit = match &body[digits.len()..] {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "mon" | "month" | "months" => 30 * 86_400,
        "y" | "yr" | "yrs" | "year" | "years" => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_counts_back_from_the_window_start() {
        assert_eq!(
            earliest_time("-7d", 1_000_000),
            (1_000_000 - 7 * 86_400).to_string()
        );
        assert_eq!(
            earliest_time("-24h", 100_000),
            (100_000 - 86_400).to_string()
        );
        assert_eq!(earliest_time("-30d@d", 5), "-30d@d");
        assert_eq!(earliest_time("0", 5), "0");
    }
}
