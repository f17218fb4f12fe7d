//! The OData subset `Incidents_List` understands here: `$filter` clauses joined by `and`,
//! `$orderby` on one field, `$top`, and an opaque `$skipToken`.

use chrono::{DateTime, Utc};

use super::state::Incident;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    LastModified,
    Created,
    Number,
    Severity,
    Status,
}

impl Field {
    fn parse(s: &str) -> Option<Field> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("properties/").unwrap_or(&s);
        Some(match s {
            "lastmodifiedtimeutc" => Field::LastModified,
            "createdtimeutc" => Field::Created,
            "incidentnumber" => Field::Number,
            "severity" => Field::Severity,
            "status" => Field::Status,
            _ => return None,
        })
    }

    fn code(self) -> char {
        match self {
            Field::LastModified => 'm',
            Field::Created => 'c',
            Field::Number => 'n',
            Field::Severity => 's',
            Field::Status => 't',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone)]
enum Value {
    Time(DateTime<Utc>),
    Number(u64),
    Text(String),
}

#[derive(Debug, Clone)]
struct Clause {
    field: Field,
    op: Op,
    value: Value,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    pub fn parse(raw: &str) -> Result<Filter, String> {
        let mut clauses = Vec::new();
        for part in split_and(raw) {
            let words: Vec<&str> = part.split_whitespace().collect();
            let [field, op, value] = words.as_slice() else {
                return Err(format!("cannot parse the clause '{part}'"));
            };
            let field = Field::parse(field).ok_or_else(|| {
                format!("Could not find a property named '{field}' on type 'Microsoft.SecurityInsights.Incident'")
            })?;
            let op = match op.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => return Err(format!("unknown operator '{other}'")),
            };
            let unquoted = value.trim_matches('\'');
            let value = match field {
                Field::LastModified | Field::Created => DateTime::parse_from_rfc3339(unquoted)
                    .map(|t| Value::Time(t.with_timezone(&Utc)))
                    .map_err(|_| format!("'{value}' is not a valid DateTimeOffset literal"))?,
                Field::Number => Value::Number(
                    unquoted
                        .parse()
                        .map_err(|_| format!("'{value}' is not a valid Int32 literal"))?,
                ),
                Field::Severity | Field::Status => Value::Text(unquoted.to_owned()),
            };
            clauses.push(Clause { field, op, value });
        }
        Ok(Filter { clauses })
    }

    pub fn matches(&self, i: &Incident) -> bool {
        self.clauses.iter().all(|c| {
            let ord = match (&c.value, c.field) {
                (Value::Time(t), Field::LastModified) => i.modified.cmp(t),
                (Value::Time(t), Field::Created) => i.created.cmp(t),
                (Value::Number(n), Field::Number) => i.number.cmp(n),
                (Value::Text(s), Field::Severity) => {
                    i.severity.to_ascii_lowercase().cmp(&s.to_ascii_lowercase())
                }
                (Value::Text(s), Field::Status) => {
                    i.status.to_ascii_lowercase().cmp(&s.to_ascii_lowercase())
                }
                _ => return false,
            };
            use std::cmp::Ordering::*;
            match c.op {
                Op::Eq => ord == Equal,
                Op::Ne => ord != Equal,
                Op::Gt => ord == Greater,
                Op::Ge => ord != Less,
                Op::Lt => ord == Less,
                Op::Le => ord != Greater,
            }
        })
    }

    /// The lowest `lastModifiedTimeUtc` the filter admits, for a range scan.
    pub fn modified_floor(&self) -> Option<DateTime<Utc>> {
        self.clauses
            .iter()
            .filter(|c| c.field == Field::LastModified && matches!(c.op, Op::Ge | Op::Gt | Op::Eq))
            .filter_map(|c| match c.value {
                Value::Time(t) => Some(t),
                _ => None,
            })
            .max()
    }
}

