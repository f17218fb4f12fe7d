//! The Sentinel checkpoint.
//!
//! A pull walks one `nextLink` chain of the query
//! `lastModifiedTimeUtc ge <mark − look-back>` ordered ascending. The cursor holds:
//! - `mark`: the newest `lastModifiedTimeUtc` emitted by the last *completed* chain (the first-run
//!   `since` before that). It only moves when a chain reaches a page without `nextLink`.
//! - `chain`: while a chain is half-walked, the encoded URL of the page to read next and the
//!   newest time seen so far. A batch that ends inside a page stores that page's own URL: the page
//!   is read again and the versions already emitted are dropped by `seen`.
//! - `seen`: incident `name` → the newest `lastModifiedTimeUtc` emitted, for every version a later
//!   query can return again (the look-back window, and the page being read). An escalation gives a
//!   newer time, so it is emitted again; the same or an older time is dropped.
//!
//! Committing a cursor therefore never loses a version (the mark lags behind everything not yet
//! read, and the look-back re-reads late arrivals) and never repeats one (`seen`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ConnectorError, Cursor};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    v: u32,
    pub mark: DateTime<Utc>,
    /// True until the first chain completes: the first query starts exactly at `since`, without
    /// the look-back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Chain {
    /// Already encoded; checked against the management URL before it is followed.
    pub link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<DateTime<Utc>>,
}

impl State {
    pub fn first_run(since: DateTime<Utc>) -> State {
        State {
            v: VERSION,
            mark: since,
            fresh: true,
            chain: None,
            seen: BTreeMap::new(),
        }
    }

    pub fn decode(cursor: &Cursor) -> Result<State, ConnectorError> {
        let s: State = cursor.decode()?;
        if s.v != VERSION {
            return Err(ConnectorError::Cursor(format!(
                "sentinel cursor version {} is not {VERSION}",
                s.v
            )));
        }
        Ok(s)
    }

    pub fn encode(&self) -> Result<Cursor, ConnectorError> {
        Cursor::encode(self)
    }

    /// The low bound of the next chain's `$filter`.
    pub fn low_bound(&self, look_back: Duration) -> DateTime<Utc> {
        if self.fresh {
            self.mark
        } else {
            minus(self.mark, look_back)
        }
    }

    /// True when this version, or a newer one, was already emitted.
    pub fn is_seen(&self, name: &str, modified: DateTime<Utc>) -> bool {
        self.seen.get(name).is_some_and(|t| modified <= *t)
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

    /// Forget versions no later query can return: older than `floor`.
    pub fn prune(&mut self, floor: DateTime<Utc>) {
        self.seen.retain(|_, t| *t >= floor);
    }

    /// The chain reached a page without `nextLink`: move the mark and keep only the look-back
    /// window in `seen`.
    pub fn complete_chain(&mut self, look_back: Duration) {
        if let Some(max) = self.chain.take().and_then(|c| c.max) {
            self.mark = self.mark.max(max);
        }
        self.fresh = false;
        let floor = minus(self.mark, look_back);
        self.prune(floor);
    }

    /// A batch ends mid-chain. Keep what the page being read (re-read, or the next one) and the
    /// next chain's look-back window can return again.
    pub fn prune_mid_chain(&mut self, page_floor: Option<DateTime<Utc>>, look_back: Duration) {
        let Some(max) = self.chain.as_ref().and_then(|c| c.max) else {
            return;
        };
        let window = minus(max, look_back);
        let floor = page_floor.map_or(window, |p| p.min(window));
        self.prune(floor);
    }
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

    #[test]
    fn first_chain_starts_at_since_then_applies_look_back() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        assert_eq!(s.low_bound(LB), t("2026-01-01T00:00:00Z"));
        s.chain = Some(Chain {
            link: "x".into(),
            max: None,
        });
        s.saw("a", t("2026-01-01T01:00:00Z"));
        s.complete_chain(LB);
        assert_eq!(s.mark, t("2026-01-01T01:00:00Z"));
        assert_eq!(s.low_bound(LB), t("2026-01-01T00:55:00Z"));
        assert!(s.chain.is_none());
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
        s.chain = Some(Chain {
            link: "x".into(),
            max: None,
        });
        s.saw("old", t("2026-01-01T00:10:00Z"));
        s.saw("edge", t("2026-01-01T00:55:00Z"));
        s.saw("new", t("2026-01-01T01:00:00Z"));
        s.complete_chain(LB);
        assert_eq!(s.seen.keys().collect::<Vec<_>>(), ["edge", "new"]);
    }

    #[test]
    fn mid_chain_pruning_keeps_the_page_being_read() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.chain = Some(Chain {
            link: "x".into(),
            max: None,
        });
        s.saw("early", t("2026-01-01T00:01:00Z"));
        s.saw("page", t("2026-01-01T00:30:00Z"));
        s.saw("late", t("2026-01-01T02:00:00Z"));
        s.prune_mid_chain(Some(t("2026-01-01T00:30:00Z")), LB);
        assert_eq!(s.seen.keys().collect::<Vec<_>>(), ["late", "page"]);
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let mut s = State::first_run(t("2026-01-01T00:00:00Z"));
        s.saw("a", t("2026-01-01T00:00:00.1234567Z"));
        let c = s.encode().unwrap();
        assert_eq!(State::decode(&c).unwrap(), s);
        let mut v = c.as_json().clone();
        v["v"] = serde_json::json!(99);
        assert!(State::decode(&Cursor::from_json(v)).is_err());
        assert!(State::decode(&Cursor::from_json(serde_json::json!({"x": 1}))).is_err());
    }
}
