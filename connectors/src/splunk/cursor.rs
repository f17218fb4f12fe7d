//! The Splunk checkpoint: an index-time high-water mark.
//!
//! Every pull searches `_indextime` in `[hw, end)` with `end` = the Splunk server's clock minus
//! a small delay, so a late-indexed event (old `_time`, new `_indextime`) lands in the window of
//! the moment it was indexed, and windows never overlap. A window may hold more rows than one
//! batch may return: rows are ordered by (`_indextime`, id), the batch takes a prefix, and the
//! cursor keeps the `_indextime` of its last row as `hw` plus the ids already emitted at exactly
//! that second (`seen`). Fetching from a cursor therefore returns nothing twice and skips nothing,
//! and fetching again from an old cursor (after a crash) returns the same rows again.
//!
//! `span` remembers a window length that produced about one batch, so a large backlog is read in
//! windows of roughly batch size instead of re-reading the whole backlog for every batch.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::mapping::MappedRow;
use crate::{Alert, ConnectorError, Cursor};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub v: u32,
    /// Every row with `_indextime < hw` has been emitted.
    pub hw: i64,
    /// Ids of rows with `_indextime == hw` that have been emitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// Seconds of index time that last gave about one batch; `None` = search up to the horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<i64>,
}

impl State {
    pub fn start(hw: i64) -> State {
        State {
            v: VERSION,
            hw,
            seen: Vec::new(),
            span: None,
        }
    }

    pub fn decode(cursor: &Cursor) -> Result<State, ConnectorError> {
        let s: State = cursor.decode()?;
        if s.v != VERSION {
            return Err(ConnectorError::Cursor(format!(
                "Splunk cursor version {} is not {VERSION}",
                s.v
            )));
        }
        Ok(s)
    }

    pub fn encode(&self) -> Result<Cursor, ConnectorError> {
        Cursor::encode(self)
    }

    /// End of the next window: `hw + span`, never past `horizon`.
    pub fn window_end(&self, horizon: i64) -> i64 {
        match self.span {
            Some(s) => self.hw.saturating_add(s.max(1)).min(horizon),
            None => horizon,
        }
    }
}

/// What one window's rows give: the batch, the next cursor, and whether the window is done.
#[derive(Debug)]
pub struct Selection {
    pub alerts: Vec<Alert>,
    pub next: State,
    /// The whole window `[hw, end)` has been emitted.
    pub window_done: bool,
}

