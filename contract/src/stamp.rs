//! The two stamps on an alert, as pure functions of (policy, alert, instant, recent count).

use serde::Serialize;

use crate::assignment::{Analyst, Model, Queue};
use crate::policy::Policy;
use crate::severity::Severity;
use crate::target::Clock;
use jiff::Timestamp;

/// Due times of one alert under one policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaStamp {
    pub policy_version: i64,
    pub tta_due: Option<Timestamp>,
    pub ttr_due: Option<Timestamp>,
    pub clock: Clock,
}

/// The SLA of an alert of `severity` created at `created`; `None` when the severity has no
/// target. A target whose due cannot be computed (ten years away, a calendar without openings)
/// leaves that field empty rather than failing the alert.
pub fn sla_for(policy: &Policy, severity: Severity, created: Timestamp) -> Option<SlaStamp> {
    let t = policy.targets.get(severity);
    if t.tta.is_none() && t.ttr.is_none() {
        return None;
    }
    let due =
        |target: Option<crate::Target>| target.and_then(|t| policy.calendar.add(created, &t).ok());
    let business = [t.tta, t.ttr]
        .iter()
        .flatten()
        .any(|t| t.clock() == Clock::Business);
    Some(SlaStamp {
        policy_version: policy.version,
        tta_due: due(t.tta),
        ttr_due: due(t.ttr),
        clock: if business {
            Clock::Business
        } else {
            Clock::Wall
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Dedicated,
    Pool,
    Primary,
    AfterHours,
    Peak,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingStamp {
    pub model: &'static str,
    pub assignees: Vec<Analyst>,
    pub queue: Option<Queue>,
    pub escalation_owner: Analyst,
    pub reason: Reason,
    pub policy_version: i64,
}

/// Who gets an alert stamped at `at` when the workspace saw `recent_last_hour` alerts in the
/// hour up to it (this one included). `None` without an assignment model.
pub fn route(policy: &Policy, at: Timestamp, recent_last_hour: u64) -> Option<RoutingStamp> {
    let a = policy.assignment.as_ref()?;
    let (assignees, queue, reason) = match &a.model {
        Model::Dedicated { analysts } => (analysts.clone(), None, Reason::Dedicated),
        Model::Pool { queue } => (Vec::new(), Some(queue.clone()), Reason::Pool),
        Model::Tiered {
            primary,
            secondary,
            after_hours,
            peak_over,
        } => {
            let reason = if *after_hours && !policy.calendar.is_open(at) {
                Reason::AfterHours
            } else if peak_over.is_some_and(|n| recent_last_hour > u64::from(n)) {
                Reason::Peak
            } else {
                Reason::Primary
            };
            let queue = (reason != Reason::Primary).then(|| secondary.clone());
            (vec![primary.clone()], queue, reason)
        }
    };
    Some(RoutingStamp {
        model: a.model.name(),
        assignees,
        queue,
        escalation_owner: a.escalation_owner.clone(),
        reason,
        policy_version: policy.version,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::assignment::Assignment;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The secondary joins exactly when a configured condition holds; the primary always stays.
        #[test]
        fn tiered_routing_is_exactly_its_conditions(
            secs in 1_577_836_800i64..1_956_528_000,
            recent in 0u64..200,
            after_hours: bool,
            peak in proptest::option::of(1u32..100),
        ) {
            prop_assume!(after_hours || peak.is_some());
            let p = policy(Model::Tiered {
                primary: "alice".parse().unwrap(),
                secondary: "night".parse().unwrap(),
                after_hours,
                peak_over: peak,
            });
            let at = Timestamp::from_second(secs).unwrap();
            let r = route(&p, at, recent).unwrap();
            let closed = after_hours && !p.calendar.is_open(at);
            let busy = peak.is_some_and(|n| recent > u64::from(n));
            prop_assert_eq!(r.queue.is_some(), closed || busy);
            prop_assert_eq!(r.assignees, vec!["alice".parse::<Analyst>().unwrap()]);
            let expected = if closed { Reason::AfterHours } else if busy { Reason::Peak } else { Reason::Primary };
            prop_assert_eq!(r.reason, expected);
        }
    }

    fn utc(s: &str) -> Timestamp {
        format!("{s}:00Z").parse().unwrap()
    }

    fn policy(model: Model) -> Policy {
        Policy {
            version: 7,
            assignment: Some(Assignment::new(model, "lead".parse().unwrap()).unwrap()),
            ..Policy::default()
        }
    }

    #[test]
    fn sla_for_uses_the_severitys_targets() {
        let p = Policy::default();
        let created = utc("2026-12-04T16:00"); // Friday
        let s = sla_for(&p, Severity::Critical, created).unwrap();
        assert_eq!(s.tta_due, Some(utc("2026-12-04T16:15")));
        assert_eq!(s.ttr_due, Some(utc("2026-12-04T20:00")));
        assert_eq!(s.clock, Clock::Wall);
        let low = sla_for(&p, Severity::Low, created).unwrap();
        assert_eq!(low.clock, Clock::Business);
        assert_eq!(low.ttr_due, Some(utc("2026-12-11T16:00")));
        assert_eq!(sla_for(&p, Severity::Informational, created), None);
    }

    #[test]
    fn tiered_brings_the_secondary_in_only_after_hours_or_at_peak() {
        let p = policy(Model::Tiered {
            primary: "alice".parse().unwrap(),
            secondary: "night".parse().unwrap(),
            after_hours: true,
            peak_over: Some(10),
        });
        let open = utc("2026-12-03T10:00"); // Thursday, office hours (UTC)
        let closed = utc("2026-12-03T22:00");
        let r = route(&p, open, 10).unwrap();
        assert_eq!((r.reason, r.queue.is_none()), (Reason::Primary, true));
        let r = route(&p, open, 11).unwrap();
        assert_eq!(r.reason, Reason::Peak);
        assert_eq!(r.queue.unwrap().to_string(), "night");
        let r = route(&p, closed, 0).unwrap();
        assert_eq!(r.reason, Reason::AfterHours);
        assert_eq!(r.assignees, vec!["alice".parse::<Analyst>().unwrap()]);
        assert_eq!(r.policy_version, 7);
    }

    #[test]
    fn dedicated_and_pool() {
        let two = vec!["aa".parse().unwrap(), "bb@x.example".parse().unwrap()];
        let r = route(
            &policy(Model::Dedicated {
                analysts: two.clone(),
            }),
            utc("2026-12-03T22:00"),
            99,
        )
        .unwrap();
        assert_eq!(
            (r.assignees, r.reason, r.queue),
            (two, Reason::Dedicated, None)
        );
        let r = route(
            &policy(Model::Pool {
                queue: "soc".parse().unwrap(),
            }),
            utc("2026-12-03T10:00"),
            0,
        )
        .unwrap();
        assert!(r.assignees.is_empty());
        assert_eq!(r.reason, Reason::Pool);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["model"], "pool");
        assert_eq!(j["queue"], "soc");
        assert_eq!(route(&Policy::default(), utc("2026-12-03T10:00"), 0), None);
    }
}