/// Split on the keyword `and` (any case) between clauses.
fn split_and(raw: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    for word in raw.split_whitespace() {
        if word.eq_ignore_ascii_case("and") {
            parts.push(std::mem::take(&mut cur));
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A parsed `$orderby`. Without one, incidents come in storage order (by `name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    pub field: Option<Field>,
    pub descending: bool,
}

impl Order {
    pub fn parse(raw: Option<&str>) -> Result<Order, String> {
        let Some(raw) = raw else {
            return Ok(Order {
                field: None,
                descending: false,
            });
        };
        let words: Vec<&str> = raw.split_whitespace().collect();
        let (field, dir) = match words.as_slice() {
            [f] => (*f, "asc"),
            [f, d] => (*f, *d),
            _ => return Err(format!("cannot parse $orderby '{raw}'")),
        };
        let field = Field::parse(field).filter(|f| !matches!(f, Field::Severity | Field::Status));
        let field = field.ok_or_else(|| format!("cannot order by '{raw}'"))?;
        let descending = match dir.to_ascii_lowercase().as_str() {
            "asc" => false,
            "desc" => true,
            _ => return Err(format!("cannot parse $orderby '{raw}'")),
        };
        Ok(Order {
            field: Some(field),
            descending,
        })
    }

    /// The position of an incident in this order; ties break on `name`.
    pub fn key(&self, i: &Incident) -> (i128, String) {
        let k = match self.field {
            Some(Field::LastModified) => nanos(i.modified),
            Some(Field::Created) => nanos(i.created),
            Some(Field::Number) => i128::from(i.number),
            _ => 0,
        };
        (k, i.name.clone())
    }

    fn code(&self) -> String {
        let f = self.field.map_or('-', Field::code);
        format!("{f}{}", if self.descending { 'd' } else { 'a' })
    }

    /// An opaque continuation token: the last key served, in this order.
    pub fn token(&self, key: &(i128, String)) -> String {
        hex(&format!("v1|{}|{}|{}", self.code(), key.0, key.1))
    }

    pub fn parse_token(&self, token: &str) -> Result<(i128, String), String> {
        let bad = || "Invalid $skipToken value".to_owned();
        let text = unhex(token).ok_or_else(bad)?;
        let mut parts = text.splitn(4, '|');
        let (Some("v1"), Some(code), Some(k), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if code != self.code() {
            return Err("$skipToken does not belong to this $orderby".to_owned());
        }
        Ok((k.parse().map_err(|_| bad())?, name.to_owned()))
    }
}

/// The other common continuation style: how many matching items were already served. Cheap for a
/// server, and it shifts when an item moves in the order between two pages.
pub(crate) fn offset_token(served: usize) -> String {
    hex(&format!("o1|{served}"))
}

pub(crate) fn parse_offset_token(token: &str) -> Result<usize, String> {
    unhex(token)
        .as_deref()
        .and_then(|t| t.strip_prefix("o1|"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "Invalid $skipToken value".to_owned())
}

pub(crate) fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_filters_integrations_send() {
        let f = Filter::parse("properties/lastModifiedTimeUtc ge 2024-01-01T00:00:00Z").unwrap();
        assert_eq!(
            f.modified_floor(),
            Some("2024-01-01T00:00:00Z".parse().unwrap())
        );
        let g = Filter::parse(
            "properties/createdTimeUtc GE 2024-01-01T00:00:00.1234567Z and properties/incidentNumber gt 5 and properties/status eq 'New'",
        )
        .unwrap();
        assert_eq!(g.clauses.len(), 3);
        assert!(Filter::parse("properties/nope ge 1").is_err());
        assert!(Filter::parse("properties/lastModifiedTimeUtc ge yesterday").is_err());
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_order() {
        let o = Order::parse(Some("properties/lastModifiedTimeUtc asc")).unwrap();
        let t = o.token(&(42, "abc".into()));
        assert_eq!(o.parse_token(&t).unwrap(), (42, "abc".into()));
        let d = Order::parse(Some("properties/lastModifiedTimeUtc desc")).unwrap();
        assert!(d.parse_token(&t).is_err());
        assert!(o.parse_token("zz").is_err());
    }
}
