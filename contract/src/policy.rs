//! Targets per severity: the baseline template, a workspace's overrides, the effective policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assignment::Assignment;
use crate::calendar::Calendar;
use crate::severity::Severity;
use crate::target::Target;

/// Time to acknowledge and time to resolve; `None`: no target for that field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tta: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttr: Option<Target>,
}

impl Targets {
    fn is_empty(&self) -> bool {
        self.tta.is_none() && self.ttr.is_none()
    }
}

/// One `Targets` per severity; serialised as `{"critical":{"tta":"15m","ttr":"4h"},…}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "BTreeMap<Severity, Targets>",
    into = "BTreeMap<Severity, Targets>"
)]
struct Table([Targets; 5]);

impl From<BTreeMap<Severity, Targets>> for Table {
    fn from(m: BTreeMap<Severity, Targets>) -> Table {
        let mut t = Table::default();
        for (s, v) in m {
            t.0[s.index()] = v;
        }
        t
    }
}

impl From<Table> for BTreeMap<Severity, Targets> {
    fn from(t: Table) -> BTreeMap<Severity, Targets> {
        Severity::ALL
            .into_iter()
            .map(|s| (s, t.0[s.index()]))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

impl Table {
    fn set(&mut self, s: Severity, tta: Option<Target>, ttr: Option<Target>) {
        let t = &mut self.0[s.index()];
        if tta.is_some() {
            t.tta = tta;
        }
        if ttr.is_some() {
            t.ttr = ttr;
        }
    }
}

/// The gateway-wide template every workspace inherits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Template(Table);

impl Default for Template {
    fn default() -> Template {
        Template::baseline()
    }
}

impl Template {
    /// critical 15m/4h, high 1h/8h, medium 4h/24h, low 24h/5bd, informational none.
    pub fn baseline() -> Template {
        use std::time::Duration;
        let wall = |s: u64| Some(Target::Wall(Duration::from_secs(s)));
        let mut t = Table::default();
        t.set(Severity::Critical, wall(15 * 60), wall(4 * 3600));
        t.set(Severity::High, wall(3600), wall(8 * 3600));
        t.set(Severity::Medium, wall(4 * 3600), wall(24 * 3600));
        t.set(
            Severity::Low,
            wall(24 * 3600),
            Some(Target::BusinessDays(5)),
        );
        Template(t)
    }

    pub fn get(&self, s: Severity) -> Targets {
        self.0.0[s.index()]
    }

    /// Set the given fields of one severity; a `None` leaves that field as it is.
    pub fn set(&mut self, s: Severity, tta: Option<Target>, ttr: Option<Target>) {
        self.0.set(s, tta, ttr);
    }

    pub fn iter(&self) -> impl Iterator<Item = (Severity, Targets)> + '_ {
        Severity::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

/// A workspace's own targets, per severity and field; a field not overridden inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Overrides(Table);

impl Overrides {
    pub fn set(&mut self, s: Severity, tta: Option<Target>, ttr: Option<Target>) {
        self.0.set(s, tta, ttr);
    }

    pub fn get(&self, s: Severity) -> Targets {
        self.0.0[s.index()]
    }

    /// Drop every override of one severity.
    pub fn clear(&mut self, s: Severity) {
        self.0.0[s.index()] = Targets::default();
    }

    pub fn is_empty(&self) -> bool {
        self.0.0.iter().all(Targets::is_empty)
    }

    /// The template with these overrides on top, field by field.
    pub fn effective(&self, template: &Template) -> Template {
        let mut out = template.clone();
        for s in Severity::ALL {
            let o = self.get(s);
            out.set(s, o.tta, o.ttr);
        }
        out
    }
}

/// Everything that stamps one workspace's alerts, at one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub version: i64,
    /// The effective targets (template plus overrides).
    pub targets: Template,
    pub calendar: Calendar,
    pub assignment: Option<Assignment>,
}

impl Policy {
    /// Whether routing reads the workspace's recent alert count (a tiered model with a peak
    /// threshold): callers can skip counting otherwise.
    pub fn counts_recent_alerts(&self) -> bool {
        matches!(
            self.assignment.as_ref().map(|a| &a.model),
            Some(crate::assignment::Model::Tiered {
                peak_over: Some(_),
                ..
            })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<Target> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_baseline_is_the_contract_table() {
        let b = Template::baseline();
        let show = |s| {
            let x = b.get(s);
            (x.tta.map(|t| t.to_string()), x.ttr.map(|t| t.to_string()))
        };
        let some = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
        assert_eq!(show(Severity::Critical), some("15m", "4h"));
        assert_eq!(show(Severity::High), some("1h", "8h"));
        assert_eq!(show(Severity::Medium), some("4h", "1d"));
        assert_eq!(show(Severity::Low), some("1d", "5bd"));
        assert_eq!(show(Severity::Informational), (None, None));
    }

    #[test]
    fn overrides_inherit_the_fields_they_do_not_set() {
        let mut o = Overrides::default();
        assert!(o.is_empty());
        o.set(Severity::Critical, t("10m"), None);
        let e = o.effective(&Template::baseline());
        assert_eq!(
            e.get(Severity::Critical),
            Targets {
                tta: t("10m"),
                ttr: t("4h")
            }
        );
        assert_eq!(
            e.get(Severity::High),
            Template::baseline().get(Severity::High)
        );
        let j = serde_json::to_string(&o).unwrap();
        assert_eq!(j, r#"{"critical":{"tta":"10m"}}"#);
        assert_eq!(serde_json::from_str::<Overrides>(&j).unwrap(), o);
        o.clear(Severity::Critical);
        assert!(o.is_empty());
        let tpl = serde_json::to_string(&Template::baseline()).unwrap();
        assert_eq!(
            serde_json::from_str::<Template>(&tpl).unwrap(),
            Template::baseline()
        );
        assert!(serde_json::from_str::<Template>(r#"{"critical":{"tta":"0m"}}"#).is_err());
    }
}
