//! The small subset of SPL the mock understands, and Splunk time modifiers.
//!
//! A query is `search <expr> [| search <expr>]…`. An expression has terms joined by implicit
//! AND, `AND`, `OR`, `NOT` and parentheses. A term is `field=value`, `field!=value`,
//! `field IN (v1, v2, …)`, the `` `notable` `` macro, or free text matched against `_raw`. Values
//! may be quoted and may hold `*` wildcards; matching is case-insensitive, like Splunk's. A first
//! stage that names no `index` searches the default index `main` only, and `index=*` never
//! matches internal (`_`-prefixed) indexes.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

/// A parse failure, worded like Splunk's own messages.
#[derive(Debug, Clone, PartialEq)]
pub struct SplError(pub String);

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    /// The ES `notable` macro: `index=notable` plus search-time enrichment.
    Notable,
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub stages: Vec<Expr>,
    /// The `notable` macro appears, so rows carry the enriched notable fields.
    pub notable: bool,
}

/// What a row exposes to the matcher.
pub trait Fields {
    /// Every value of `name` (multivalue fields have several).
    fn values(&self, name: &str) -> Vec<&str>;
}

impl Query {
    pub fn parse(search: &str) -> Result<Query, SplError> {
        let tokens = tokenize(search)?;
        let mut stages = Vec::new();
        for (i, stage) in tokens.split(|t| *t == Tok::Pipe).enumerate() {
            let Some((first, rest)) = stage.split_first() else {
                return Err(SplError(
                    "Error in 'search' command: empty pipeline stage.".into(),
                ));
            };
            match first {
                Tok::Word(w) if w.eq_ignore_ascii_case("search") => {}
                Tok::Word(w) => {
                    return Err(SplError(format!("Unknown search command '{w}'.")));
                }
                _ if i == 0 => {
                    return Err(SplError(
                        "The search must start with a generating command such as 'search'.".into(),
                    ));
                }
                _ => {
                    return Err(SplError(
                        "Error in 'search' command: missing command name.".into(),
                    ));
                }
            }
            let mut p = Parser { toks: rest, pos: 0 };
            let expr = if rest.is_empty() {
                Expr::And(Vec::new())
            } else {
                p.or()?
            };
            if p.pos != rest.len() {
                return Err(SplError(format!(
                    "Error in 'search' command: unexpected {:?}.",
                    rest[p.pos]
                )));
            }
            stages.push(expr);
        }
        if stages.is_empty() {
            return Err(SplError("Empty search.".into()));
        }
        let notable = stages.iter().any(mentions_notable);
        if notable && !mentions_notable(&stages[0]) {
            return Err(SplError(
                "Error in 'search' command: the `notable` macro must be in the first stage.".into(),
            ));
        }
        if !mentions_index(&stages[0]) && !notable {
            let first = std::mem::replace(&mut stages[0], Expr::And(Vec::new()));
            stages[0] = Expr::And(vec![Expr::Eq("index".into(), "main".into()), first]);
        }
        Ok(Query { stages, notable })
    }

    pub fn matches(&self, row: &dyn Fields) -> bool {
        self.stages.iter().all(|e| eval(e, row))
    }
}

fn mentions_notable(e: &Expr) -> bool {
    match e {
        Expr::Notable => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(mentions_notable),
        Expr::Not(e) => mentions_notable(e),
        _ => false,
    }
}

fn mentions_index(e: &Expr) -> bool {
    match e {
        Expr::Eq(f, _) | Expr::Ne(f, _) | Expr::In(f, _) => f == "index",
        Expr::Notable => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(mentions_index),
        Expr::Not(e) => mentions_index(e),
        Expr::Text(_) => false,
    }
}

fn eval(e: &Expr, row: &dyn Fields) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, row)),
        Expr::Or(v) => v.iter().any(|e| eval(e, row)),
        Expr::Not(e) => !eval(e, row),
        Expr::Eq(f, v) => field_matches(row, f, v),
        // Splunk: `f!=v` needs the field to exist, unlike `NOT f=v`.
        Expr::Ne(f, v) => !row.values(f).is_empty() && !field_matches(row, f, v),
        Expr::In(f, vs) => vs.iter().any(|v| field_matches(row, f, v)),
        Expr::Notable => row.values("index").contains(&"notable"),
        Expr::Text(t) => row
            .values("_raw")
            .iter()
            .any(|r| glob_match(&format!("*{t}*"), r)),
    }
}

fn field_matches(row: &dyn Fields, field: &str, pattern: &str) -> bool {
    row.values(field).iter().any(|v| {
        if field == "index" && v.starts_with('_') && !pattern.starts_with('_') {
            return false;
        }
        glob_match(pattern, v)
    })
}

