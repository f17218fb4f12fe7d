//! Business calendars: an IANA zone, weekly hours and holidays, and how a target is added.
//!
//! Rules (README.md, "SLA policies"):
//! - Everything is evaluated in the calendar's zone; a holiday closes the whole local date.
//! - A business-time target first rolls a start outside business hours forward to the next
//!   opening.
//! - `Nbh` consumes N open hours from there, crossing closed periods; a due that falls exactly at
//!   a closing time is that closing time, not the next opening.
//! - `Nbd` is the same local time (after the roll-forward) on the N-th following business day (a
//!   day with open hours that is not a holiday), clamped to that day's first opening and last
//!   closing. A local time that does not exist that day (DST gap) resolves forward, an ambiguous
//!   one (DST fold) to the earlier instant (RFC 5545, jiff's "compatible").
//! - Wall targets are elapsed time (`Timestamp + duration`), unaffected by DST.
//! - A due more than ten years after the start, or no opening within ten years, is an error.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{SlaError, invalid, quote};
use crate::target::{MAX_SECS, Target};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
/// How far ahead a calendar looks for openings (ten years of days).
const HORIZON_DAYS: usize = 3660;

/// Open intervals per weekday (Monday first), in minutes of the local day, sorted, disjoint;
/// an interval never crosses midnight (`24:00` may end one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeeklyHours {
    days: [Vec<(u16, u16)>; 7],
}

impl Default for WeeklyHours {
    fn default() -> WeeklyHours {
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for d in days.iter_mut().take(5) {
            d.push((9 * 60, 17 * 60));
        }
        WeeklyHours { days }
    }
}

fn parse_clock(s: &str, whole: &str) -> Result<u16, SlaError> {
    let bad = || {
        invalid(format!(
            "hours {}: {} is not a time (HH:MM)",
            quote(whole),
            quote(s)
        ))
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn day_index(s: &str, whole: &str) -> Result<usize, SlaError> {
    DAYS.iter().position(|d| *d == s).ok_or_else(|| {
        invalid(format!(
            "hours {}: {} is not a day (mon, tue, wed, thu, fri, sat, sun)",
            quote(whole),
            quote(s)
        ))
    })
}

impl FromStr for WeeklyHours {
    type Err = SlaError;
    fn from_str(s: &str) -> Result<WeeklyHours, SlaError> {
        let text = s.trim().to_ascii_lowercase();
        if text == "24/7" {
            return Ok(WeeklyHours {
                days: std::array::from_fn(|_| vec![(0, 1440)]),
            });
        }
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for group in text.split(',') {
            let mut words = group.split_whitespace();
            let Some(spec) = words.next() else {
                return Err(invalid(format!("hours {} has an empty group", quote(s))));
            };
            let (first, last) = match spec.split_once('-') {
                Some((a, b)) => (day_index(a, s)?, day_index(b, s)?),
                None => (day_index(spec, s)?, day_index(spec, s)?),
            };
            if last < first {
                return Err(invalid(format!(
                    "hours {}: the day range {} runs backwards",
                    quote(s),
                    quote(spec)
                )));
            }
            let mut any = false;
            for interval in words {
                any = true;
                let (a, b) = interval.split_once('-').ok_or_else(|| {
                    invalid(format!(
                        "hours {}: {} is not an interval (HH:MM-HH:MM)",
                        quote(s),
                        quote(interval)
                    ))
                })?;
                let (a, b) = (parse_clock(a, s)?, parse_clock(b, s)?);
                if b <= a {
                    return Err(invalid(format!(
                        "hours {}: {} ends before it starts (intervals over midnight are not supported; split them at 24:00)",
                        quote(s),
                        quote(interval)
                    )));
                }
                for day in &mut days[first..=last] {
                    day.push((a, b));
                }
            }
            if !any {
                return Err(invalid(format!(
                    "hours {}: {} has no interval",
                    quote(s),
                    quote(spec)
                )));
            }
        }
        for (i, day) in days.iter_mut().enumerate() {
            day.sort_unstable();
            if day.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(invalid(format!(
                    "hours {}: overlapping hours on {}",
                    quote(s),
                    DAY_NAMES[i]
                )));
            }
        }
        Ok(WeeklyHours { days })
    }
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

impl fmt::Display for WeeklyHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days.iter().all(|d| d == &[(0, 1440)]) {
            return f.write_str("24/7");
        }
        let mut groups = Vec::new();
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            if !self.days[i].is_empty() {
                let spec = if i == j {
                    DAYS[i].to_owned()
                } else {
                    format!("{}-{}", DAYS[i], DAYS[j])
                };
                let iv: Vec<String> = self.days[i]
                    .iter()
                    .map(|(a, b)| format!("{}-{}", hhmm(*a), hhmm(*b)))
                    .collect();
                groups.push(format!("{spec} {}", iv.join(" ")));
            }
            i = j + 1;
        }
        f.write_str(&groups.join(", "))
    }
}

