//! The Sentinel checkpoint.
//!
//! A *chain* is one walk of `lastModifiedTimeUtc ge <low>` ordered ascending, following
//! `nextLink` page after page. The cursor holds:
//! - `mark`: the newest `lastModifiedTimeUtc` emitted by the last *completed* chain (the
//!   first-run `since` before that), capped at the service's clock. It only moves when a chain
//!   reaches a page without `nextLink`; the next chain starts at `mark − look-back`.
//! - `chain`: while a chain is unfinished at the end of a batch, the newest time *processed* so
//!   far (`pos`). The next fetch resumes with a fresh query `ge pos` rather than a saved
//!   `nextLink`: a saved link's `$skipToken` may be an offset, and an incident escalated in the
//!   meantime shifts every offset after it, which would skip an incident. A fresh query from `pos`
//!   cannot skip anything the ascending order has not reached yet.
//! - `seen`: incident `name` → the newest `lastModifiedTimeUtc` emitted, for every version a
//!   later query can return again (the look-back window and everything from `pos`). An escalation
//!   gives a newer time, so it is emitted again; the same or an older time is dropped.
//!
//! All query bounds are whole seconds, rounded down; `seen` is pruned to the same bound, so a
//! version can never fall between the query and the dedup set.
//!
//! Committing a cursor therefore never loses a version (the mark lags behind everything not yet
//! read, and the look-back re-reads late arrivals) and never repeats one (`seen`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::mapping::KIND;
use crate::{ConnectorError, Cursor};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    pub mark: DateTime<Utc>,
    /// True until the first chain completes: the first query starts exactly at `since`, without
    /// the look-back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Records quarantined while a later query can still return them: a digest of the raw bytes
    /// → the walk's position when met. Such a record has no usable time of its own, so it cannot
    /// go into `seen`; without this a look-back or resumed query would quarantine it again.
    /// Pruned with `seen`. Absent from older cursors, hence the default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quarantined: BTreeMap<String, DateTime<Utc>>,
}

/// An unfinished chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Chain {
    /// The newest `lastModifiedTimeUtc` processed (emitted or dropped as seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<DateTime<Utc>>,
    /// The newest `lastModifiedTimeUtc` emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<DateTime<Utc>>,
    /// The service's clock (`Date` header) when the chain's first page was served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<DateTime<Utc>>,
}

impl State {
    pub fn first_run(since: DateTime<Utc>) -> State {
        State {
            mark: since,
            fresh: true,
            chain: None,
            seen: BTreeMap::new(),
            quarantined: BTreeMap::new(),
        }
    }

    pub fn decode(cursor: &Cursor) -> Result<State, ConnectorError> {
        let v = cursor.version_for(KIND)?;
        if v != u64::from(VERSION) {
            return Err(ConnectorError::Cursor(format!(
                "{KIND} cursor version {v} is not {VERSION}"
            )));
        }
        cursor.open()
    }

    pub fn encode(&self) -> Result<Cursor, ConnectorError> {
        Cursor::seal(KIND, VERSION, self)
    }

    /// The low bound of a new chain's `$filter`.
    fn chain_low(&self, look_back: Duration) -> DateTime<Utc> {
        if self.fresh {
            floor_second(self.mark)
        } else {
            floor_second(minus(self.mark, look_back))
        }
    }

    /// Start or resume a chain; the low bound of its first query.
    pub fn begin(&mut self, look_back: Duration) -> DateTime<Utc> {
        let low = self.chain_low(look_back);
        match &self.chain {
            Some(c) => c.pos.map_or(low, |p| floor_second(p).max(low)),
            None => {
                self.chain = Some(Chain::default());
                low
            }
        }
    }

    pub fn set_server_time(&mut self, now: Option<DateTime<Utc>>) {
        if let Some(c) = self.chain.as_mut()
            && c.server_time.is_none()
        {
            c.server_time = now;
        }
    }

