//! The CrowdStrike checkpoint: a high-water mark on `updated_timestamp`, the alert versions
//! already emitted inside the look-back window, and where that window starts.
//!
//! # Design
//! - **Mark.** The highest `updated_timestamp` emitted so far, kept as the vendor's string (its 9
//!   fractional digits) and compared as a parsed [`Timestamp`] (seconds, nanoseconds), never as
//!   a string: `…:00.5Z` and `…:00.500000000Z` are the same instant, and string order breaks on
//!   differing digit counts.
//! - **Window.** A fetch asks for `updated_timestamp:>='<window start>'`, where the window
//!   start is `mark − look-back` floored to the millisecond (the vendor sorts and filters dates
//!   at millisecond precision, so a sub-millisecond bound could drop a tie). Late alerts (indexed
//!   after newer ones, with an older `updated_timestamp`) are found again as long as they fall
//!   inside the look-back.
//! - **Seen set.** Every version `(composite_id, updated_timestamp)` emitted with a timestamp at
//!   or after the window start. A query re-reads the window, so these are dropped instead of
//!   emitted twice; an update (same id, newer timestamp) is a new version and passes. The set is
//!   pruned to the window after every fetch, so it stays bounded by what the vendor produced
//!   within one look-back.
//! - **Completeness.** `window_start` never moves back: if the operator raises the look-back,
//!   the seen set cannot vouch for versions older than the window it was kept for, so the query
//!   does not reach below it.
//!
//! - **Quarantined records.** A record that cannot be mapped (no `composite_id`, no readable
//!   `updated_timestamp`) is written to the dead-letter output once and remembered by a hash of
//!   its bytes, with an upper bound on its place in the order: its own `updated_timestamp` if
//!   readable, else that of the next readable record of the walk (the sort is ascending, so the
//!   record sorts at or before it), else the later of the mark and now when it was the last.
//!   It is forgotten once the window start passes that bound, which is exactly when no query
//!   can return it again. It never moves the mark, so its neighbours are neither lost nor
//!   repeated; a changed record hashes differently and is quarantined as a new version.
//!
//! The cursor carries no vendor `after` token: a fetch starts a fresh query from the window
//! start (or, for the next batch of the same pull, from the mark's millisecond, kept in memory
//! by the client), so a stale or expired token can never be replayed after a crash.
//!
//! # Walking a field that changes while paging
//! The query sorts on `updated_timestamp|asc`, a field that changes while we page (FalconPy and
//! the vendor warn that `after` paging on a mutable sort field can duplicate or skip records).
//! Falcon does not document what its `after` token holds, so the walk does not rely on it
//! across timestamps: once a page ends on a later millisecond than the query's lower bound, the
//! next page is a **fresh query** from that millisecond (the connector's own keyset paging);
//! `after` is only followed while a whole page shares one millisecond. Why nothing is lost:
//! - `updated_timestamp` only grows, and an update sets it to the vendor's now, which is at or
//!   after every timestamp already walked. An alert updated mid-walk therefore leaves a prefix
//!   the walk has passed and re-enters at or after the frontier, where the fresh queries (or
//!   the next fetch, whose window starts a look-back below the mark) find it: its **latest
//!   version is delivered at least once**. If it had already been emitted, its new version is
//!   a new `(composite_id, updated_timestamp)` and passes the seen set; its old version is
//!   never re-emitted (seen set), so **each version at most once**. Had it not been reached
//!   yet, only the new version is seen, which is the one that matters.
//! - Every page query starts at or below the newest timestamp already emitted, so records it
//!   re-reads are dropped by the seen set; records after the frontier are returned by a query
//!   that did not exist while earlier pages were read, so an update cannot shift them out of
//!   reach (the skip an offset-like `after` token would cause).
//! - Residual: more than a page of alerts within one millisecond follows `after`; a
//!   position-based `after` could then skip one of that millisecond's records if another of
//!   them is updated between those pages, and the look-back (not the walk) must catch it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::mapping::KIND;
use crate::{ConnectorError, Cursor};

