//! `serve` end to end: the real binary against the mock vendors, real signals, real HTTP.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use common::serve::{Serve, free_port, wait_until};
use common::vendors::*;
use common::{Env, code, stderr};
use seliq_mocks::crowdstrike::{
    BLOCKED_CLIENT_ID, BLOCKED_SECRET, CID_A, CID_B, Endpoint, FalconMock, FalconMockConfig, Fault,
    PARENT_CID, PARENT_CLIENT_ID, PARENT_SECRET,
};

/// The workspace's spool files, oldest first.
fn spool_files(env: &Env, ws: &str) -> Vec<PathBuf> {
    let dir = env.data_dir().join("spool").join(ws);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Every line of every spool file of a workspace.
fn spool_lines(env: &Env, ws: &str) -> Vec<serde_json::Value> {
    common::ndjson_lines(&spool_files(env, ws))
}

/// The spool's complete lines while `serve` may be appending to it: a read can catch a write
/// half done, so each file is cut after its last newline. For wait conditions only; the
/// assertions after a stop read every byte with [`spool_lines`], where a torn line fails.
fn spool_lines_so_far(env: &Env, ws: &str) -> Vec<serde_json::Value> {
    spool_files(env, ws)
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
            complete
                .lines()
                .map(|l| serde_json::from_str(l).expect("a complete line parses"))
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

fn assert_once(lines: &[serde_json::Value]) {
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), lines.len(), "duplicate event_id in the spool");
}

fn count_by(lines: &[serde_json::Value], field: &str) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in lines {
        *m.entry(l[field].as_str().unwrap().to_owned()).or_default() += 1;
    }
    m
}

/// Committed offsets the store records equal the spool files' lengths.
fn assert_offsets_match_files(env: &Env) {
    let db = env.db();
    let mut stmt = db
        .prepare("SELECT path, committed_offset FROM sinks")
        .unwrap();
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    for (path, off) in rows {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len as i64, off, "{path}: file length vs committed offset");
    }
}

fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

