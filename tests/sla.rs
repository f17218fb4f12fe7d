//! SLA due times, routing and attainment on the real binary against the mock vendors (issue 19).

mod common;

use chrono::{DateTime, Duration, Utc};
use common::vendors::*;
use common::{Env, code, stderr, stdout};
use seliq_mocks::crowdstrike::{CID_A, CID_B, FalconMock, FalconMockConfig, PARENT_SECRET};

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

async fn falcon(alerts: usize) -> FalconMock {
    FalconMock::start(FalconMockConfig {
        alerts_per_cid: alerts,
        ..Default::default()
    })
    .await
}

async fn pull(env: &Env, ws: &str) -> Vec<serde_json::Value> {
    let out = gw(env, &["pull", ws], &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_moves_one_workspaces_due_times_and_the_other_follows_the_template() {
    let f = falcon(300).await;
    let env = Env::new();
    for (ws, cid) in [("acme-corp", CID_A), ("globex-prod", CID_B)] {
        env.ok(&["workspace", "create", ws]);
        let added = add_falcon(&env, &f, ws, cid, PARENT_SECRET).await;
        assert_eq!(code(&added), 0, "{}", stderr(&added));
    }
    let set = env.ok(&[
        "sla",
        "set",
        "acme-corp",
        "--severity",
        "critical",
        "--tta",
        "10m",
    ]);
    assert!(set.contains("policy version 1"), "{set}");

    for (ws, critical_tta, version) in [
        ("acme-corp", Duration::minutes(10), 1),
        ("globex-prod", Duration::minutes(15), 0),
    ] {
        let lines = pull(&env, ws).await;
        assert!(!lines.is_empty());
        let mut seen_critical = false;
        for l in &lines {
            let created = time(&l["created_at"]);
            let (tta, ttr) = match l["severity"].as_str().unwrap() {
                "critical" => {
                    seen_critical = true;
                    (critical_tta, Duration::hours(4))
                }
                "high" => (Duration::hours(1), Duration::hours(8)),
                "medium" => (Duration::hours(4), Duration::hours(24)),
                "low" => {
                    // 5 business days on the default calendar: never on a weekend.
                    let ttr = time(&l["sla"]["ttr_due"]);
                    assert!(ttr > created + Duration::days(4), "{l}");
                    assert_eq!(l["sla"]["clock"], "business");
                    assert_eq!(time(&l["sla"]["tta_due"]), created + Duration::hours(24));
                    continue;
                }
                _ => {
                    assert!(l.get("sla").is_none(), "informational has no SLA: {l}");
                    continue;
                }
            };
            assert_eq!(l["sla"]["policy_version"], version, "{l}");
            assert_eq!(l["sla"]["clock"], "wall");
            assert_eq!(time(&l["sla"]["tta_due"]), created + tta, "{ws}: {l}");
            assert_eq!(time(&l["sla"]["ttr_due"]), created + ttr, "{ws}: {l}");
            assert!(l.get("routing").is_none(), "no assignment set: {l}");
        }
        assert!(seen_critical, "the mock has critical alerts in {ws}");
    }

    // Every change is audited (old and new values) and the chain still verifies.
    let file = env.dir.path().join("audit.json");
    env.ok(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    let export = std::fs::read_to_string(&file).unwrap();
    assert!(export.contains("sla.policy_changed"), "{export}");
    assert!(export.contains("\"10m\""), "{export}");
    env.ok(&["audit", "verify", "acme-corp"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_terms_exit_2_naming_the_value_and_change_nothing() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let bad: &[&[&str]] = &[
        &[
            "sla",
            "set",
            "acme-corp",
            "--severity",
            "critical",
            "--tta",
            "0m",
        ],
        &[
            "sla",
            "set",
            "acme-corp",
            "--severity",
            "critical",
            "--tta=-5m",
        ],
        &[
            "sla",
            "set",
            "acme-corp",
            "--severity",
            "urgent",
            "--tta",
            "5m",
        ],
        &["sla", "set", "acme-corp", "--severity", "critical"],
        &["calendar", "set", "acme-corp", "--tz", "Mars/Olympus_Mons"],
        &[
            "calendar",
            "set",
            "acme-corp",
            "--hours",
            "mon-fri 09:00-12:00, tue 11:00-13:00",
        ],
        &["calendar", "set", "acme-corp", "--hours", "mon 17:00-09:00"],
        &["calendar", "set", "acme-corp", "--holiday", "tomorrow"],
        &[
            "assignment",
            "set",
            "acme-corp",
            "--model",
            "dedicated",
            "--analyst",
            "a@x.example",
            "--analyst",
            "b@x.example",
            "--analyst",
            "c@x.example",
            "--escalation-owner",
            "lead",
        ],
        &[
            "assignment",
            "set",
            "acme-corp",
            "--model",
            "tiered",
            "--secondary",
            "night",
            "--after-hours",
            "--escalation-owner",
            "lead",
        ],
        &[
            "assignment",
            "set",
            "acme-corp",
            "--model",
            "pool",
            "--queue",
            "soc",
            "--escalation-owner",
            "not an analyst!",
        ],
    ];
    for args in bad {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    }
    let rows: i64 = env
        .db()
        .query_row("SELECT count(*) FROM sla_policies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "a refused change writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_follows_the_model_and_updates_keep_their_due_times() {
    let f = falcon(40).await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let added = add_falcon(&env, &f, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&added), 0, "{}", stderr(&added));
    // Open around the clock, so only the peak threshold can bring the secondary in.
    env.ok(&["calendar", "set", "acme-corp", "--hours", "24/7"]);
    env.ok(&[
        "assignment",
        "set",
        "acme-corp",
        "--model",
        "tiered",
        "--primary",
        "alice@mssp.example",
        "--secondary",
        "night-pool",
        "--after-hours",
        "--peak-over",
        "25",
        "--escalation-owner",
        "soc-lead",
    ]);
    let first = pull(&env, "acme-corp").await;
    assert_eq!(first.len(), f.versions(CID_A).len());
    for (i, l) in first.iter().enumerate() {
        let r = &l["routing"];
        assert_eq!(r["model"], "tiered");
        assert_eq!(r["assignees"], serde_json::json!(["alice@mssp.example"]));
        assert_eq!(r["escalation_owner"], "soc-lead");
        // The i-th new alert of the hour makes i+1.
        if i < 25 {
            assert_eq!(r["reason"], "primary", "{i}: {l}");
            assert!(r["queue"].is_null(), "{l}");
        } else {
            assert_eq!(r["reason"], "peak", "{i}: {l}");
            assert_eq!(r["queue"], "night-pool");
        }
    }

    // Status changes (new -> in_progress -> closed) keep the due times of the first version.
    let updated = f.update_alerts(CID_A, 5);
    let second = pull(&env, "acme-corp").await;
    assert_eq!(second.len(), updated.len());
    for l in &second {
        let before = first.iter().find(|p| p["id"] == l["id"]).unwrap();
        assert_eq!(
            l["sla"], before["sla"],
            "an unchanged severity keeps its dues"
        );
        assert_ne!(l["event_id"], before["event_id"]);
    }

    // The ledger saw them acknowledged (status left new) at the vendor's change time.
    let db = env.db();
    let acknowledged: i64 = db
        .query_row(
            "SELECT count(*) FROM alert_ledger WHERE acknowledged_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let not_new_at_first = first
        .iter()
        .filter(|l| l["status"] != "new" && l["status"] != "reopened")
        .count() as i64;
    assert!(
        acknowledged >= not_new_at_first,
        "{acknowledged} < {not_new_at_first}"
    );
    let total: i64 = db
        .query_row("SELECT count(*) FROM alert_ledger", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total as usize, first.len());

    // Attainment from the mock's own times: an alert is acknowledged at the `updated_at` of the
    // first version seen out of new/reopened, within target when that is by its `tta_due`.
    let mut expected: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for l in first.iter().chain(second.iter()) {
        let id = l["id"].as_str().unwrap().to_owned();
        let sev = l["severity"].as_str().unwrap().to_owned();
        let e = expected.entry(sev).or_default();
        if seen.insert(("alert", id.clone())) {
            e.0 += 1;
        }
        let acked = l["status"] != "new" && l["status"] != "reopened";
        if acked && l["sla"]["tta_due"].is_string() && seen.insert(("ack", id)) {
            if time(&l["updated_at"]).max(time(&l["created_at"])) <= time(&l["sla"]["tta_due"]) {
                e.1 += 1;
            } else {
                e.2 += 1;
            }
        }
    }
    let json = env.ok(&[
        "sla",
        "report",
        "acme-corp",
        "--since",
        "3650d",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["schema"], "seliq.sla-report/v1");
    for row in report["rows"].as_array().unwrap() {
        let (alerts, within, late) = expected[row["severity"].as_str().unwrap()];
        assert_eq!(row["alerts"], alerts, "{row}");
        if row["severity"] == "informational" {
            continue;
        }
        assert_eq!(row["acknowledge"]["within"], within, "{row}");
        // Late acknowledgements are breaches; so are alerts still unacknowledged past due.
        let breaches = row["acknowledge"]["breached"].as_array().unwrap().len() as u64;
        assert!(breaches >= late, "{row}");
    }
    let html = env.dir.path().join("acme.html");
    env.ok(&[
        "sla",
        "report",
        "acme-corp",
        "--since",
        "3650d",
        "--format",
        "html",
        "--output",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
    for external in ["http://", "https://", "<script", "src=", "href="] {
        assert!(!page.contains(external), "self-contained: {external}");
    }
    let file = env.dir.path().join("audit.json");
    env.ok(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    let export = std::fs::read_to_string(&file).unwrap();
    for action in ["calendar.changed", "assignment.changed", "report.generated"] {
        assert!(export.contains(action), "{action} audited");
    }
    env.ok(&["audit", "verify", "acme-corp"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severity_escalation_recomputes_the_due_times() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let first = pull(&env, "acme-corp").await;
    let escalated = v.sentinel.escalate(4);
    assert!(!escalated.is_empty());
    let second = pull(&env, "acme-corp").await;
    let mut checked = 0;
    for l in second.iter().filter(|l| l["vendor"] == "sentinel") {
        let Some(before) = first
            .iter()
            .rfind(|p| p["vendor"] == "sentinel" && p["id"] == l["id"])
        else {
            continue;
        };
        if before["severity"] == l["severity"] {
            assert_eq!(l["sla"], before["sla"], "{l}");
            continue;
        }
        checked += 1;
        let created = time(&l["created_at"]);
        let expected = match l["severity"].as_str().unwrap() {
            "critical" => Duration::minutes(15),
            "high" => Duration::hours(1),
            "medium" => Duration::hours(4),
            "low" => Duration::hours(24),
            other => panic!("escalated to {other}"),
        };
        assert_eq!(time(&l["sla"]["tta_due"]), created + expected, "{l}");
        assert_ne!(l["sla"], before["sla"], "{l}");
    }
    assert!(checked > 0, "no escalated incident was seen again");
}