/// Tag stored in every cursor so a checkpoint of another connector is refused, not misread.
const VERSION: u32 = 1;

/// An instant at nanosecond precision, parsed from the vendor's RFC 3339 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with 1 to 9 fractional digits (more are
    /// truncated). Hand-written because it runs for every alert on the hot path.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let year = digits(b, 0, 4)? as i64;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut i = 19;
        let mut nanos: u32 = 0;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..9 {
                nanos *= 10;
            }
        }
        let offset_secs: i64 = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = digits(b, i + 1, 2)?;
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = i64::from(oh * 3600 + om * 60);
                if *sign == b'+' { off } else { -off }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
                - offset_secs;
        Some(Timestamp { secs, nanos })
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Timestamp {
        Timestamp {
            secs: t.timestamp(),
            nanos: t.timestamp_subsec_nanos(),
        }
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        // In range by construction: parsed years are 0..=9999, well inside chrono's range.
        DateTime::from_timestamp(self.secs, self.nanos).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `self − d`, saturating at the earliest representable instant.
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        let total = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
            - i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
        Timestamp::from_total_nanos(total)
    }

    /// Rounded down to a whole millisecond.
    pub fn floor_millis(self) -> Timestamp {
        Timestamp {
            secs: self.secs,
            nanos: self.nanos - self.nanos % 1_000_000,
        }
    }

    /// RFC 3339 UTC with all 9 fractional digits, the vendor's own format.
    pub fn to_rfc3339_nanos(self) -> String {
        self.to_datetime()
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string()
    }

    fn from_total_nanos(total: i128) -> Timestamp {
        let secs = total.div_euclid(1_000_000_000);
        let nanos = total.rem_euclid(1_000_000_000);
        Timestamp {
            secs: i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
            // rem_euclid of a positive modulus is in 0..1e9, which fits a u32.
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    let mut v: u32 = 0;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The stored shape, inside the cursor envelope ([`Cursor::seal`]: tagged and versioned, so
/// another connector's checkpoint is refused).
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    /// The highest `updated_timestamp` emitted, verbatim; absent before the first alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mark: Option<String>,
    /// The lower bound of the next query; the seen set is complete from here on.
    window_start: String,
    /// `[composite_id, updated_timestamp]` of every version emitted at or after `window_start`.
    #[serde(default)]
    seen: Vec<(String, String)>,
    /// `[hash of the raw record, upper bound of its updated_timestamp]` of quarantined records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    quarantined: Vec<(String, String)>,
}

/// The live checkpoint while a fetch runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorState {
    mark: Option<(Timestamp, String)>,
    window_start: Timestamp,
    /// composite_id → (parsed, verbatim) `updated_timestamp`s emitted inside the window; nearly
    /// always one entry, two or more when an alert was updated within one look-back.
    seen: HashMap<String, Vec<(Timestamp, String)>>,
    seen_len: usize,
    /// Hash of a quarantined record's bytes → the upper bound of its place in the order.
    quarantined: HashMap<String, Timestamp>,
}

impl CursorState {
    /// A first run: nothing emitted, the window opens at `since`.
    pub fn first_run(since: DateTime<Utc>) -> CursorState {
        CursorState {
            mark: None,
            window_start: Timestamp::from_datetime(since).floor_millis(),
            seen: HashMap::new(),
            seen_len: 0,
            quarantined: HashMap::new(),
        }
    }

    pub fn decode(cursor: &Cursor) -> Result<CursorState, ConnectorError> {
        let v = cursor.version_for(KIND)?;
        if v != u64::from(VERSION) {
            return Err(ConnectorError::Cursor(format!(
                "{KIND} cursor version {v} is not {VERSION}"
            )));
        }
        let stored: Stored = cursor.open()?;
        let parse = |what: &str, s: &str| {
            Timestamp::parse(s).ok_or_else(|| {
                ConnectorError::Cursor(format!("{what} {s:?} is not an RFC 3339 timestamp"))
            })
        };
        let mark = match stored.mark {
            Some(m) => Some((parse("mark", &m)?, m)),
            None => None,
        };
        let window_start = parse("window start", &stored.window_start)?;
        let mut state = CursorState {
            mark,
            window_start,
            seen: HashMap::with_capacity(stored.seen.len()),
            seen_len: 0,
            quarantined: HashMap::with_capacity(stored.quarantined.len()),
        };
        for (id, ts) in stored.seen {
            let parsed = parse("seen timestamp", &ts)?;
            state.insert_seen(id, parsed, ts);
        }
        for (hash, bound) in stored.quarantined {
            let bound = parse("quarantine bound", &bound)?;
            state.quarantined.insert(hash, bound);
        }
        Ok(state)
    }

    pub fn encode(&self) -> Result<Cursor, ConnectorError> {
        let mut seen: Vec<(String, String)> = Vec::with_capacity(self.seen_len);
        for (id, versions) in &self.seen {
            for (_, ts) in versions {
                seen.push((id.clone(), ts.clone()));
            }
        }
        let mut quarantined: Vec<(String, String)> = self
            .quarantined
            .iter()
            .map(|(h, b)| (h.clone(), b.to_rfc3339_nanos()))
            .collect();
        // Stable output, so an unchanged state encodes to an identical cursor.
        seen.sort_unstable();
        quarantined.sort_unstable();
        Cursor::seal(
            KIND,
            VERSION,
            &Stored {
                mark: self.mark.as_ref().map(|(_, s)| s.clone()),
                window_start: self.window_start.to_rfc3339_nanos(),
                seen,
                quarantined,
            },
        )
    }

    /// The lower bound of the next query (inclusive).
    pub fn window_start(&self) -> Timestamp {
        self.window_start
    }

    pub fn mark(&self) -> Option<&str> {
        self.mark.as_ref().map(|(_, s)| s.as_str())
    }

    /// Versions remembered inside the window.
    pub fn seen_len(&self) -> usize {
        self.seen_len
    }

    /// True when this exact version was already emitted.
    pub fn is_seen(&self, id: &str, updated: Timestamp) -> bool {
        self.seen
            .get(id)
            .is_some_and(|v| v.iter().any(|(t, _)| *t == updated))
    }

    /// True when this record (by the hash of its bytes) was already quarantined.
    pub fn is_quarantined(&self, hash: &str) -> bool {
        self.quarantined.contains_key(hash)
    }

    /// Remembers a quarantined record until the window passes `bound` (see the module doc).
    pub fn record_quarantined(&mut self, hash: String, bound: Timestamp) {
        let slot = self.quarantined.entry(hash).or_insert(bound);
        *slot = (*slot).max(bound);
    }

    /// Quarantined records remembered.
    pub fn quarantined_len(&self) -> usize {
        self.quarantined.len()
    }

    /// The newest timestamp emitted, parsed.
    pub fn mark_time(&self) -> Option<Timestamp> {
        self.mark.as_ref().map(|(t, _)| *t)
    }

    /// Records an emitted version and raises the mark if it is newer.
    pub fn record(&mut self, id: &str, updated: Timestamp, verbatim: &str) {
        if self.mark.as_ref().is_none_or(|(m, _)| updated > *m) {
            self.mark = Some((updated, verbatim.to_owned()));
        }
        self.insert_seen(id.to_owned(), updated, verbatim.to_owned());
    }

    /// Moves the window to `min(mark, now) − look_back` (never backwards) and forgets versions
    /// before it. `now` guards against a vendor timestamp in the future: trusted as the mark, it
    /// would move the window past every alert stamped correctly until then.
    pub fn advance(&mut self, look_back: Duration, now: Timestamp) {
        if let Some((mark, _)) = &self.mark {
            let anchor = (*mark).min(now);
            let start = anchor.saturating_sub(look_back).floor_millis();
            if start > self.window_start {
                self.window_start = start;
            }
        }
        let start = self.window_start;
        let mut len = 0;
        self.seen.retain(|_, versions| {
            versions.retain(|(t, _)| *t >= start);
            len += versions.len();
            !versions.is_empty()
        });
        self.seen_len = len;
        self.quarantined.retain(|_, bound| *bound >= start);
    }

    fn insert_seen(&mut self, id: String, updated: Timestamp, verbatim: String) {
        let versions = self.seen.entry(id).or_default();
        if !versions.iter().any(|(t, _)| *t == updated) {
            versions.push((updated, verbatim));
            self.seen_len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn parses_nine_fractional_digits_exactly() {
        let t = ts("2023-11-03T18:01:23.995794943Z");
        assert_eq!(t.nanos, 995_794_943);
        assert_eq!(
            t.to_datetime(),
            DateTime::parse_from_rfc3339("2023-11-03T18:01:23.995794943Z").unwrap()
        );
        assert_eq!(t.to_rfc3339_nanos(), "2023-11-03T18:01:23.995794943Z");
    }

    #[test]
    fn compares_instants_not_strings() {
        assert_eq!(
            ts("2024-08-19T18:44:01.1Z"),
            ts("2024-08-19T18:44:01.100000000Z")
        );
        assert_eq!(ts("2024-08-19T18:44:01Z"), ts("2024-08-19T18:44:01.000Z"));
        assert!(ts("2024-08-19T18:44:01.000000002Z") > ts("2024-08-19T18:44:01.000000001Z"));
        // As strings "…01Z" > "…01.5Z"; as instants it is the other way round.
        assert!(ts("2024-08-19T18:44:01Z") < ts("2024-08-19T18:44:01.5Z"));
        assert_eq!(ts("2024-08-19T20:44:01+02:00"), ts("2024-08-19T18:44:01Z"));
    }

    #[test]
    fn agrees_with_chrono_on_many_dates() {
        for s in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "2000-02-29T12:00:00.5Z",
            "2100-03-01T00:00:00Z",
            "2026-11-28T10:11:12.123456789-05:30",
            "1999-12-31t23:59:59z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
            assert_eq!(ts(s).to_datetime(), chrono, "{s}");
        }
    }

    #[test]
    fn refuses_malformed_timestamps() {
        for s in [
            "",
            "2023-11-03",
            "2023-11-03T18:01:23",
            "2023-02-30T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-03T24:00:00Z",
            "2023-11-03T18:01:23.Z",
            "2023-11-03T18:01:23.5",
            "2023-11-03T18:01:23.5Zjunk",
            "2023-11-03T18:01:23+0200",
            "yyyy-11-03T18:01:23Z",
        ] {
            assert_eq!(Timestamp::parse(s), None, "{s}");
        }
    }

    #[test]
    fn subtracts_and_floors_across_second_boundaries() {
        let t = ts("2026-01-01T00:00:00.000000500Z");
        assert_eq!(
            t.saturating_sub(Duration::from_nanos(501))
                .to_rfc3339_nanos(),
            "2025-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            ts("2026-01-01T00:00:00.123456789Z")
                .floor_millis()
                .to_rfc3339_nanos(),
            "2026-01-01T00:00:00.123000000Z"
        );
    }

    fn since() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn round_trips_through_json_with_nanosecond_mark() {
        let mut s = CursorState::first_run(since());
        s.record(
            "a:ind:1",
            ts("2026-11-27T10:00:00.000000001Z"),
            "2026-11-27T10:00:00.000000001Z",
        );
        s.record(
            "a:ind:2",
            ts("2026-11-27T10:00:00.000000002Z"),
            "2026-11-27T10:00:00.000000002Z",
        );
        s.advance(Duration::from_secs(120), far_future());
        let c = s.encode().unwrap();
        let back = CursorState::decode(&c).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.mark(), Some("2026-11-27T10:00:00.000000002Z"));
        assert_eq!(
            back.window_start().to_rfc3339_nanos(),
            "2026-11-27T09:58:00.000000000Z"
        );
        assert_eq!(back.encode().unwrap(), c);
    }

    #[test]
    fn an_update_is_a_new_version_but_a_repeat_is_not() {
        let mut s = CursorState::first_run(since());
        let t1 = ts("2026-11-27T10:00:00.1Z");
        let t2 = ts("2026-11-27T10:00:30.1Z");
        s.record("a:ind:1", t1, "2026-11-27T10:00:00.1Z");
        assert!(s.is_seen("a:ind:1", t1));
        assert!(s.is_seen("a:ind:1", ts("2026-11-27T10:00:00.100000000Z")));
        assert!(!s.is_seen("a:ind:1", t2));
        assert!(!s.is_seen("a:ind:2", t1));
    }

    #[test]
    fn seen_set_is_pruned_to_the_look_back_window() {
        let mut s = CursorState::first_run(since());
        for i in 0..10u64 {
            let t = ts("2026-11-27T10:00:00Z").saturating_sub(Duration::from_secs(60 * (9 - i)));
            s.record(&format!("a:ind:{i}"), t, &t.to_rfc3339_nanos());
        }
        s.advance(Duration::from_secs(120), far_future());
        // Marks at 10:00; window opens 09:58; versions at 09:58, 09:59 and 10:00 remain.
        assert_eq!(s.seen_len(), 3);
        assert!(s.is_seen("a:ind:7", ts("2026-11-27T09:58:00Z")));
        assert!(!s.is_seen("a:ind:6", ts("2026-11-27T09:57:00Z")));
    }

    fn far_future() -> Timestamp {
        ts("2100-01-01T00:00:00Z")
    }

    #[test]
    fn a_mark_in_the_future_does_not_drag_the_window_past_now() {
        let mut s = CursorState::first_run(since());
        let future = ts("2026-11-27T12:00:00Z");
        s.record("a:ind:1", future, "2026-11-27T12:00:00Z");
        s.advance(Duration::from_secs(120), ts("2026-11-27T10:00:00Z"));
        assert_eq!(s.window_start(), ts("2026-11-27T09:58:00Z"));
        // The future version is still remembered, so it is not emitted twice.
        assert!(s.is_seen("a:ind:1", future));
        assert_eq!(s.mark(), Some("2026-11-27T12:00:00Z"));
    }

    #[test]
    fn window_never_moves_back_when_the_look_back_grows() {
        let mut s = CursorState::first_run(since());
        let t = ts("2026-11-27T10:00:00Z");
        s.record("a:ind:1", t, "2026-11-27T10:00:00Z");
        s.advance(Duration::from_secs(60), far_future());
        let start = s.window_start();
        s.advance(Duration::from_secs(3600), far_future());
        assert_eq!(s.window_start(), start);
    }

    #[test]
    fn a_quarantined_record_is_remembered_until_the_window_passes_its_bound() {
        let mut s = CursorState::first_run(since());
        let bound = ts("2026-11-27T10:00:00Z");
        s.record_quarantined("h1".to_owned(), bound);
        s.record("a:ind:1", bound, "2026-11-27T10:00:00Z");
        s.advance(Duration::from_secs(120), far_future());
        let back = CursorState::decode(&s.encode().unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(back.is_quarantined("h1"));
        let mut s = back;
        s.record(
            "a:ind:2",
            ts("2026-11-27T10:05:00Z"),
            "2026-11-27T10:05:00Z",
        );
        s.advance(Duration::from_secs(120), far_future());
        assert!(!s.is_quarantined("h1"));
        // A cursor written before quarantines existed still decodes.
        let old = Cursor::from_json(
            serde_json::json!({"vendor":"crowdstrike","v":1,"window_start":"2026-01-01T00:00:00Z"}),
        );
        assert_eq!(CursorState::decode(&old).unwrap().quarantined_len(), 0);
    }

    #[test]
    fn refuses_a_cursor_of_another_connector() {
        let c = Cursor::from_json(
            serde_json::json!({"vendor":"splunk","v":1,"window_start":"2026-01-01T00:00:00Z"}),
        );
        assert!(matches!(
            CursorState::decode(&c),
            Err(ConnectorError::Cursor(_))
        ));
        let c = Cursor::from_json(
            serde_json::json!({"vendor":"crowdstrike","v":1,"window_start":"yesterday"}),
        );
        assert!(matches!(
            CursorState::decode(&c),
            Err(ConnectorError::Cursor(_))
        ));
    }
}