/// Case-insensitive match with `*` wildcards.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Macro(String),
    LParen,
    RParen,
    Eq,
    Ne,
    Comma,
    Pipe,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, SplError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '=' | ',' | '|' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '=' => Tok::Eq,
                    ',' => Tok::Comma,
                    _ => Tok::Pipe,
                });
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(SplError("Error in 'search' command: stray '!'.".into()));
                }
                out.push(Tok::Ne);
            }
            '"' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(SplError(
                                "Error in 'search' command: unbalanced quotes.".into(),
                            ));
                        }
                        Some('\\') => {
                            if let Some(n) = chars.next() {
                                v.push(n);
                            }
                        }
                        Some('"') => break,
                        Some(o) => v.push(o),
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '`' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(SplError(
                                "Error in 'search' command: unbalanced backticks.".into(),
                            ));
                        }
                        Some('`') => break,
                        Some(o) => v.push(o),
                    }
                }
                out.push(Tok::Macro(v));
            }
            _ => {
                let mut v = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "()=,|!\"`".contains(n) {
                        break;
                    }
                    v.push(n);
                    chars.next();
                }
                out.push(Tok::Word(v));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Expr, SplError> {
        let mut v = vec![self.and()?];
        while self.peek_word("OR") {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, SplError> {
        let mut v = vec![self.not()?];
        loop {
            if self.peek_word("AND") {
                self.pos += 1;
            }
            match self.peek() {
                None | Some(Tok::RParen) => break,
                Some(Tok::Word(w)) if w == "OR" => break,
                _ => v.push(self.not()?),
            }
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn not(&mut self) -> Result<Expr, SplError> {
        if self.peek_word("NOT") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn value(&mut self) -> Result<String, SplError> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                self.pos += 1;
                Ok(w.clone())
            }
            other => Err(SplError(format!(
                "Error in 'search' command: expected a value, found {other:?}."
            ))),
        }
    }

    fn atom(&mut self) -> Result<Expr, SplError> {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| SplError("Error in 'search' command: unexpected end.".into()))?;
        self.pos += 1;
        match tok {
            Tok::LParen => {
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(SplError(
                        "Error in 'search' command: unbalanced parentheses.".into(),
                    ));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Macro(m) if m.trim() == "notable" => Ok(Expr::Notable),
            Tok::Macro(m) => Err(SplError(format!(
                "Error in 'search' command: Unable to find macro '{m}' (arguments: 0)."
            ))),
            Tok::Word(w) => match self.peek() {
                Some(Tok::Eq) => {
                    self.pos += 1;
                    Ok(Expr::Eq(w, self.value()?))
                }
                Some(Tok::Ne) => {
                    self.pos += 1;
                    Ok(Expr::Ne(w, self.value()?))
                }
                Some(Tok::Word(k))
                    if k.eq_ignore_ascii_case("IN")
                        && self.toks.get(self.pos + 1) == Some(&Tok::LParen) =>
                {
                    self.pos += 2;
                    let mut vals = vec![self.value()?];
                    loop {
                        match self.toks.get(self.pos) {
                            Some(Tok::Comma) => {
                                self.pos += 1;
                                vals.push(self.value()?);
                            }
                            Some(Tok::RParen) => {
                                self.pos += 1;
                                break;
                            }
                            // Splunk also accepts space-separated IN lists.
                            Some(Tok::Word(_)) | Some(Tok::Quoted(_)) => vals.push(self.value()?),
                            _ => {
                                return Err(SplError(
                                    "Error in 'search' command: unterminated IN list.".into(),
                                ));
                            }
                        }
                    }
                    Ok(Expr::In(w, vals))
                }
                _ => Ok(Expr::Text(w)),
            },
            Tok::Quoted(q) => Ok(Expr::Text(q)),
            other => Err(SplError(format!(
                "Error in 'search' command: unexpected {other:?}."
            ))),
        }
    }
}

/// Resolves a Splunk time modifier to epoch seconds: `now`, `0`, an epoch, ISO 8601, or a
/// relative `[+-]N<unit>[@<unit>]` / `@<unit>` against `now`.
pub fn time_modifier(raw: &str, now: i64) -> Result<f64, SplError> {
    let s = raw.trim();
    let bad = || {
        SplError(format!(
            "Invalid value \"{raw}\" for time term 'earliest' or 'latest'"
        ))
    };
    if s.is_empty() {
        return Err(bad());
    }
    if s == "now" {
        return Ok(now as f64);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok(f);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis() as f64 / 1000.0);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(t.timestamp_millis() as f64 / 1000.0);
    }
    let (offset, snap) = match s.split_once('@') {
        Some((o, sn)) => (o, Some(sn)),
        None => (s, None),
    };
    let mut t = now;
    if !offset.is_empty() {
        let sign = match offset.as_bytes()[0] {
            b'-' => -1,
            b'+' => 1,
            _ => return Err(bad()),
        };
        let body = &offset[1..];
        let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
        let unit = &body[digits.len()..];
        let n: i64 = if digits.is_empty() {
            1
        } else {
            digits.parse().map_err(|_| bad())?
        };
        let secs = unit_seconds(unit).ok_or_else(bad)?;
        t += sign * n * secs;
    }
    if let Some(unit) = snap {
        t = snap_to(t, unit).ok_or_else(bad)?;
    }
    Ok(t as f64)
}