impl TryFrom<String> for WeeklyHours {
    type Error = SlaError;
    fn try_from(s: String) -> Result<WeeklyHours, SlaError> {
        s.parse()
    }
}

impl From<WeeklyHours> for String {
    fn from(h: WeeklyHours) -> String {
        h.to_string()
    }
}

/// A holiday: exactly `YYYY-MM-DD`.
pub fn parse_holiday(s: &str) -> Result<Date, SlaError> {
    let bad = || invalid(format!("holiday {} is not a date (YYYY-MM-DD)", quote(s)));
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(bad());
    }
    s.parse::<Date>().map_err(|_| bad())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarRepr", into = "CalendarRepr")]
pub struct Calendar {
    zone_name: String,
    zone: TimeZone,
    hours: WeeklyHours,
    holidays: BTreeSet<Date>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarRepr {
    zone: String,
    hours: WeeklyHours,
    #[serde(default)]
    holidays: Vec<String>,
}

impl TryFrom<CalendarRepr> for Calendar {
    type Error = SlaError;
    fn try_from(r: CalendarRepr) -> Result<Calendar, SlaError> {
        let days = r
            .holidays
            .iter()
            .map(|d| parse_holiday(d))
            .collect::<Result<Vec<_>, _>>()?;
        Calendar::new(&r.zone, r.hours, days)
    }
}

impl From<Calendar> for CalendarRepr {
    fn from(c: Calendar) -> CalendarRepr {
        CalendarRepr {
            zone: c.zone_name,
            hours: c.hours,
            holidays: c.holidays.iter().map(|d| d.to_string()).collect(),
        }
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Calendar) -> bool {
        self.zone_name == other.zone_name
            && self.hours == other.hours
            && self.holidays == other.holidays
    }
}

impl Default for Calendar {
    fn default() -> Calendar {
        Calendar {
            zone_name: "UTC".to_owned(),
            zone: TimeZone::UTC,
            hours: WeeklyHours::default(),
            holidays: BTreeSet::new(),
        }
    }
}

/// One open interval as instants.
type Open = (Timestamp, Timestamp);

impl Calendar {
    pub fn new(
        zone: &str,
        hours: WeeklyHours,
        holidays: impl IntoIterator<Item = Date>,
    ) -> Result<Calendar, SlaError> {
        let tz = TimeZone::get(zone).map_err(|_| {
            invalid(format!(
                "time zone {} is not an IANA zone (e.g. Europe/Berlin)",
                quote(zone)
            ))
        })?;
        Ok(Calendar {
            zone_name: zone.to_owned(),
            zone: tz,
            hours,
            holidays: holidays.into_iter().collect(),
        })
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn hours(&self) -> &WeeklyHours {
        &self.hours
    }

    pub fn holidays(&self) -> Vec<Date> {
        self.holidays.iter().copied().collect()
    }

    fn local(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let dt = if minute >= 1440 {
            DateTime::from_parts(date.tomorrow().ok()?, Time::midnight())
        } else {
            let t = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
            DateTime::from_parts(date, t)
        };
        dt.to_zoned_datetime(self.zone.clone())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The open intervals of one local date, as instants (none on a holiday).
    fn day(&self, date: Date) -> Vec<Open> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let wd = date.weekday().to_monday_zero_offset() as usize;
        self.hours.days[wd]
            .iter()
            .filter_map(|(a, b)| {
                let (o, c) = (self.local(date, *a)?, self.local(date, *b)?);
                (c > o).then_some((o, c))
            })
            .collect()
    }

    fn date_of(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.zone.clone()).date()
    }

