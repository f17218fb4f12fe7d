//! The Splunk checkpoint: an index-time high-water mark plus a bounded dedup set.
//!
//! Every pull searches `_indextime` in `[hw − look-behind, end)` with `end` = the Splunk server's
//! clock minus a small delay, so a late-indexed event (old `_time`, new `_indextime`) lands in the
//! window of the moment it was indexed. The look-behind re-reads the last minutes of index time on
//! every pull: an event can become searchable after its `_indextime` second has passed (an
//! indexer clock behind the search head, a slow or restarting peer), and would otherwise fall
//! behind `hw` for ever. Re-read rows are dropped by `event_id`: `recent` holds the key of every
//! row emitted (or quarantined) with `_indextime ≥ floor`, and `floor` never passes
//! `hw − look-behind` on its own, so nothing in the re-read part is emitted twice.
//!
//! A window may hold more rows than one batch may return: rows are ordered by (`_indextime`, id),
//! the batch takes a prefix, `hw` moves to the `_indextime` of its last row (never backwards) and
//! the rest ([`Selection::rest`]) is what the next fetch returns: from memory when it continues
//! from this very cursor in the same process (see the client's carry), else found again by a
//! search of the same window. Fetching again from an old cursor (after a crash) returns the same
//! rows again.
//!
//! **Bound.** `recent` keeps at most [`MAX_RECENT`] keys. Beyond that, the oldest whole seconds
//! are dropped and `floor` rises past them: the look-behind shrinks for this cursor, and an event
//! that becomes searchable late in the dropped part is missed (a warning says so). Keys at or
//! above `hw` are never dropped, since they guard the second a cut batch stopped in.
//!
//! `span` remembers a window length whose job was readable (the caller narrows it when a job
//! finds too many rows and widens it when one finds few), so a large backlog is read in windows
//! of a few batches each instead of re-reading the whole backlog for every batch.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::mapping::KIND;
use super::mapping::MappedRow;
use crate::{Alert, ConnectorError, Cursor, Quarantined};

const VERSION: u32 = 2;

/// The most keys `recent` holds (about 50 bytes each in the stored cursor).
pub const MAX_RECENT: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Every row with `floor ≤ _indextime < hw` that was searchable has been emitted.
    pub hw: i64,
    /// Seconds of index time whose job was last readable; `None` = search up to the horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<i64>,
    /// The lowest `_indextime` a search re-reads; `recent` covers everything emitted from here.
    pub floor: i64,
    /// `(_indextime, key)` of rows emitted with `_indextime ≥ floor`, sorted; the key is the
    /// alert's `event_id`, or `q:<hash>` for a quarantined row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(i64, String)>,
}

/// Version 1: no look-behind; `seen` held the vendor ids emitted at exactly `hw`.
#[derive(Deserialize)]
struct V1 {
    hw: i64,
    #[serde(default)]
    seen: Vec<String>,
    #[serde(default)]
    span: Option<i64>,
}

impl State {
    pub fn start(hw: i64) -> State {
        State {
            hw,
            span: None,
            // No look-behind before the first window: that would reach before `since`.
            floor: hw,
            recent: Vec::new(),
        }
    }

    /// `event_id` turns a version 1 `seen` id (emitted at `hw`) into a version 2 key; Splunk
    /// renders `_indextime` as whole epoch seconds, which is the version text it was built from.
    pub fn decode(
        cursor: &Cursor,
        event_id: impl Fn(&str, &str) -> String,
    ) -> Result<State, ConnectorError> {
        match cursor.version_for(KIND)? {
            1 => {
                let old: V1 = cursor.open()?;
                let version = old.hw.to_string();
                let mut recent: Vec<(i64, String)> = old
                    .seen
                    .iter()
                    .map(|id| (old.hw, event_id(id, &version)))
                    .collect();
                recent.sort_unstable();
                Ok(State {
                    hw: old.hw,
                    span: old.span,
                    floor: old.hw,
                    recent,
                })
            }
            n if n == u64::from(VERSION) => cursor.open(),
            other => Err(ConnectorError::Cursor(format!(
                "{KIND} cursor version {other} is not {VERSION}"
            ))),
        }
    }

    pub fn encode(&self) -> Result<Cursor, ConnectorError> {
        Cursor::seal(KIND, VERSION, self)
    }