    /// True when this version, or a newer one, was already emitted.
    pub fn is_seen(&self, name: &str, modified: DateTime<Utc>) -> bool {
        self.seen.get(name).is_some_and(|t| modified <= *t)
    }

    /// The walk went past a version (emitted or dropped).
    pub fn processed(&mut self, modified: DateTime<Utc>) {
        if let Some(c) = self.chain.as_mut() {
            c.pos = Some(c.pos.map_or(modified, |p| p.max(modified)));
        }
    }

    /// Record an emitted version.
    pub fn saw(&mut self, name: &str, modified: DateTime<Utc>) {
        match self.seen.get_mut(name) {
            Some(t) => *t = modified.max(*t),
            None => {
                self.seen.insert(name.to_owned(), modified);
            }
        }
        if let Some(c) = self.chain.as_mut() {
            c.max = Some(c.max.map_or(modified, |m| m.max(modified)));
        }
    }

    /// True when this raw record was already quarantined.
    pub fn is_quarantined(&self, digest: &str) -> bool {
        self.quarantined.contains_key(digest)
    }

    /// Remember a quarantined record at the walk's position (`low`, the query's bound, before
    /// anything was processed), the closest to its place in the order we know.
    pub fn quarantine(&mut self, digest: String, low: DateTime<Utc>) {
        let at = self.chain.as_ref().and_then(|c| c.pos).unwrap_or(low);
        self.quarantined.insert(digest, at);
    }

    /// Forget versions no later query can return: older than `floor`.
    fn prune(&mut self, floor: DateTime<Utc>) {
        self.seen.retain(|_, t| *t >= floor);
        self.quarantined.retain(|_, t| *t >= floor);
    }

    /// The chain reached a page without `nextLink`: move the mark and keep only the look-back
    /// window in `seen`.
    ///
    /// The mark never passes the service's own clock at the start of the chain: a source whose
    /// times run ahead of its clock would otherwise push the mark past updates still to come.
    /// A lower mark only widens the next window, and `seen` drops the repeats.
    pub fn complete_chain(&mut self, look_back: Duration) {
        if let Some(max) = self.chain.as_ref().and_then(Chain::capped_max) {
            self.mark = self.mark.max(max);
        }
        self.chain = None;
        self.fresh = false;
        let floor = self.chain_low(look_back);
        self.prune(floor);
    }

    /// A batch ends mid-chain. Keep what the resumed query (from `pos`) and the next chain's
    /// look-back window can return again; the latter starts no later than
    /// `min(max, server time) − look-back`, which is below `pos`.
    pub fn prune_mid_chain(&mut self, look_back: Duration) {
        if let Some(max) = self.chain.as_ref().and_then(Chain::capped_max) {
            self.prune(floor_second(minus(max, look_back)));
        }
    }
}

impl Chain {
    fn capped_max(&self) -> Option<DateTime<Utc>> {
        let max = self.max?;
        Some(self.server_time.map_or(max, |now| max.min(now)))
    }
}

fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn minus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const LB: Duration = Duration::from_secs(300);

    fn emit(s: &mut State, name: &str, at: &str) {
        s.processed(t(at));
        s.saw(name, t(at));
    }

    #[test]
    fn first_chain_starts_at_since_then_applies_look_back() {
        let mut s = State::first_run(t("2026-01-01T00:00:00.700Z"));
        assert_eq!(s.begin(LB), t("2026-01-01T00:00:00Z"));
        emit(&mut s, "a", "2026-01-01T01:00:00Z");
        s.complete_chain(LB);
        assert_eq!(s.mark, t("2026-01-01T01:00:00Z"));
        assert!(s.chain.is_none());
        assert_eq!(s.begin(LB), t("2026-01-01T00:55:00Z"));
    }

    #[test]
    fn a_resumed_chain_queries_from_the_last_processed_second() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        emit(&mut s, "a", "2026-01-01T00:10:00.5Z");
        s.processed(t("2026-01-01T00:20:00.25Z"));
        s.prune_mid_chain(LB);
        assert_eq!(s.begin(LB), t("2026-01-01T00:20:00Z"));
    }

    #[test]
    fn a_newer_version_is_not_seen_an_older_or_equal_one_is() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.saw("a", t("2026-01-01T01:00:00Z"));
        assert!(s.is_seen("a", t("2026-01-01T01:00:00Z")));
        assert!(s.is_seen("a", t("2026-01-01T00:59:00Z")));
        assert!(!s.is_seen("a", t("2026-01-01T01:00:00.0000001Z")));
        assert!(!s.is_seen("b", t("2026-01-01T01:00:00Z")));
    }

    #[test]
    fn completing_a_chain_keeps_only_the_look_back_window() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        emit(&mut s, "old", "2026-01-01T00:10:00Z");
        emit(&mut s, "edge", "2026-01-01T00:55:00Z");
        emit(&mut s, "new", "2026-01-01T01:00:00Z");
        s.complete_chain(LB);
        assert_eq!(s.seen.keys().collect::<Vec<_>>(), ["edge", "new"]);
    }

    #[test]
    fn pruning_matches_the_whole_second_query_bound() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        emit(&mut s, "just-below", "2026-01-01T00:55:00.2Z");
        emit(&mut s, "mark", "2026-01-01T01:00:00.5Z");
        s.complete_chain(LB);
        // The next query asks `ge 00:55:00`, which returns `just-below` again: keep it in `seen`.
        assert_eq!(s.begin(LB), t("2026-01-01T00:55:00Z"));
        assert!(s.is_seen("just-below", t("2026-01-01T00:55:00.2Z")));
    }

    #[test]
    fn mid_chain_pruning_keeps_the_next_windows() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        emit(&mut s, "early", "2026-01-01T00:01:00Z");
        emit(&mut s, "window", "2026-01-01T01:56:00Z");
        emit(&mut s, "late", "2026-01-01T02:00:00Z");
        s.prune_mid_chain(LB);
        assert_eq!(s.seen.keys().collect::<Vec<_>>(), ["late", "window"]);
    }

    #[test]
    fn the_mark_never_passes_the_service_clock() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        s.set_server_time(Some(t("2026-01-01T01:00:00Z")));
        emit(&mut s, "ahead", "2026-01-01T01:30:00Z");
        s.prune_mid_chain(LB);
        assert!(s.is_seen("ahead", t("2026-01-01T01:30:00Z")));
        s.complete_chain(LB);
        assert_eq!(s.mark, t("2026-01-01T01:00:00Z"));
        // Still inside the window the next query re-reads, so it stays deduplicated.
        assert!(s.is_seen("ahead", t("2026-01-01T01:30:00Z")));
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.begin(LB);
        emit(&mut s, "a", "2026-01-01T00:00:00.1234567Z");
        let c = s.encode().unwrap();
        assert_eq!(State::decode(&c).unwrap(), s);
        let mut v = c.as_json().clone();
        v["v"] = serde_json::json!(99);
        assert!(State::decode(&Cursor::from_json(v)).is_err());
        assert!(State::decode(&Cursor::from_json(serde_json::json!({"x": 1}))).is_err());
    }

    #[test]
    fn a_cursor_from_before_the_envelope_still_reads_and_a_foreign_one_is_refused() {
        // As version 1 stored it: `v` but no vendor tag.
        let legacy = Cursor::from_json(serde_json::json!({
            "v": 1,
            "mark": "2026-11-27T10:00:00Z",
            "fresh": true
        }));
        let s = State::decode(&legacy).unwrap();
        assert_eq!(s.mark.to_rfc3339(), "2026-11-27T10:00:00+00:00");
        let again = State::decode(&s.encode().unwrap()).unwrap();
        assert_eq!(again, s);
        assert_eq!(s.encode().unwrap().as_json()["vendor"], "sentinel");
        let splunk = Cursor::from_json(serde_json::json!({"vendor": "splunk", "v": 1}));
        let e = State::decode(&splunk).unwrap_err().to_string();
        assert!(e.contains("splunk cursor, not sentinel"), "{e}");
    }
}