async fn add(env: &Env, args: &[&str], secret: &str) -> std::process::Output {
    gw(env, args, &[("S", secret)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_polls_three_vendors_twice_and_emits_every_version_once() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    for name in ["falcon", "sentinel", "splunk"] {
        env.ok(&[
            "integration",
            "update",
            "acme-corp",
            name,
            "--poll-interval",
            "10s",
        ]);
    }
    let serve = Serve::start(&env, &[]);
    wait_until(Duration::from_secs(30), "the first polls", || {
        let s = serve.status();
        s.len() == 3 && s.iter().all(|i| i["last_poll"]["outcome"] == "ok")
    });
    let first_start = serve.integration("falcon")["last_poll"]["start"].clone();
    let metrics = serve.get("/metrics").unwrap().1;
    let lag_before = metric_value(&metrics, "seliq_lag_seconds", &[("integration", "falcon")])
        .expect("lag gauge");
    assert!(
        lag_before > 60.0,
        "the mock's data is hours old: {lag_before}"
    );

    // A policy change made by another process while serve runs stamps every alert first seen
    // from the next poll on (a poll start reuses its last reads only while no other connection
    // has committed).
    env.ok(&[
        "sla",
        "set",
        "acme-corp",
        "--severity",
        "critical",
        "--tta",
        "10m",
    ]);
    let lines_before_change = spool_lines_so_far(&env, "acme-corp").len();

    // Between the polls the vendors change: new versions must appear, once.
    let updated = v.falcon.update_alerts(CID_A, 25);
    assert_eq!(updated.len(), 25);
    v.splunk.add_events("acme_prod", 7);
    wait_until(Duration::from_secs(30), "the second polls", || {
        let s = serve.integration("falcon");
        s["last_poll"]["start"] != first_start && s["last_poll"]["outcome"] == "ok"
    });
    // The lag gauge is computed at the scrape from the time the commit recorded: no wait.
    wait_until(Duration::from_secs(30), "splunk's second poll", || {
        let lines = spool_lines_so_far(&env, "acme-corp");
        count_by(&lines, "integration").get("splunk")
            == Some(&v.splunk.events(&["acme_prod"], None).len())
    });
    let metrics = serve.get("/metrics").unwrap().1;
    let lag_after =
        metric_value(&metrics, "seliq_lag_seconds", &[("integration", "falcon")]).unwrap();
    assert!(
        lag_after < lag_before && lag_after < 60.0,
        "the lag follows the vendor's newest change: {lag_before} -> {lag_after}"
    );
    assert_eq!(
        metric_value(&metrics, "seliq_integrations", &[("state", "suspended")]),
        Some(0.0)
    );
    let polls = metric_value(
        &metrics,
        "seliq_polls_total",
        &[("integration", "falcon"), ("outcome", "ok")],
    )
    .unwrap();
    assert!(polls >= 2.0, "{polls}");
    let (ready, _) = serve.get("/readyz").unwrap();
    assert_eq!(ready, 200);

    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    let lines = spool_lines(&env, "acme-corp");
    assert_once(&lines);
    let counts = count_by(&lines, "integration");
    // Every alert once, plus the second version of each updated one.
    assert_eq!(
        counts["falcon"],
        v.falcon.versions(CID_A).len() + updated.len()
    );
    for id in &updated {
        let versions = lines.iter().filter(|l| l["id"] == id.as_str()).count();
        assert_eq!(versions, 2, "{id}");
    }
    assert_eq!(counts["sentinel"], v.sentinel.versions().len());
    assert_eq!(
        counts["splunk"],
        v.splunk.events(&["acme_prod"], None).len()
    );
    assert_offsets_match_files(&env);
    let version = |l: &serde_json::Value| l["sla"]["policy_version"].as_i64();
    let old_policy = lines[..lines_before_change]
        .iter()
        .filter_map(version)
        .max();
    let new_policy: Vec<i64> = lines[lines_before_change..]
        .iter()
        .filter(|l| l["integration"] == "splunk")
        .filter_map(version)
        .collect();
    assert!(!new_policy.is_empty(), "the new Splunk events carry an SLA");
    assert!(
        new_policy.iter().all(|&n| Some(n) > old_policy),
        "first seen after the change, stamped under it: {old_policy:?} -> {new_policy:?}"
    );
    // The store's view agrees with the HTTP one.
    let status = env.ok(&["status", "acme-corp", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["integrations"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_vendor_backs_off_a_rejected_credential_suspends_and_the_rest_keep_time() {
    let healthy = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 20,
        ..Default::default()
    })
    .await;
    let broken = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 20,
        ..Default::default()
    })
    .await;
    let env = Env::new();
    for ws in ["healthy-co", "broken-co", "rejected-co"] {
        env.ok(&["workspace", "create", ws]);
    }
    let falcon_args = |ws: &'static str, uri: String, client: &'static str, cid: &'static str| {
        vec![
            "integration".to_owned(),
            "add".into(),
            ws.into(),
            "falcon".into(),
            "--kind".into(),
            "crowdstrike".into(),
            "--client-id".into(),
            client.into(),
            "--cid".into(),
            cid.into(),
            "--base-url".into(),
            uri,
            "--allow-insecure-http".into(),
            "--secret-env".into(),
            "S".into(),
            "--no-verify".into(),
            "--poll-interval".into(),
            "10s".into(),
        ]
    };
    for (ws, uri, client, cid, secret) in [
        (
            "healthy-co",
            healthy.uri(),
            PARENT_CLIENT_ID,
            CID_A,
            PARENT_SECRET,
        ),
        // The parent's own CID (no member_cid): its token works, its data endpoints fail.
        (
            "broken-co",
            broken.uri(),
            PARENT_CLIENT_ID,
            PARENT_CID,
            PARENT_SECRET,
        ),
        (
            "rejected-co",
            healthy.uri(),
            BLOCKED_CLIENT_ID,
            CID_B,
            BLOCKED_SECRET,
        ),
    ] {
        let mut args = falcon_args(ws, uri, client, cid);
        if cid == PARENT_CID {
            args.push("--own-cid".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = add(&env, &args, secret).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    broken.inject(Endpoint::AnyData, Fault::Status(500), 10_000);

    let serve = Serve::start(&env, &[]);
    wait_until(Duration::from_secs(30), "the suspension", || {
        serve
            .status()
            .iter()
            .any(|i| i["workspace"] == "rejected-co" && i["state"] == "suspended")
    });
    let before = healthy.stats().combined_requests;
    let first = serve
        .status()
        .into_iter()
        .find(|i| i["workspace"] == "healthy-co")
        .unwrap()["last_poll"]["start"]
        .clone();
    // The healthy integration polls again on its own schedule, whatever the others do.
    wait_until(
        Duration::from_secs(30),
        "the healthy integration's next poll",
        || {
            serve
                .status()
                .into_iter()
                .find(|i| i["workspace"] == "healthy-co")
                .is_some_and(|i| {
                    i["last_poll"]["start"] != first && i["last_poll"]["outcome"] == "ok"
                })
        },
    );
    assert!(
        healthy.stats().combined_requests > before,
        "measured at the mock"
    );
    // The broken one alternates between backing off and a (slow, retrying) poll; whenever it is
    // not polling it must be backing off, never idle or suspended.
    let mut broken_status = serde_json::Value::Null;
    wait_until(
        Duration::from_secs(60),
        "the broken integration backing off",
        || {
            broken_status = serve
                .status()
                .into_iter()
                .find(|i| i["workspace"] == "broken-co")
                .unwrap();
            assert!(
                broken_status["state"] == "backing_off" || broken_status["state"] == "polling",
                "{broken_status}"
            );
            broken_status["state"] == "backing_off"
        },
    );
    assert!(
        broken_status["last_error"]
            .as_str()
            .unwrap()
            .contains("500")
    );

    // The suspension is audited in the client's own workspace, and a rotation lifts it.
    let audit = env.ok(&[
        "audit",
        "export",
        "rejected-co",
        "--format",
        "csv",
        "--output",
        "-",
    ]);
    assert!(audit.contains("integration.suspended"), "{audit}");
    let rotated = gw(
        &env,
        &[
            "credentials",
            "rotate",
            "rejected-co",
            "falcon",
            "--client-id",
            PARENT_CLIENT_ID,
            "--secret-env",
            "S",
            "--no-verify",
        ],
        &[("S", PARENT_SECRET)],
    )
    .await;
    assert_eq!(code(&rotated), 0, "{}", stderr(&rotated));
    wait_until(
        Duration::from_secs(30),
        "the rotated integration to poll again",
        || {
            serve
                .status()
                .into_iter()
                .find(|i| i["workspace"] == "rejected-co")
                .is_some_and(|i| i["last_poll"]["outcome"] == "ok")
        },
    );
    let audit = env.ok(&[
        "audit",
        "export",
        "rejected-co",
        "--format",
        "csv",
        "--output",
        "-",
    ]);
    assert!(audit.contains("integration.resumed"), "{audit}");
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    assert_eq!(
        count_by(&spool_lines(&env, "rejected-co"), "integration")["falcon"],
        healthy.versions(CID_B).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_backlog_then_restart_leaves_every_event_once() {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 12_000,
        ..Default::default()
    })
    .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out = add_falcon(&env, &falcon, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let spool = env.data_dir().join("spool/acme-corp");
    for round in 0..3 {
        let mut serve = Serve::start(&env, &[]);
        // Kill at a different point of the backlog each round: after some bytes arrived.
        let target = (round as u64 + 1) * 150_000;
        let started = Instant::now();
        while dir_len(&spool) < target && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        serve.signal("-KILL");
        let _ = serve.child.wait();
    }
    let serve = Serve::start(&env, &[]);
    wait_until(Duration::from_secs(60), "the backlog", || {
        spool_lines_so_far(&env, "acme-corp").len() >= falcon.versions(CID_A).len()
            && serve.integration("falcon")["last_poll"]["outcome"] == "ok"
    });
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    let lines = spool_lines(&env, "acme-corp");
    assert_once(&lines);
    assert_eq!(lines.len(), falcon.versions(CID_A).len());
    assert_offsets_match_files(&env);
}

fn dir_len(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_vendor_page_exits_0_with_the_checkpoint_matching_the_file() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    // Everything is delivered once; then Splunk's next search hangs.
    let serve = Serve::start(&env, &[]);
    wait_until(Duration::from_secs(30), "the first polls", || {
        let s = serve.status();
        s.len() == 3 && s.iter().all(|i| i["last_poll"]["outcome"] == "ok")
    });
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    v.splunk.add_events("acme_prod", 5);
    v.splunk
        .stall_next_job_creations(100, Duration::from_secs(120));
    env.ok(&[
        "integration",
        "update",
        "acme-corp",
        "splunk",
        "--poll-interval",
        "10s",
    ]);
    let serve = Serve::start(&env, &["--shutdown-grace", "20s"]);
    wait_until(Duration::from_secs(30), "splunk's poll to hang", || {
        serve.integration("splunk")["state"] == "polling"
    });
    let start = Instant::now();
    assert_eq!(serve.terminate(Duration::from_secs(20)), 0);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_offsets_match_files(&env);
    assert_once(&spool_lines(&env, "acme-corp"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_is_refused_and_pull_exits_3_naming_serve() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let serve = Serve::start(&env, &[]);
    let second = env.run(&["serve", "--listen", &format!("127.0.0.1:{}", free_port())]);
    assert_eq!(code(&second), 3, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("`serve` (pid"),
        "{}",
        stderr(&second)
    );
    let pull = env.run(&["pull", "acme-corp"]);
    assert_eq!(code(&pull), 3, "{}", stderr(&pull));
    assert!(stderr(&pull).contains("`serve` (pid"), "{}", stderr(&pull));
    // Without a token the API answers 401; health stays open.
    let raw = {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        write!(
            s,
            "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    };
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    assert_eq!(code(&env.run(&["pull", "acme-corp"])), 0);
}

/// A sink that refuses everything: status names it on the integrations waiting for it, the
/// metric says it blocks, nothing reaches the spool, and SIGTERM still exits 0 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_name_the_sink_that_blocks_an_integration() {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 500,
        ..Default::default()
    })
    .await;
    let es = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(503).set_body_string(
                r#"{"error":{"type":"unavailable_shards_exception"},"status":503}"#,
            ),
        )
        .mount(&es)
        .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out = add_falcon(&env, &falcon, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cfg = env.dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[sink]]\nname = \"search\"\ntype = \"elasticsearch\"\nurl = \"{}\"\n",
            es.uri()
        ),
    )
    .unwrap();
    let serve = Serve::start(&env, &["--config", cfg.to_str().unwrap()]);
    wait_until(
        Duration::from_secs(30),
        "the integration to wait on its sink",
        || {
            // The first status is published a tick after start: absent until then.
            serve
                .status()
                .into_iter()
                .find(|i| i["integration"] == "falcon")
                .is_some_and(|i| {
                    i["waiting_on_sink"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("search: HTTP 503"))
                })
        },
    );
    let (_, metrics) = serve.get("/metrics").unwrap();
    assert_eq!(
        metric_value(&metrics, "seliq_sink_blocked", &[("sink", "search")]),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metric_value(&metrics, "seliq_sink_failures_total", &[("sink", "search")])
            .is_some_and(|v| v >= 1.0)
    );
    assert!(
        spool_lines(&env, "acme-corp").is_empty(),
        "nothing committed before the sink acked"
    );
    assert_eq!(serve.terminate(Duration::from_secs(10)), 0);
}

/// The stored checkpoint version of one integration of `acme-corp`.
fn checkpoint_version(env: &Env, integration: &str) -> i64 {
    env.db()
        .query_row(
            "SELECT c.version FROM checkpoints c JOIN integrations i ON i.id = c.integration_id \
             WHERE i.name = ?1",
            [integration],
            |r| r.get(0),
        )
        .unwrap()
}

fn ok_polls(serve: &Serve, integration: &str) -> f64 {
    let metrics = serve.get("/metrics").unwrap().1;
    metric_value(
        &metrics,
        "seliq_polls_total",
        &[("integration", integration), ("outcome", "ok")],
    )
    .unwrap_or(0.0)
}

/// Every vendor connected to `acme-corp`, `integration` polled every 10 s by a running `serve`
/// that has finished its first poll of it.
async fn serve_polling_every_10s(integration: &str) -> (Vendors, Env, Serve) {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    env.ok(&[
        "integration",
        "update",
        "acme-corp",
        integration,
        "--poll-interval",
        "10s",
    ]);
    let serve = Serve::start(&env, &[]);
    wait_until(Duration::from_secs(30), "the first poll", || {
        ok_polls(&serve, integration) >= 1.0
    });
    (v, env, serve)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_polls_move_the_cursor_in_memory_and_a_kill_9_replays_the_idle_window_once() {
    let (v, env, serve) = serve_polling_every_10s("splunk").await;
    let after_backlog = checkpoint_version(&env, "splunk");
    // Idle polls whose window end follows Splunk's clock: each moves the cursor, none commits.
    for n in 2..=3 {
        v.splunk.advance_clock(30);
        wait_until(Duration::from_secs(30), "an idle splunk poll", || {
            ok_polls(&serve, "splunk") >= f64::from(n)
        });
    }
    assert_eq!(
        checkpoint_version(&env, "splunk"),
        after_backlog,
        "idle polls committed their cursor moves"
    );
    // A crash loses only the moves held in memory: the restart searches from the stored cursor.
    let mut serve = serve;
    serve.signal("-KILL");
    let _ = serve.child.wait();
    v.splunk.advance_clock(30);
    v.splunk.add_events("acme_prod", 6);
    let serve = Serve::start(&env, &[]);
    let expected = v.splunk.events(&["acme_prod"], None).len();
    wait_until(Duration::from_secs(30), "the new events", || {
        count_by(&spool_lines_so_far(&env, "acme-corp"), "integration").get("splunk")
            == Some(&expected)
    });
    // The new events commit with their cursor.
    assert!(checkpoint_version(&env, "splunk") > after_backlog);
    let metrics = serve.get("/metrics").unwrap().1;
    assert_eq!(
        metric_value(
            &metrics,
            "seliq_delivery_lag_seconds_count",
            &[("vendor", "splunk")]
        ),
        Some(6.0),
        "one lag sample per alert this process committed"
    );
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    let lines = spool_lines(&env, "acme-corp");
    assert_once(&lines);
    assert_eq!(count_by(&lines, "integration")["splunk"], expected);
    assert_offsets_match_files(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_finds_only_an_unmappable_record_dead_letters_it() {
    let (v, env, serve) = serve_polling_every_10s("falcon").await;
    // The only news of the next poll is a record that cannot be mapped: the batch holds no
    // alert, yet it is committed, so the record is kept as a dead letter.
    let added = v.falcon.add_alerts(CID_A, 1);
    v.falcon.break_alerts(
        CID_A,
        &added,
        seliq_mocks::crowdstrike::Defect::NoCompositeId,
    );
    wait_until(Duration::from_secs(30), "the dead letter", || {
        env.ok(&["integration", "dead-letters", "acme-corp", "falcon"])
            .lines()
            .count()
            == 1
    });
    assert_eq!(serve.terminate(Duration::from_secs(35)), 0);
    assert_offsets_match_files(&env);
}
