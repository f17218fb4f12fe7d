//! The slice of Falcon Query Language the alerts endpoints need: `field:[op]value` clauses
//! joined by `+` (AND), values quoted with `'` or `"` or bare; and `field|asc` / `field.desc`
//! sorts. Unknown fields are refused with a 400, as the real API does.

use chrono::DateTime;

use super::data::AlertRec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Updated,
    Created,
    Timestamp,
    Status,
    Product,
    Type,
    Cid,
    CompositeId,
    Severity,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "updated_timestamp" => Field::Updated,
            "created_timestamp" => Field::Created,
            "timestamp" => Field::Timestamp,
            "status" => Field::Status,
            "product" => Field::Product,
            "type" => Field::Type,
            "cid" => Field::Cid,
            "composite_id" => Field::CompositeId,
            "severity" => Field::Severity,
            _ => return None,
        })
    }

    fn is_time(self) -> bool {
        matches!(self, Field::Updated | Field::Created | Field::Timestamp)
    }

    fn time_of(self, r: &AlertRec) -> i64 {
        match self {
            Field::Created => r.created_ns,
            Field::Timestamp => r.timestamp_ns,
            _ => r.updated_ns,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Time(i64),
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    field: Field,
    op: Op,
    value: Value,
}

/// A parsed filter: every clause must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter(Vec<Clause>);

impl Filter {
    pub fn parse(raw: &str) -> Result<Filter, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Filter::default());
        }
        split_outside_quotes(raw, '+')?
            .into_iter()
            .map(|c| parse_clause(c.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Filter)
    }

    pub fn matches(&self, cid: &str, r: &AlertRec) -> bool {
        self.0.iter().all(|c| clause_matches(c, cid, r))
    }

    /// False when a `cid:` equality clause names another CID (Falcon compares CIDs exactly;
    /// they are lowercase in its data): such a CID cannot contribute a single alert.
    pub fn may_match_cid(&self, cid: &str) -> bool {
        self.0.iter().all(|c| match (&c.value, c.field, c.op) {
            (Value::Text(t), Field::Cid, Op::Eq) => t == cid,
            (Value::Text(t), Field::Cid, Op::Ne) => t != cid,
            _ => true,
        })
    }

    /// The tightest lower bound on `updated_timestamp` (ns, inclusive?), for index seeks.
    pub fn updated_lower_bound(&self) -> Option<(i64, bool)> {
        self.0
            .iter()
            .filter(|c| c.field == Field::Updated)
            .filter_map(|c| match (&c.value, c.op) {
                (Value::Time(t), Op::Ge) => Some((*t, true)),
                (Value::Time(t), Op::Gt) => Some((*t, false)),
                (Value::Time(t), Op::Eq) => Some((*t, true)),
                _ => None,
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
    }
}

fn split_outside_quotes(s: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None if ch == sep => {
                parts.push(&s[start..i]);
                start = i + ch.len_utf8();
            }
            None => {}
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in filter {s:?}"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn parse_clause(c: &str) -> Result<Clause, String> {
    let (name, rest) = c
        .split_once(':')
        .ok_or_else(|| format!("invalid filter clause {c:?}: expected field:value"))?;
    let name = name.trim();
    let field = Field::parse(name).ok_or_else(|| format!("invalid filter field {name:?}"))?;
    let rest = rest.trim_start();
    let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('!') {
        (Op::Ne, v)
    } else {
        (Op::Eq, rest)
    };
    let value = value.trim();
    let text = match value.chars().next() {
        Some(q @ ('\'' | '"')) if value.len() >= 2 && value.ends_with(q) => {
            &value[1..value.len() - 1]
        }
        Some('\'' | '"') => return Err(format!("unterminated value in {c:?}")),
        _ => value,
    };
    let value = if field.is_time() {
        let t = DateTime::parse_from_rfc3339(text)
            .map_err(|_| format!("invalid timestamp {text:?} for {name}"))?;
        Value::Time(t.timestamp_nanos_opt().unwrap_or(i64::MAX))
    } else if field == Field::Severity {
        Value::Num(
            text.parse()
                .map_err(|_| format!("invalid number {text:?} for {name}"))?,
        )
    } else {
        Value::Text(text.to_owned())
    };
    Ok(Clause { field, op, value })
}

fn cmp_ok<T: PartialOrd>(op: Op, a: T, b: T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
    }
}

fn clause_matches(c: &Clause, cid: &str, r: &AlertRec) -> bool {
    match (&c.value, c.field) {
        (Value::Time(t), f) => cmp_ok(c.op, f.time_of(r), *t),
        (Value::Num(n), _) => cmp_ok(c.op, f64::from(r.severity), *n),
        (Value::Text(t), f) => {
            let have = match f {
                Field::Status => r.status,
                Field::Product => r.product,
                Field::Type => r.kind,
                Field::Cid => cid,
                Field::CompositeId => r.composite_id.as_str(),
                _ => return false,
            };
            cmp_ok(c.op, have, t.as_str())
        }
    }
}

/// `field|asc`, `field|desc`, `field.asc`, `field.desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    pub field: Field,
    pub desc: bool,
}

impl Sort {
    pub const UPDATED_ASC: Sort = Sort {
        field: Field::Updated,
        desc: false,
    };

    pub fn parse(raw: &str) -> Result<Sort, String> {
        let raw = raw.trim();
        let (name, dir) = raw
            .split_once('|')
            .or_else(|| raw.rsplit_once('.'))
            .unwrap_or((raw, "asc"));
        let field = match Field::parse(name.trim()) {
            Some(f) if f.is_time() || f == Field::Severity || f == Field::CompositeId => f,
            _ => return Err(format!("invalid sort field {name:?}")),
        };
        let desc = match dir.trim() {
            "asc" => false,
            "desc" => true,
            other => return Err(format!("invalid sort direction {other:?}")),
        };
        Ok(Sort { field, desc })
    }

    pub fn as_string(self) -> String {
        let name = match self.field {
            Field::Updated => "updated_timestamp",
            Field::Created => "created_timestamp",
            Field::Timestamp => "timestamp",
            Field::Severity => "severity",
            Field::CompositeId => "composite_id",
            _ => "updated_timestamp",
        };
        format!("{name}|{}", if self.desc { "desc" } else { "asc" })
    }

    /// The sort key of one alert (composite ids sort as their index's position).
    pub fn key(self, r: &AlertRec) -> i64 {
        match self.field {
            Field::Severity => i64::from(r.severity),
            Field::CompositeId => 0,
            f => f.time_of(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clauses_joined_by_plus_outside_quotes() {
        let f =
            Filter::parse("updated_timestamp:>='2026-01-01T00:00:00+00:00'+status:'new'").unwrap();
        assert_eq!(f.0.len(), 2);
        assert_eq!(
            f.updated_lower_bound(),
            Some((1_767_225_600_000_000_000, true))
        );
    }

    #[test]
    fn refuses_unknown_fields_and_bad_timestamps() {
        assert!(Filter::parse("colour:'red'").is_err());
        assert!(Filter::parse("updated_timestamp:>='yesterday'").is_err());
        assert!(Filter::parse("status:'new").is_err());
    }

    #[test]
    fn parses_both_sort_spellings() {
        assert_eq!(
            Sort::parse("updated_timestamp|asc").unwrap(),
            Sort::UPDATED_ASC
        );
        assert!(Sort::parse("created_timestamp.desc").unwrap().desc);
        assert!(Sort::parse("colour|asc").is_err());
    }
}
