//! Who works a client's alerts: dedicated analysts, a pool, or a tiered model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{SlaError, invalid, quote};

/// An analyst: an email address or a handle. Validated so a typo cannot route alerts nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Analyst(String);

fn is_handle(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.contains('.')
        && domain.split('.').all(label_ok)
}

impl FromStr for Analyst {
    type Err = SlaError;
    fn from_str(s: &str) -> Result<Analyst, SlaError> {
        if is_email(s) || is_handle(s) {
            Ok(Analyst(s.to_owned()))
        } else {
            Err(invalid(format!(
                "{} is not an analyst id (an email, or a handle of lowercase letters, digits, '.', '_' and '-')",
                quote(s)
            )))
        }
    }
}

/// A shared queue's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Queue(String);

impl FromStr for Queue {
    type Err = SlaError;
    fn from_str(s: &str) -> Result<Queue, SlaError> {
        let b = s.as_bytes();
        let ok = (1..=64).contains(&b.len())
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c));
        if ok {
            Ok(Queue(s.to_owned()))
        } else {
            Err(invalid(format!(
                "{} is not a queue name (lowercase letters, digits, '.', '_' and '-')",
                quote(s)
            )))
        }
    }
}

macro_rules! string_type {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = SlaError;
            fn try_from(s: String) -> Result<$t, SlaError> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}
string_type!(Analyst);
string_type!(Queue);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum Model {
    /// One or two named analysts own the client.
    Dedicated { analysts: Vec<Analyst> },
    /// The client's alerts go to a shared queue.
    Pool { queue: Queue },
    /// A primary analyst owns the client; the secondary queue joins after hours and/or at peak.
    Tiered {
        primary: Analyst,
        secondary: Queue,
        #[serde(default)]
        after_hours: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peak_over: Option<u32>,
    },
}

impl Model {
    pub fn name(&self) -> &'static str {
        match self {
            Model::Dedicated { .. } => "dedicated",
            Model::Pool { .. } => "pool",
            Model::Tiered { .. } => "tiered",
        }
    }

    pub fn validate(&self) -> Result<(), SlaError> {
        match self {
            Model::Dedicated { analysts } => {
                if analysts.is_empty() || analysts.len() > 2 {
                    return Err(invalid(format!(
                        "the dedicated model takes one or two analysts, not {}",
                        analysts.len()
                    )));
                }
                if analysts.len() == 2 && analysts[0] == analysts[1] {
                    return Err(invalid(format!(
                        "analyst {} is named twice in the dedicated model",
                        analysts[0]
                    )));
                }
            }
            Model::Pool { .. } => {}
            Model::Tiered {
                after_hours,
                peak_over,
                ..
            } => {
                if *peak_over == Some(0) {
                    return Err(invalid(
                        "the tiered model's peak threshold must be at least 1 alert per hour",
                    ));
                }
                if !after_hours && peak_over.is_none() {
                    return Err(invalid(
                        "the tiered model needs a condition for the secondary to join: after hours, a peak threshold, or both",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A workspace's model and its escalation owner (required once a model is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AssignmentRepr", into = "AssignmentRepr")]
pub struct Assignment {
    pub model: Model,
    pub escalation_owner: Analyst,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentRepr {
    model: Model,
    escalation_owner: Analyst,
}

impl Assignment {
    pub fn new(model: Model, escalation_owner: Analyst) -> Result<Assignment, SlaError> {
        model.validate()?;
        Ok(Assignment {
            model,
            escalation_owner,
        })
    }
}

impl TryFrom<AssignmentRepr> for Assignment {
    type Error = SlaError;
    fn try_from(r: AssignmentRepr) -> Result<Assignment, SlaError> {
        Assignment::new(r.model, r.escalation_owner)
    }
}

impl From<Assignment> for AssignmentRepr {
    fn from(a: Assignment) -> AssignmentRepr {
        AssignmentRepr {
            model: a.model,
            escalation_owner: a.escalation_owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn a(s: &str) -> Analyst {
        s.parse().unwrap()
    }

    #[test]
    fn analysts_are_emails_or_handles() {
        for ok in ["alice@mssp.example", "bob", "soc-lead_2", "x.y+z@a.b.co"] {
            assert!(ok.parse::<Analyst>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "Alice",
            "not an analyst!",
            "a@b",
            "@x.example",
            "a@-x.example",
            "a..b@x.example",
        ] {
            assert!(bad.parse::<Analyst>().is_err(), "{bad}");
        }
        assert!("night-pool".parse::<Queue>().is_ok());
        assert!("Night Pool".parse::<Queue>().is_err());
    }

    #[test]
    fn models_are_validated() {
        let owner = a("lead");
        let three = Model::Dedicated {
            analysts: vec![a("aa"), a("bb"), a("cc")],
        };
        assert!(Assignment::new(three, owner.clone()).is_err());
        let twice = Model::Dedicated {
            analysts: vec![a("aa"), a("aa")],
        };
        assert!(Assignment::new(twice, owner.clone()).is_err());
        let never = Model::Tiered {
            primary: a("aa"),
            secondary: "q".parse().unwrap(),
            after_hours: false,
            peak_over: None,
        };
        assert!(Assignment::new(never, owner.clone()).is_err());
        let zero = Model::Tiered {
            primary: a("aa"),
            secondary: "q".parse().unwrap(),
            after_hours: true,
            peak_over: Some(0),
        };
        assert!(Assignment::new(zero, owner.clone()).is_err());
        let ok = Assignment::new(
            Model::Pool {
                queue: "soc".parse().unwrap(),
            },
            owner,
        )
        .unwrap();
        let j = serde_json::to_string(&ok).unwrap();
        assert_eq!(
            j,
            r#"{"model":{"model":"pool","queue":"soc"},"escalation_owner":"lead"}"#
        );
        assert_eq!(serde_json::from_str::<Assignment>(&j).unwrap(), ok);
        let bad = r#"{"model":{"model":"dedicated","analysts":[]},"escalation_owner":"lead"}"#;
        assert!(serde_json::from_str::<Assignment>(bad).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn parsers_never_panic(s in ".{0,80}") {
            let _ = s.parse::<Analyst>();
            let _ = s.parse::<Queue>();
            let _ = serde_json::from_str::<Assignment>(&s);
        }
    }
}
