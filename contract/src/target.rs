//! A target: wall-clock time (`15m`, `4h`, `2d`, `1w`) or business time (`8bh`, `5bd`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{SlaError, invalid, quote};

/// No target may exceed ten years: anything longer is a typo, and dues stay far inside the
/// range every consumer can represent.
pub(crate) const MAX_SECS: u64 = 3650 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    Wall,
    Business,
}

impl Clock {
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Business => "business",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    Wall(Duration),
    BusinessHours(u32),
    BusinessDays(u32),
}

impl Target {
    pub fn clock(&self) -> Clock {
        match self {
            Target::Wall(_) => Clock::Wall,
            _ => Clock::Business,
        }
    }
}

const WALL_UNITS: [(&str, u64); 5] = [
    ("w", 7 * 86_400),
    ("d", 86_400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
];

impl FromStr for Target {
    type Err = SlaError;
    fn from_str(s: &str) -> Result<Target, SlaError> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        // `digits` counts ASCII bytes, so the split is on a character boundary.
        let (num, unit) = t.split_at(digits);
        let bad = |why: &str| invalid(format!("target {} {why}", quote(s)));
        if t.starts_with('-') {
            return Err(bad(
                "is negative; a target is a positive time such as 15m or 5bd",
            ));
        }
        if num.is_empty() {
            return Err(bad(
                "is not a number with a unit (90s, 15m, 4h, 2d, 1w, 8bh, 5bd)",
            ));
        }
        let n: u64 = num.parse().map_err(|_| bad("is too large"))?;
        if n == 0 {
            return Err(bad("is zero; a target must be positive"));
        }
        let too_long = || bad("is longer than ten years");
        match unit {
            "bh" => {
                if n > MAX_SECS / 3600 {
                    return Err(too_long());
                }
                Ok(Target::BusinessHours(n as u32))
            }
            "bd" => {
                if n > 3650 {
                    return Err(too_long());
                }
                Ok(Target::BusinessDays(n as u32))
            }
            _ => {
                let (_, secs) = WALL_UNITS
                    .iter()
                    .find(|(u, _)| *u == unit)
                    .ok_or_else(|| bad("has an unknown unit; use s, m, h, d, w, bh or bd"))?;
                let total = n.checked_mul(*secs).ok_or_else(too_long)?;
                if total > MAX_SECS {
                    return Err(too_long());
                }
                Ok(Target::Wall(Duration::from_secs(total)))
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::BusinessHours(n) => write!(f, "{n}bh"),
            Target::BusinessDays(n) => write!(f, "{n}bd"),
            Target::Wall(d) => {
                let secs = d.as_secs();
                let (unit, size) = WALL_UNITS
                    .iter()
                    .find(|(_, size)| secs % size == 0)
                    .copied()
                    .unwrap_or(("s", 1));
                write!(f, "{}{unit}", secs / size)
            }
        }
    }
}

impl TryFrom<String> for Target {
    type Error = SlaError;
    fn try_from(s: String) -> Result<Target, SlaError> {
        s.parse()
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn units_parse_and_print_back() {
        for (text, t) in [
            ("15m", Target::Wall(Duration::from_secs(900))),
            ("4h", Target::Wall(Duration::from_secs(14_400))),
            ("1w", Target::Wall(Duration::from_secs(604_800))),
            ("90s", Target::Wall(Duration::from_secs(90))),
            ("8bh", Target::BusinessHours(8)),
            ("5bd", Target::BusinessDays(5)),
        ] {
            assert_eq!(text.parse::<Target>().unwrap(), t);
            assert_eq!(t.to_string(), text);
        }
        assert_eq!("120m".parse::<Target>().unwrap().to_string(), "2h");
    }

    #[test]
    fn bad_targets_name_themselves() {
        for bad in [
            "0m",
            "-5m",
            "",
            "m",
            "5x",
            "5 m",
            "99999999999999999999d",
            "3651bd",
            "11000d",
        ] {
            let e = bad.parse::<Target>().unwrap_err().to_string();
            assert!(e.starts_with("target"), "{bad}: {e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn parsing_never_panics(s in ".{0,24}") {
            let _ = s.parse::<Target>();
        }

        #[test]
        fn display_round_trips(n in 1u64..5000, unit in 0usize..7) {
            let text = format!("{n}{}", ["s", "m", "h", "d", "w", "bh", "bd"][unit]);
            if let Ok(t) = text.parse::<Target>() {
                prop_assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
            }
        }
    }
}