/// Picks the batch from every row the search returned for `[state.hw, end)`.
///
/// Rows outside the window are dropped: below `hw` they were emitted before; above `end` they
/// belong to the next window. Rows at exactly `end` are kept, for servers that treat
/// `index_latest` as inclusive; `seen` then stops the next window from repeating them.
pub fn select(mut rows: Vec<MappedRow>, state: &State, end: i64, max_alerts: usize) -> Selection {
    let seen: HashSet<&str> = state.seen.iter().map(String::as_str).collect();
    rows.retain(|r| {
        r.indextime >= state.hw
            && r.indextime <= end
            && !(r.indextime == state.hw && seen.contains(r.alert.id.as_str()))
    });
    rows.sort_unstable_by(|a, b| (a.indextime, &a.alert.id).cmp(&(b.indextime, &b.alert.id)));
    rows.dedup_by(|a, b| a.indextime == b.indextime && a.alert.id == b.alert.id);

    let max_alerts = max_alerts.max(1);
    let window_done = rows.len() <= max_alerts;
    rows.truncate(max_alerts);

    let window = end - state.hw;
    let (hw, span) = if window_done {
        let span = match state.span {
            // A thin window: widen it; `None` once it would reach the horizon anyway.
            Some(s) if rows.len() < max_alerts / 2 => Some(s.saturating_mul(2)),
            other => other,
        };
        (end, span)
    } else {
        let last = rows.last().map_or(state.hw, |r| r.indextime);
        (last, Some((last - state.hw).clamp(1, window.max(1))))
    };
    let mut next_seen: Vec<String> = if hw == state.hw {
        state.seen.clone()
    } else {
        Vec::new()
    };
    next_seen.extend(
        rows.iter()
            .filter(|r| r.indextime == hw)
            .map(|r| r.alert.id.clone()),
    );
    next_seen.sort_unstable();
    next_seen.dedup();

    Selection {
        alerts: rows.into_iter().map(|r| r.alert).collect(),
        next: State {
            v: VERSION,
            hw,
            seen: next_seen,
            span,
        },
        window_done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splunk::mapping::{IdMode, map_row};
    use serde_json::value::RawValue;

    fn row(cd: u32, indextime: i64) -> MappedRow {
        let raw = format!(
            r#"{{"_cd":"0:{cd}","index":"a","_time":"{indextime}","_indextime":"{indextime}","_raw":"r{cd}"}}"#
        );
        map_row("s", RawValue::from_string(raw).unwrap(), IdMode::Events).unwrap()
    }

    fn ids(a: &[Alert]) -> Vec<String> {
        a.iter().map(|a| a.id.clone()).collect()
    }

    #[test]
    fn a_window_within_budget_moves_hw_to_its_end() {
        let s = State::start(100);
        let sel = select(vec![row(1, 101), row(2, 100), row(3, 150)], &s, 200, 10);
        assert!(sel.window_done);
        assert_eq!(sel.alerts.len(), 3);
        assert_eq!(sel.next.hw, 200);
        assert!(sel.next.seen.is_empty());
    }

    #[test]
    fn a_cut_window_resumes_at_the_last_second_without_repeats_or_gaps() {
        let all: Vec<(u32, i64)> = (0..25).map(|i| (i, 100 + i64::from(i / 4))).collect();
        let mut state = State::start(100);
        let mut got = Vec::new();
        for _ in 0..20 {
            let rows = all.iter().map(|&(c, t)| row(c, t)).collect();
            let sel = select(rows, &state, 200, 3);
            got.extend(ids(&sel.alerts));
            state = sel.next;
            if sel.window_done {
                break;
            }
        }
        let want: HashSet<String> = all.iter().map(|&(c, t)| row(c, t).alert.id).collect();
        assert_eq!(got.len(), want.len(), "no repeats");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
        assert_eq!(state.hw, 200);
    }

    #[test]
    fn more_rows_in_one_second_than_a_batch_are_walked_with_seen() {
        let mut state = State::start(100);
        let rows = || (0..7).map(|c| row(c, 100)).collect::<Vec<_>>();
        let a = select(rows(), &state, 101, 3);
        assert_eq!((a.next.hw, a.next.seen.len()), (100, 3));
        state = a.next;
        let b = select(rows(), &state, 101, 3);
        assert_eq!(b.next.seen.len(), 6);
        let c = select(rows(), &b.next, 101, 3);
        assert!(c.window_done);
        let mut all = ids(&a.alerts);
        all.extend(ids(&b.alerts));
        all.extend(ids(&c.alerts));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn the_same_cursor_selects_the_same_batch() {
        let s = State::start(100);
        let make = || {
            (0..50)
                .map(|c| row(c, 100 + i64::from(c % 9)))
                .collect::<Vec<_>>()
        };
        let a = select(make(), &s, 200, 10);
        let mut shuffled = make();
        shuffled.reverse();
        let b = select(shuffled, &s, 200, 10);
        assert_eq!(ids(&a.alerts), ids(&b.alerts));
        assert_eq!(a.next, b.next);
    }

    #[test]
    fn rows_at_the_inclusive_end_are_not_repeated_by_the_next_window() {
        let s = State::start(100);
        let a = select(vec![row(1, 150), row(2, 200)], &s, 200, 10);
        assert_eq!(a.alerts.len(), 2);
        assert_eq!(a.next.seen.len(), 1);
        let b = select(vec![row(2, 200), row(3, 201)], &a.next, 300, 10);
        assert_eq!(ids(&b.alerts), vec![row(3, 201).alert.id]);
    }

    #[test]
    fn rows_outside_the_window_are_dropped() {
        let s = State::start(100);
        let sel = select(vec![row(1, 99), row(2, 301)], &s, 300, 10);
        assert!(sel.alerts.is_empty());
    }

    #[test]
    fn cursor_round_trips_and_rejects_other_versions() {
        let s = State {
            v: 1,
            hw: 5,
            seen: vec!["a".into()],
            span: Some(60),
        };
        assert_eq!(State::decode(&s.encode().unwrap()).unwrap(), s);
        let other = Cursor::from_json(serde_json::json!({"v": 9, "hw": 1}));
        assert!(State::decode(&other).is_err());
    }
}
