//! Issue 14: a record that cannot be mapped never stops an integration: the rest of its alerts
//! arrive, the record is kept verbatim as a dead letter with our own reason, counted in the pull
//! summary and audited once per pull, and the cursor moves past it.

mod common;

use common::vendors::*;
use common::{Env, code, stderr};
use seliq_mocks::crowdstrike::{CID_A, Defect, FalconMock, FalconMockConfig, PARENT_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmappable_falcon_alerts_become_dead_letters_and_the_rest_arrive_once() {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 300,
        ..Default::default()
    })
    .await;
    let ids: Vec<String> = falcon
        .versions(CID_A)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let broken = [ids[10].clone(), ids[150].clone()];
    falcon.break_alerts(CID_A, &broken[..1], Defect::NoCompositeId);
    falcon.break_alerts(CID_A, &broken[1..], Defect::NoUpdatedTimestamp);

    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out = add_falcon(&env, &falcon, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let file = env.dir.path().join("alerts.ndjson");
    let file_s = file.to_str().unwrap();

    let pull = gw(&env, &["pull", "acme-corp", "--output", file_s], &[]).await;
    assert_eq!(code(&pull), 0, "{}", stderr(&pull));
    assert!(
        stderr(&pull).contains("dead-lettered 2 record(s)"),
        "{}",
        stderr(&pull)
    );
    let (_, event_ids) = read_lines(&file);
    assert_unique(&event_ids);
    assert_eq!(event_ids.len(), ids.len() - broken.len());

    let letters = env.ok(&["integration", "dead-letters", "acme-corp", "falcon"]);
    let letters: Vec<serde_json::Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    for l in &letters {
        assert!(l["raw"].is_object(), "the vendor's record, verbatim: {l}");
        assert!(!l["reason"].as_str().unwrap().is_empty());
    }

    // A second pull neither repeats the good alerts nor dead-letters the bad ones again.
    let again = gw(&env, &["pull", "acme-corp", "--output", file_s], &[]).await;
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let (_, event_ids) = read_lines(&file);
    assert_eq!(event_ids.len(), ids.len() - broken.len());
    let letters = env.ok(&["integration", "dead-letters", "acme-corp", "falcon"]);
    assert_eq!(letters.lines().count(), 2);

    // Audited once per pull, in the pull's own entry.
    let audit = env.ok(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "json",
        "--output",
        "-",
    ]);
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let pulls: Vec<&serde_json::Value> = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "pull.completed")
        .collect();
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[0]["details"]["dead_lettered"], 2, "{}", pulls[0]);
    assert_eq!(pulls[1]["details"]["dead_lettered"], 0, "{}", pulls[1]);
}
