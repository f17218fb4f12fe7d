//! Workspace slugs (README.md, "Rules worth knowing") and integration names, which follow the same rules.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a valid slug. The message names the value and the rule it breaks.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{what} {value:?} is invalid: {rule}")]
pub struct SlugError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A validated slug: 3–63 lowercase ASCII letters, digits and single hyphens, starting with a
/// letter and not ending with a hyphen. Cannot hold an invalid value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, SlugError> {
        validate("workspace slug", raw).map(|()| Slug(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An integration name: the slug rules, unique within its workspace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntegrationName(String);

impl IntegrationName {
    pub fn parse(raw: &str) -> Result<IntegrationName, SlugError> {
        validate("integration name", raw).map(|()| IntegrationName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(what: &'static str, raw: &str) -> Result<(), SlugError> {
    let fail = |rule| {
        Err(SlugError {
            what,
            value: raw.to_owned(),
            rule,
        })
    };
    if raw.is_empty() {
        return fail("it is empty; use 3 to 63 lowercase letters, digits and hyphens");
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return match c {
            'A'..='Z' => fail("only lowercase letters are allowed"),
            ' ' => fail("spaces are not allowed; use single hyphens"),
            '_' => fail("underscores are not allowed; use single hyphens"),
            _ if !c.is_ascii() => fail("only ASCII letters a-z, digits and hyphens are allowed"),
            _ => fail("only lowercase letters, digits and single hyphens are allowed"),
        };
    }
    if raw.len() < 3 {
        return fail("it must be at least 3 characters long");
    }
    if raw.len() > 63 {
        return fail("it must be at most 63 characters long");
    }
    if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
        return fail("it must start with a letter");
    }
    if raw.ends_with('-') {
        return fail("it must not end with a hyphen");
    }
    if raw.contains("--") {
        return fail("hyphens must be single (no \"--\")");
    }
    Ok(())
}

// `pad`, not `write_str`: tables align slugs with `{:<18}`.
impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

// Debug shows the bare quoted value: these types end up in error messages, where
// `Slug("ws-01")` is noise.
impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Debug for IntegrationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for IntegrationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl TryFrom<String> for IntegrationName {
    type Error = SlugError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IntegrationName::parse(&s)
    }
}

impl From<IntegrationName> for String {
    fn from(s: IntegrationName) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_design_examples() {
        for ok in [
            "acme-corp",
            "acme-corp-prod",
            "acme-2024-ent",
            "abc",
            &"a".repeat(63),
        ] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_each_rule_with_the_value_named() {
        let long = "a".repeat(64);
        for bad in [
            "Acme",
            "ac",
            "-acme",
            "acme-",
            "acme--corp",
            "acme_corp",
            "acme corp",
            "acmé",
            &long,
            "",
            "1acme",
        ] {
            let err = Slug::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Slug>("\"Acme\"").is_err());
        assert_eq!(
            serde_json::from_str::<Slug>("\"acme\"").unwrap().as_str(),
            "acme"
        );
    }
}