    /// Open intervals that end after `at`, in order, the first clipped to start at `at`.
    fn opens_from(&self, at: Timestamp) -> impl Iterator<Item = Open> + '_ {
        let first = self.date_of(at);
        // One day back too: a DST change can put part of a local day's hours before `at`'s date.
        let start = first.yesterday().unwrap_or(first);
        std::iter::successors(Some(start), |d| d.tomorrow().ok())
            .take(HORIZON_DAYS)
            .flat_map(move |d| self.day(d))
            .filter(move |(_, c)| *c > at)
            .map(move |(o, c)| (o.max(at), c))
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        self.opens_from(at).next().is_some_and(|(o, _)| o <= at)
    }

    fn next_opening(&self, at: Timestamp) -> Result<Timestamp, SlaError> {
        self.opens_from(at).next().map(|(o, _)| o).ok_or_else(|| {
            SlaError::Unreachable("the calendar has no opening within ten years".to_owned())
        })
    }

    fn is_business_day(&self, d: Date) -> bool {
        !self.day(d).is_empty()
    }

    /// `start` plus `target` under this calendar's rules (module docs).
    pub fn add(&self, start: Timestamp, target: &Target) -> Result<Timestamp, SlaError> {
        let far = || SlaError::Unreachable("the due time is more than ten years away".to_owned());
        let due = match *target {
            Target::Wall(d) => {
                let d = SignedDuration::try_from(d).map_err(|_| far())?;
                start.checked_add(d).map_err(|_| far())?
            }
            Target::BusinessHours(n) => {
                let mut left = SignedDuration::from_hours(i64::from(n));
                let mut due = None;
                for (o, c) in self.opens_from(start) {
                    let len = o.duration_until(c);
                    if left <= len {
                        due = Some(o.checked_add(left).map_err(|_| far())?);
                        break;
                    }
                    left -= len;
                }
                due.ok_or_else(far)?
            }
            Target::BusinessDays(n) => {
                let from = self.next_opening(start)?;
                let local = from.to_zoned_datetime(self.zone.clone());
                let mut day = local.date();
                let mut counted = 0;
                for _ in 0..HORIZON_DAYS {
                    day = day.tomorrow().map_err(|_| far())?;
                    if self.is_business_day(day) {
                        counted += 1;
                        if counted == n {
                            break;
                        }
                    }
                }
                if counted != n {
                    return Err(far());
                }
                let opens = self.day(day);
                let same = DateTime::from_parts(day, local.time())
                    .to_zoned_datetime(self.zone.clone())
                    .map_err(|_| far())?
                    .timestamp();
                match (opens.first(), opens.last()) {
                    (Some((first, _)), Some((_, last))) => same.clamp(*first, *last),
                    _ => return Err(far()),
                }
            }
        };
        if start.duration_until(due) > SignedDuration::from_secs(MAX_SECS as i64) {
            return Err(far());
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(zone: &str, s: &str) -> Timestamp {
        s.parse::<DateTime>()
            .unwrap()
            .to_zoned_datetime(TimeZone::get(zone).unwrap())
            .unwrap()
            .timestamp()
    }

    fn utc(s: &str) -> Timestamp {
        at("UTC", s)
    }

    fn office() -> Calendar {
        Calendar::default()
    }

    #[test]
    fn friday_afternoon_rolls_over_the_weekend() {
        let c = office();
        let fri = utc("2026-12-04T16:00"); // a Friday
        assert_eq!(
            c.add(fri, &Target::BusinessHours(4)).unwrap(),
            utc("2026-12-07T12:00")
        );
        assert_eq!(
            c.add(fri, &Target::BusinessDays(1)).unwrap(),
            utc("2026-12-07T16:00")
        );
        assert_eq!(
            c.add(fri, &Target::BusinessDays(5)).unwrap(),
            utc("2026-12-11T16:00")
        );
        assert_eq!(
            c.add(fri, &Target::BusinessHours(1)).unwrap(),
            utc("2026-12-04T17:00")
        );
        let sat = utc("2026-12-05T11:00");
        assert_eq!(
            c.add(sat, &Target::BusinessDays(1)).unwrap(),
            utc("2026-12-08T09:00")
        );
        assert!(!c.is_open(sat));
        assert!(c.is_open(fri));
    }

    #[test]
    fn a_start_on_a_holiday_rolls_to_the_next_business_day() {
        let xmas = parse_holiday("2026-12-25").unwrap(); // a Friday
        let c = Calendar::new("UTC", WeeklyHours::default(), [xmas]).unwrap();
        let t = utc("2026-12-25T10:00");
        assert_eq!(
            c.add(t, &Target::BusinessHours(2)).unwrap(),
            utc("2026-12-28T11:00")
        );
        assert_eq!(
            c.add(t, &Target::BusinessDays(1)).unwrap(),
            utc("2026-12-29T09:00")
        );
    }

    #[test]
    fn new_york_dst_changes() {
        let z = "America/New_York";
        let c = Calendar::new(z, WeeklyHours::default(), []).unwrap();
        // Spring forward on Sunday 2026-03-08: Friday 13:00 EST + 8bh = Monday 13:00 EDT.
        let fri = at(z, "2026-03-06T13:00");
        let due = c.add(fri, &Target::BusinessHours(8)).unwrap();
        assert_eq!(due, at(z, "2026-03-09T13:00"));
        assert_eq!(due, utc("2026-03-09T17:00"));
        // Wall time is elapsed time: 24h from Saturday 12:00 EST is Sunday 13:00 EDT.
        let sat = at(z, "2026-03-07T12:00");
        let d = c
            .add(sat, &Target::Wall(std::time::Duration::from_secs(86_400)))
            .unwrap();
        assert_eq!(d, at(z, "2026-03-08T13:00"));
        // Fall back on Sunday 2026-11-01.
        let fri = at(z, "2026-10-30T15:00");
        assert_eq!(
            c.add(fri, &Target::BusinessDays(1)).unwrap(),
            at(z, "2026-11-02T15:00")
        );
        assert_eq!(at(z, "2026-11-02T15:00"), utc("2026-11-02T20:00"));
    }

    #[test]
    fn berlin_dst_changes_and_a_start_in_the_gap() {
        let z = "Europe/Berlin";
        let c = Calendar::new(z, "24/7".parse().unwrap(), []).unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: 1bd from Saturday 02:30 lands forward.
        let sat = at(z, "2026-03-28T02:30");
        assert_eq!(
            c.add(sat, &Target::BusinessDays(1)).unwrap(),
            utc("2026-03-29T01:30")
        );
        // 2026-10-25 02:30 happens twice: the earlier instant (CEST, UTC+2).
        let sat = at(z, "2026-10-24T02:30");
        assert_eq!(
            c.add(sat, &Target::BusinessDays(1)).unwrap(),
            utc("2026-10-25T00:30")
        );
        let office = Calendar::new(z, WeeklyHours::default(), []).unwrap();
        let fri = at(z, "2026-03-27T13:00");
        assert_eq!(
            office.add(fri, &Target::BusinessHours(8)).unwrap(),
            at(z, "2026-03-30T13:00")
        );
        let fri = at(z, "2026-10-23T13:00");
        assert_eq!(
            office.add(fri, &Target::BusinessHours(8)).unwrap(),
            at(z, "2026-10-26T13:00")
        );
    }

    #[test]
    fn hours_parse_print_and_refuse() {
        for text in [
            "mon-fri 09:00-17:00",
            "mon-thu 08:00-18:00, fri 08:00-14:00",
            "24/7",
            "sat 10:00-12:00",
            "mon-fri 09:00-12:00 13:00-17:00",
        ] {
            let h: WeeklyHours = text.parse().unwrap();
            assert_eq!(h.to_string(), text);
        }
        for (bad, says) in [
            (
                "mon-fri 09:00-12:00, tue 11:00-13:00",
                "overlapping hours on tuesday",
            ),
            ("mon 17:00-09:00", "midnight"),
            ("funday 09:00-10:00", "not a day"),
            ("mon 9-10", "not a time"),
            ("mon", "no interval"),
            ("fri-mon 09:00-10:00", "backwards"),
        ] {
            let e = bad.parse::<WeeklyHours>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(Calendar::new("Mars/Olympus_Mons", WeeklyHours::default(), []).is_err());
        for bad in [
            "tomorrow",
            "2026-13-01",
            "2026-1-1",
            "2026-02-30",
            "ééééééééé",
        ] {
            assert!(parse_holiday(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calendars_round_trip_through_json() {
        let c = Calendar::new(
            "Europe/Berlin",
            "mon-fri 08:00-16:00".parse().unwrap(),
            [parse_holiday("2026-12-24").unwrap()],
        )
        .unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(
            j,
            r#"{"zone":"Europe/Berlin","hours":"mon-fri 08:00-16:00","holidays":["2026-12-24"]}"#
        );
        assert_eq!(serde_json::from_str::<Calendar>(&j).unwrap(), c);
        assert!(serde_json::from_str::<Calendar>(r#"{"zone":"Nowhere","hours":"24/7"}"#).is_err());
    }

    fn instant() -> impl Strategy<Value = Timestamp> {
        // 2020..2032, minute resolution.
        (1_577_836_800i64..1_956_528_000).prop_map(|s| Timestamp::from_second(s - s % 60).unwrap())
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            (1u64..200_000).prop_map(|s| Target::Wall(std::time::Duration::from_secs(s))),
            (1u32..60).prop_map(Target::BusinessHours),
            (1u32..15).prop_map(Target::BusinessDays),
        ]
    }

    fn calendar() -> impl Strategy<Value = Calendar> {
        prop_oneof![
            Just(Calendar::default()),
            Just(
                Calendar::new(
                    "America/New_York",
                    WeeklyHours::default(),
                    [parse_holiday("2026-07-03").unwrap()]
                )
                .unwrap()
            ),
            Just(
                Calendar::new(
                    "Europe/Berlin",
                    "mon-thu 08:00-12:00 13:00-18:00, fri 08:00-14:00"
                        .parse()
                        .unwrap(),
                    []
                )
                .unwrap()
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn due_is_after_start_and_monotone(c in calendar(), t in target(), a in instant(), gap in 0i64..400_000) {
            let b = a.checked_add(SignedDuration::from_secs(gap)).unwrap();
            let (da, db) = (c.add(a, &t).unwrap(), c.add(b, &t).unwrap());
            prop_assert!(da >= a);
            prop_assert!(db >= da, "{t}: {a} -> {da}, {b} -> {db}");
        }

        #[test]
        fn business_hours_end_inside_hours_never_on_a_closed_day(c in calendar(), n in 1u32..60, a in instant()) {
            let due = c.add(a, &Target::BusinessHours(n)).unwrap();
            // Open at the due, or it is a closing edge: open a moment before.
            let before = due.checked_sub(SignedDuration::from_secs(1)).unwrap();
            prop_assert!(c.is_open(due) || c.is_open(before), "{due}");
            let date = c.date_of(before);
            prop_assert!(c.is_business_day(date));
        }

        #[test]
        fn around_the_clock_business_hours_are_wall_hours(n in 1u32..500, a in instant()) {
            let c = Calendar::new("UTC", "24/7".parse().unwrap(), []).unwrap();
            let wall = Target::Wall(std::time::Duration::from_secs(u64::from(n) * 3600));
            prop_assert_eq!(c.add(a, &Target::BusinessHours(n)).unwrap(), c.add(a, &wall).unwrap());
        }

        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = s.parse::<WeeklyHours>();
            let _ = parse_holiday(&s);
            let _ = serde_json::from_str::<Calendar>(&s);
        }

        #[test]
        fn hours_round_trip(a in 0u16..1439, len in 1u16..600, first in 0usize..7, span in 0usize..7) {
            let b = (a + len).min(1440);
            let last = (first + span).min(6);
            let text = format!("{}-{} {}-{}", DAYS[first], DAYS[last], hhmm(a), hhmm(b));
            let h: WeeklyHours = text.parse().unwrap();
            prop_assert_eq!(h.to_string().parse::<WeeklyHours>().unwrap(), h);
        }
    }
}