    /// Start of the next search: the look-behind, never below `floor`.
    pub fn search_start(&self, look_back: i64) -> i64 {
        self.hw.saturating_sub(look_back.max(0)).max(self.floor)
    }

    /// End of the next window: `hw + span`, never past `horizon`, never before `hw`.
    pub fn window_end(&self, horizon: i64) -> i64 {
        let end = match self.span {
            Some(s) => self.hw.saturating_add(s.max(1)).min(horizon),
            None => horizon,
        };
        end.max(self.hw)
    }
}

/// What one window's rows give: the batch, the next cursor, and whether the window is done.
#[derive(Debug)]
pub struct Selection {
    pub alerts: Vec<Alert>,
    pub quarantined: Vec<Quarantined>,
    pub next: State,
    /// The whole window `[hw, end)` has been emitted.
    pub window_done: bool,
    /// Keys were dropped at [`MAX_RECENT`]; the look-behind of this cursor shrank.
    pub capped: bool,
    /// The window's rows after the batch, in order (empty when the window is done): what a
    /// fetch from `next` returns first, if nothing new became searchable meanwhile.
    pub rest: Vec<MappedRow>,
}

/// Picks the batch from every row the search returned for `[search_start, end)`.
///
/// Rows already in `recent`, below the search start or above `end` are dropped. Rows at exactly
/// `end` are kept, for servers that treat `index_latest` as inclusive; `recent` then stops the
/// next window from repeating them. Quarantined rows (`(key, record)`) have no usable
/// `_indextime`: they are remembered at `end`, which is at or after their real index time, so
/// they are not quarantined again while a look-behind can still return them.
pub fn select(
    mut rows: Vec<MappedRow>,
    bad: Vec<(String, Quarantined)>,
    state: &State,
    look_back: i64,
    end: i64,
    max_alerts: usize,
) -> Selection {
    let start = state.search_start(look_back);
    let emitted: HashSet<&str> = state.recent.iter().map(|(_, k)| k.as_str()).collect();
    rows.retain(|r| {
        r.indextime >= start && r.indextime <= end && !emitted.contains(r.alert.event_id.as_str())
    });
    rows.sort_unstable_by(|a, b| (a.indextime, &a.alert.id).cmp(&(b.indextime, &b.alert.id)));
    rows.dedup_by(|a, b| a.alert.event_id == b.alert.event_id);

    let max_alerts = max_alerts.max(1);
    let window_done = rows.len() <= max_alerts;
    let rest = if window_done {
        Vec::new()
    } else {
        rows.split_off(max_alerts)
    };

    let hw = if window_done {
        end
    } else {
        match rows.last() {
            // The cut fell among re-read (late-searchable) rows: `hw` stays; the rest come next.
            Some(last) if last.indextime > state.hw => last.indextime,
            _ => state.hw,
        }
    };

    let mut quarantined = Vec::new();
    let mut recent = state.recent.clone();
    recent.extend(rows.iter().map(|r| (r.indextime, r.alert.event_id.clone())));
    let mut bad_keys = HashSet::new();
    for (key, q) in bad {
        if !emitted.contains(key.as_str()) && bad_keys.insert(key.clone()) {
            recent.push((end, key));
            quarantined.push(q);
        }
    }

    let mut floor = state.floor.max(hw.saturating_sub(look_back.max(0)));
    recent.retain(|(t, _)| *t >= floor);
    recent.sort_unstable();
    recent.dedup();
    let mut capped = false;
    if recent.len() > MAX_RECENT {
        // Drop whole seconds, oldest first, but never a second at or above `hw`.
        let newest_dropped = recent[recent.len() - MAX_RECENT - 1].0;
        let new_floor = newest_dropped.saturating_add(1).min(hw);
        if new_floor > floor {
            floor = new_floor;
            recent.retain(|(t, _)| *t >= floor);
            capped = true;
        }
    }

    Selection {
        alerts: rows.into_iter().map(|r| r.alert).collect(),
        quarantined,
        next: State {
            hw,
            span: state.span,
            floor,
            recent,
        },
        window_done,
        capped,
        rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splunk::mapping::{IdMode, map_row};
    use serde_json::value::RawValue;

    const LB: i64 = 300;

    fn row(cd: u32, indextime: i64) -> MappedRow {
        let raw = format!(
            r#"{{"_cd":"0:{cd}","index":"a","_time":"{indextime}","_indextime":"{indextime}","_raw":"r{cd}"}}"#
        );
        map_row("s", RawValue::from_string(raw).unwrap(), IdMode::Events).unwrap()
    }

    fn ids(a: &[Alert]) -> Vec<String> {
        a.iter().map(|a| a.event_id.clone()).collect()
    }

    fn quarantined(key: &str) -> (String, Quarantined) {
        (
            key.to_owned(),
            Quarantined {
                raw: RawValue::from_string(r#"{"x":1}"#.to_owned()).unwrap(),
                reason: "test".into(),
            },
        )
    }

    #[test]
    fn a_window_within_budget_moves_hw_to_its_end() {
        let s = State::start(100);
        let sel = select(
            vec![row(1, 101), row(2, 100), row(3, 150)],
            vec![],
            &s,
            LB,
            200,
            10,
        );
        assert!(sel.window_done);
        assert_eq!(sel.alerts.len(), 3);
        assert_eq!(sel.next.hw, 200);
        assert_eq!(
            sel.next.floor, 100,
            "the first run never looks before since"
        );
        assert_eq!(sel.next.recent.len(), 3);
    }

    #[test]
    fn a_cut_window_resumes_at_the_last_second_without_repeats_or_gaps() {
        let all: Vec<(u32, i64)> = (0..25).map(|i| (i, 100 + i64::from(i / 4))).collect();
        let mut state = State::start(100);
        let mut got = Vec::new();
        for _ in 0..20 {
            let rows = all.iter().map(|&(c, t)| row(c, t)).collect();
            let sel = select(rows, vec![], &state, LB, 200, 3);
            got.extend(ids(&sel.alerts));
            state = sel.next;
            if sel.window_done {
                break;
            }
        }
        let want: HashSet<String> = all.iter().map(|&(c, t)| row(c, t).alert.event_id).collect();
        assert_eq!(got.len(), want.len(), "no repeats");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
        assert_eq!(state.hw, 200);
    }

    #[test]
    fn the_rest_of_a_cut_window_gives_what_searching_it_again_gives() {
        let all = || {
            (0..25)
                .map(|i| row(i, 100 + i64::from(i / 4)))
                .collect::<Vec<_>>()
        };
        let first = select(all(), vec![], &State::start(100), LB, 200, 10);
        assert_eq!((first.alerts.len(), first.rest.len()), (10, 15));
        assert_eq!(first.next.span, None, "span is the caller's");
        let (mut carried, mut searched) = (first.next.clone(), first.next);
        let mut rest = first.rest;
        loop {
            let from_rest = select(rest, vec![], &carried, LB, 200, 10);
            let again = select(all(), vec![], &searched, LB, 200, 10);
            assert_eq!(ids(&from_rest.alerts), ids(&again.alerts));
            assert_eq!(from_rest.next, again.next);
            assert_eq!(from_rest.window_done, again.window_done);
            (carried, searched, rest) = (from_rest.next, again.next, from_rest.rest);
            if again.window_done {
                break;
            }
        }
        assert_eq!(carried.hw, 200);
    }

    #[test]
    fn more_rows_in_one_second_than_a_batch_are_walked_with_recent() {
        let state = State::start(100);
        let rows = || (0..7).map(|c| row(c, 100)).collect::<Vec<_>>();
        let a = select(rows(), vec![], &state, LB, 101, 3);
        assert_eq!((a.next.hw, a.next.recent.len()), (100, 3));
        let b = select(rows(), vec![], &a.next, LB, 101, 3);
        assert_eq!(b.next.recent.len(), 6);
        let c = select(rows(), vec![], &b.next, LB, 101, 3);
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
        let a = select(make(), vec![], &s, LB, 200, 10);
        let mut shuffled = make();
        shuffled.reverse();
        let b = select(shuffled, vec![], &s, LB, 200, 10);
        assert_eq!(ids(&a.alerts), ids(&b.alerts));
        assert_eq!(a.next, b.next);
    }

    #[test]
    fn rows_at_the_inclusive_end_are_not_repeated_by_the_next_window() {
        let s = State::start(100);
        let a = select(vec![row(1, 150), row(2, 200)], vec![], &s, LB, 200, 10);
        assert_eq!(a.alerts.len(), 2);
        let b = select(vec![row(2, 200), row(3, 201)], vec![], &a.next, LB, 300, 10);
        assert_eq!(ids(&b.alerts), vec![row(3, 201).alert.event_id]);
    }

    #[test]
    fn rows_outside_the_window_are_dropped() {
        let s = State::start(100);
        let sel = select(vec![row(1, 99), row(2, 301)], vec![], &s, LB, 300, 10);
        assert!(sel.alerts.is_empty());
    }

    #[test]
    fn late_searchable_rows_inside_the_look_behind_are_emitted_once() {
        let first = select(vec![row(1, 1000)], vec![], &State::start(900), LB, 1100, 10);
        assert_eq!(first.next.hw, 1100);
        // Indexed at 1050 by a slow peer, searchable only now: behind `hw`, inside the look-behind.
        let rows = || vec![row(1, 1000), row(2, 1050), row(3, 1150)];
        let second = select(rows(), vec![], &first.next, LB, 1200, 10);
        assert_eq!(
            ids(&second.alerts),
            vec![row(2, 1050).alert.event_id, row(3, 1150).alert.event_id]
        );
        assert_eq!(
            second.next.floor, 900,
            "1200 - 300 is below the first floor"
        );
        let third = select(rows(), vec![], &second.next, LB, 1300, 10);
        assert!(third.alerts.is_empty(), "nothing twice");
        // Far beyond the look-behind, the keys are pruned and the rows are no longer searched.
        let later = select(vec![], vec![], &third.next, LB, 2000, 10);
        assert_eq!(later.next.floor, 1700);
        assert!(later.next.recent.is_empty());
        assert_eq!(later.next.search_start(LB), 1700);
    }

    #[test]
    fn a_cut_among_re_read_rows_keeps_hw_and_finds_the_rest_next() {
        let base = select(vec![], vec![], &State::start(900), LB, 1100, 10).next;
        let rows = || {
            (0..5)
                .map(|c| row(c, 1000 + i64::from(c)))
                .collect::<Vec<_>>()
        };
        let a = select(rows(), vec![], &base, LB, 1100, 2);
        assert!(!a.window_done);
        assert_eq!(a.next.hw, 1100, "hw never moves backwards");
        let b = select(rows(), vec![], &a.next, LB, 1100, 2);
        let c = select(rows(), vec![], &b.next, LB, 1100, 2);
        assert!(c.window_done);
        let mut all = ids(&a.alerts);
        all.extend(ids(&b.alerts));
        all.extend(ids(&c.alerts));
        assert_eq!(all.len(), 5);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 5);
    }

    #[test]
    fn quarantined_rows_are_kept_once_while_the_look_behind_can_return_them() {
        let s = State::start(100);
        let a = select(vec![row(1, 150)], vec![quarantined("q:1")], &s, LB, 200, 10);
        assert_eq!(a.quarantined.len(), 1);
        assert!(a.next.recent.contains(&(200, "q:1".to_owned())));
        let b = select(vec![], vec![quarantined("q:1")], &a.next, LB, 300, 10);
        assert!(b.quarantined.is_empty());
    }

    #[test]
    fn recent_is_capped_by_dropping_the_oldest_seconds_below_hw() {
        let s = State::start(0);
        let n = MAX_RECENT as u32 + 10;
        let rows: Vec<MappedRow> = (0..n).map(|c| row(c, i64::from(c / 10))).collect();
        let sel = select(rows, vec![], &s, 1_000_000, 5000, n as usize);
        assert!(sel.capped);
        assert!(sel.next.recent.len() <= MAX_RECENT);
        assert_eq!(sel.next.floor, 1, "second 0 (10 keys) dropped");
        assert!(sel.next.recent.iter().all(|(t, _)| *t >= sel.next.floor));
    }

    #[test]
    fn cursor_round_trips_and_reads_version_1() {
        let s = State {
            hw: 5,
            span: Some(60),
            floor: 1,
            recent: vec![(3, "a".into())],
        };
        assert_eq!(
            State::decode(&s.encode().unwrap(), |_, _| unreachable!()).unwrap(),
            s
        );
        let v1 = Cursor::from_json(serde_json::json!({"v": 1, "hw": 7, "seen": ["x"]}));
        let up = State::decode(&v1, |id, version| format!("{id}@{version}")).unwrap();
        assert_eq!((up.hw, up.floor), (7, 7));
        assert_eq!(up.recent, vec![(7, "x@7".to_owned())]);
        let other = Cursor::from_json(serde_json::json!({"v": 9, "hw": 1}));
        assert!(State::decode(&other, |_, _| String::new()).is_err());
    }
}