/// Splunk's time-modifier units, as its search reference lists them ("Time modifiers"): the
/// mock keeps them as data (quarters included) rather than sharing the connector's parser.
const UNITS: &[(i64, &[&str])] = &[
    (1, &["s", "sec", "secs", "second", "seconds"]),
    (60, &["m", "min", "mins", "minute", "minutes"]),
    (3600, &["h", "hr", "hrs", "hour", "hours"]),
    (86_400, &["d", "day", "days"]),
    (7 * 86_400, &["w", "week", "weeks"]),
    (30 * 86_400, &["mon", "month", "months"]),
    (90 * 86_400, &["q", "qtr", "qtrs", "quarter", "quarters"]),
    (365 * 86_400, &["y", "yr", "yrs", "year", "years"]),
];

fn unit_seconds(unit: &str) -> Option<i64> {
    UNITS
        .iter()
        .find(|(_, names)| names.contains(&unit))
        .map(|&(secs, _)| secs)
}

fn snap_to(t: i64, unit: &str) -> Option<i64> {
    let dt = Utc.timestamp_opt(t, 0).single()?;
    let snapped = match unit {
        "s" | "sec" | "second" => dt,
        "m" | "min" | "minute" => dt.with_second(0)?,
        "h" | "hr" | "hour" => dt.with_second(0)?.with_minute(0)?,
        "d" | "day" => dt.date_naive().and_hms_opt(0, 0, 0)?.and_utc(),
        "mon" | "month" => dt.date_naive().with_day(1)?.and_hms_opt(0, 0, 0)?.and_utc(),
        _ => return None,
    };
    Some(snapped.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Row(HashMap<&'static str, &'static str>);
    impl Fields for Row {
        fn values(&self, name: &str) -> Vec<&str> {
            self.0.get(name).map(|v| vec![*v]).unwrap_or_default()
        }
    }

    fn row(pairs: &[(&'static str, &'static str)]) -> Row {
        Row(pairs.iter().copied().collect())
    }

    #[test]
    fn indexes_or_in_and_wildcards() {
        let q =
            Query::parse(r#"search (index="acme_prod" OR index=globex*) sourcetype IN (a, "b")"#)
                .unwrap();
        assert!(q.matches(&row(&[("index", "acme_prod"), ("sourcetype", "a")])));
        assert!(q.matches(&row(&[("index", "GLOBEX_dev"), ("sourcetype", "b")])));
        assert!(!q.matches(&row(&[("index", "acme_dev"), ("sourcetype", "a")])));
        assert!(!q.matches(&row(&[("index", "acme_prod"), ("sourcetype", "c")])));
    }

    #[test]
    fn notable_macro_and_piped_search() {
        let q = Query::parse(r#"search `notable` | search index="notable" orig_index="acme*""#)
            .unwrap();
        assert!(q.notable);
        assert!(q.matches(&row(&[("index", "notable"), ("orig_index", "acme_prod")])));
        assert!(!q.matches(&row(&[("index", "notable"), ("orig_index", "globex_prod")])));
        assert!(!q.matches(&row(&[("index", "acme_prod"), ("orig_index", "acme_prod")])));
    }

    #[test]
    fn no_index_term_means_main_and_star_skips_internal() {
        let q = Query::parse("search error").unwrap();
        assert!(q.matches(&row(&[("index", "main"), ("_raw", "an ERROR here")])));
        assert!(!q.matches(&row(&[("index", "acme"), ("_raw", "an error here")])));
        let all = Query::parse("search index=*").unwrap();
        assert!(!all.matches(&row(&[("index", "_internal")])));
        assert!(all.matches(&row(&[("index", "acme")])));
    }

    #[test]
    fn not_equal_needs_the_field() {
        let q = Query::parse("search index=a x!=1").unwrap();
        assert!(!q.matches(&row(&[("index", "a")])));
        assert!(q.matches(&row(&[("index", "a"), ("x", "2")])));
        let n = Query::parse("search index=a NOT x=1").unwrap();
        assert!(n.matches(&row(&[("index", "a")])));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(Query::parse("index=a").is_err(), "no generating command");
        assert!(Query::parse("search index=a | stats count").is_err());
        assert!(Query::parse("search `other_macro`").is_err());
        assert!(Query::parse("search index=\"a").is_err());
    }

    #[test]
    fn time_modifiers() {
        let now = 1_764_324_000; // 2025-11-28T10:00:00Z
        assert_eq!(
            time_modifier("-7d", now).unwrap(),
            (now - 7 * 86_400) as f64
        );
        assert_eq!(time_modifier("now", now).unwrap(), now as f64);
        assert_eq!(time_modifier("0", now).unwrap(), 0.0);
        assert_eq!(time_modifier("1700000000.5", now).unwrap(), 1_700_000_000.5);
        assert_eq!(
            time_modifier("-1d@d", now).unwrap(),
            (now - 86_400 - 36_000) as f64
        );
        assert!(time_modifier("yesterday", now).is_err());
        assert!(glob_match("acme*", "ACME_prod"));
        assert!(!glob_match("acme*", "globex"));
        assert!(glob_match("*", ""));
    }
}
