//! The pull engine end to end: the real binary against all three mock vendors.

mod common;

use std::collections::HashSet;

use common::vendors::*;
use common::{Env, code, stderr, stdout};
use seliq_mocks::crowdstrike::{CID_A, CID_B, PARENT_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_everything_once_then_nothing_then_exactly_the_updates() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let out = env.dir.path().join("alerts.ndjson");
    let out_s = out.to_str().unwrap();

    let first = gw(&env, &["pull", "acme-corp", "--output", out_s], &[]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let (lines, ids) = read_lines(&out);
    assert_unique(&ids);
    let counts = per_integration(&lines);
    assert_eq!(counts["falcon"], v.falcon.versions(CID_A).len());
    assert_eq!(counts["sentinel"], v.sentinel.versions().len());
    assert_eq!(
        counts["splunk"],
        v.splunk.events(&["acme_prod"], None).len()
    );
    // Schema and scope: every line carries the envelope, no other CID leaks in.
    for l in &lines {
        assert_eq!(l["schema"], "seliq.alert/v1");
        assert_eq!(l["workspace"], "acme-corp");
        if l["vendor"] == "crowdstrike" {
            assert_eq!(l["raw"]["cid"], CID_A);
        }
    }
    assert!(
        stderr(&first).contains("falcon"),
        "summary on stderr: {}",
        stderr(&first)
    );

    let second = gw(&env, &["pull", "acme-corp"], &[]).await;
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(
        stdout(&second).lines().count(),
        0,
        "second pull emitted {}",
        stdout(&second)
    );

    let updated = v.falcon.update_alerts(CID_A, 7);
    let escalated = v.sentinel.escalate(4);
    let third = gw(&env, &["pull", "acme-corp"], &[]).await;
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    let emitted: Vec<serde_json::Value> = stdout(&third)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut got: Vec<String> = emitted
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = updated.into_iter().chain(escalated).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the third pull emits exactly the updated alerts");
    for l in &emitted {
        assert!(
            !ids.contains(&l["event_id"].as_str().unwrap().to_owned()),
            "an update is a new version"
        );
    }
}

async fn crash_then_recover(fault: &str) {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let out = env.dir.path().join("alerts.ndjson");
    let out_s = out.to_str().unwrap();
    let crashed = gw(
        &env,
        &["pull", "acme-corp", "--output", out_s],
        &[("SELIQ_FAULT", fault)],
    )
    .await;
    assert!(
        !crashed.status.success(),
        "the injected crash must kill the pull"
    );
    let recovered = gw(&env, &["pull", "acme-corp", "--output", out_s], &[]).await;
    assert_eq!(code(&recovered), 0, "{}", stderr(&recovered));
    let (lines, ids) = read_lines(&out);
    assert_unique(&ids);
    let counts = per_integration(&lines);
    assert_eq!(
        counts["falcon"],
        v.falcon.versions(CID_A).len(),
        "nothing lost"
    );
    assert_eq!(counts["sentinel"], v.sentinel.versions().len());
    assert_eq!(
        counts["splunk"],
        v.splunk.events(&["acme_prod"], None).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_crash_between_write_and_commit_without_duplicates() {
    crash_then_recover("after-write:2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncates_a_half_written_batch_after_a_crash() {
    crash_then_recover("partial-write:2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_at_most_one_batch_with_the_same_event_ids_on_stdout() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let crashed = gw(
        &env,
        &["pull", "acme-corp", "--integration", "falcon"],
        &[("SELIQ_FAULT", "after-write:2")],
    )
    .await;
    assert!(!crashed.status.success());
    let before: Vec<String> = stdout(&crashed).lines().map(|l| l.to_owned()).collect();
    let after = gw(&env, &["pull", "acme-corp", "--integration", "falcon"], &[]).await;
    assert_eq!(code(&after), 0, "{}", stderr(&after));
    let ids = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let first_ids = ids(&before);
    let second: Vec<String> = stdout(&after).lines().map(|l| l.to_owned()).collect();
    let second_ids = ids(&second);
    let repeated: Vec<&String> = second_ids
        .iter()
        .filter(|i| first_ids.contains(i))
        .collect();
    assert!(
        !repeated.is_empty() && repeated.len() <= 2000,
        "at most one batch repeats ({})",
        repeated.len()
    );
    let all: HashSet<&String> = first_ids.iter().chain(&second_ids).collect();
    assert_eq!(all.len(), v.falcon.versions(CID_A).len(), "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolates_a_failing_integration_and_exits_6() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    // Sentinel now rejects every token request: its credential is dead, the others are fine.
    v.sentinel.reject_next_tokens(100);
    let out = gw(&env, &["pull", "acme-corp"], &[]).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let counts = per_integration(&lines);
    assert_eq!(counts.get("sentinel"), None);
    assert_eq!(counts["falcon"], v.falcon.versions(CID_A).len());
    assert!(
        stderr(&out).contains("sentinel") && stderr(&out).contains("FAILED"),
        "{}",
        stderr(&out)
    );
    // The others were checkpointed: a second pull emits nothing of theirs.
    v.sentinel.reject_next_tokens(0);
    let again = gw(&env, &["pull", "acme-corp", "--integration", "falcon"], &[]).await;
    assert_eq!(stdout(&again).lines().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_5_when_the_only_integration_is_rejected() {
    let v = vendors().await;
    let env = Env::new();
    env.ok(&["workspace", "create", "globex-prod"]);
    let add = add_falcon(&env, &v.falcon, "globex-prod", CID_B, "wrong-secret").await;
    assert_eq!(
        code(&add),
        5,
        "a rejected credential is not stored: {}",
        stderr(&add)
    );
    let n: i64 = env
        .db()
        .query_row("SELECT count(*) FROM integrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_cleanly_at_max_with_the_checkpoint_at_what_was_written() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let first = gw(
        &env,
        &[
            "pull",
            "acme-corp",
            "--integration",
            "falcon",
            "--max",
            "1500",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_eq!(stdout(&first).lines().count(), 1500);
    let rest = gw(&env, &["pull", "acme-corp", "--integration", "falcon"], &[]).await;
    assert_eq!(
        stdout(&rest).lines().count(),
        v.falcon.versions(CID_A).len() - 1500
    );
}

#[test]
fn refuses_bad_input_before_calling_any_vendor() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    assert_eq!(code(&env.run(&["pull", "nope-corp"])), 4);
    assert_eq!(
        code(&env.run(&["pull", "acme-corp", "--integration", "ghost"])),
        4
    );
    let since = env.run(&["pull", "acme-corp", "--since", "yesterday"]);
    assert_eq!(code(&since), 2);
    assert!(
        stderr(&since).contains("\"yesterday\""),
        "{}",
        stderr(&since)
    );
    let unwritable = env.run(&[
        "pull",
        "acme-corp",
        "--output",
        "/proc/definitely/not/here.ndjson",
    ]);
    assert_eq!(code(&unwritable), 1, "{}", stderr(&unwritable));
    assert!(stderr(&unwritable).contains("/proc/definitely/not/here.ndjson"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_mssp_children_apart_under_one_parent_client() {
    let v = vendors().await;
    let env = Env::new();
    for (ws, cid) in [("acme-corp", CID_A), ("globex-prod", CID_B)] {
        env.ok(&["workspace", "create", ws]);
        let add = add_falcon(&env, &v.falcon, ws, cid, PARENT_SECRET).await;
        assert_eq!(code(&add), 0, "{}", stderr(&add));
    }
    for (ws, cid) in [("acme-corp", CID_A), ("globex-prod", CID_B)] {
        let out = gw(&env, &["pull", ws], &[]).await;
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), v.falcon.versions(cid).len());
        assert!(
            lines.iter().all(|l| l["raw"]["cid"] == cid),
            "{ws} sees only its own CID"
        );
    }
    env.ok(&["workspace", "create", "initech-ent"]);
    let third = add_falcon(
        &env,
        &v.falcon,
        "initech-ent",
        seliq_mocks::crowdstrike::CID_A_CCID,
        PARENT_SECRET,
    )
    .await;
    assert_eq!(code(&third), 3, "{}", stderr(&third));
}
