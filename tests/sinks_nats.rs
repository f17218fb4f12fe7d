//! The JetStream sink against the real nats-server on 127.0.0.1:4222 (`.ci/run` starts one if
//! none is up): every alert exactly once in the stream by `Nats-Msg-Id`, across a crash between
//! publish and checkpoint, with a file sink beside it.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use common::vendors::*;
use common::{Env, code, path_str, stderr};
use futures::StreamExt;

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream and subject prefix of this test alone, deleted when the test ends.
struct TestStream {
    js: jetstream::Context,
    name: String,
    prefix: String,
}

impl TestStream {
    async fn new(tag: &str) -> TestStream {
        let client = async_nats::connect(NATS)
            .await
            .expect("nats-server on 127.0.0.1:4222 (.ci/run starts one)");
        let id = uuid::Uuid::new_v4().simple().to_string();
        TestStream {
            js: jetstream::new(client),
            name: format!("SELIQ_TEST_{tag}_{}", &id[..12]).to_uppercase(),
            prefix: format!("seliqtest.{tag}{}", &id[..12]),
        }
    }

    /// Every message's `Nats-Msg-Id`, subject and payload event_id, read back from the stream.
    async fn messages(&self) -> Vec<(String, String, String)> {
        let stream = self.js.get_stream(&self.name).await.expect("stream exists");
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .expect("ordered consumer");
        let total = stream.get_info().await.unwrap().state.messages as usize;
        let mut msgs = consumer.messages().await.expect("messages");
        let mut out = Vec::with_capacity(total);
        while out.len() < total {
            let m = tokio::time::timeout(Duration::from_secs(10), msgs.next())
                .await
                .expect("message within 10 s")
                .expect("a message")
                .expect("no error");
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string())
                .expect("Nats-Msg-Id on every message");
            let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON line");
            out.push((
                id,
                m.subject.to_string(),
                body["event_id"].as_str().unwrap().to_owned(),
            ));
        }
        out
    }

    async fn delete(self) {
        let _ = self.js.delete_stream(&self.name).await;
    }

    fn config(&self, env: &Env, extra: &str) -> std::path::PathBuf {
        let path = env.dir.path().join("sinks.toml");
        std::fs::write(
            &path,
            format!(
                "[[sink]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"{NATS}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\n{extra}",
                self.name, self.prefix
            ),
        )
        .unwrap();
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_once_in_the_stream_across_a_crash_between_publish_and_checkpoint() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let stream = TestStream::new("crash").await;
    let cfg = stream.config(&env, "");
    let out = env.dir.path().join("alerts.ndjson");
    let args = [
        "pull",
        "acme-corp",
        "--config",
        path_str(&cfg),
        "--sink",
        "bus",
        "--output",
        path_str(&out),
    ];
    // Batch 2 is published and written, then the process dies before its checkpoint commits.
    let crashed = gw(&env, &args, &[("SELIQ_FAULT", "after-write:2")]).await;
    assert_ne!(code(&crashed), 0, "the fault must kill the pull");
    let published_before = stream.messages().await.len();
    assert!(
        published_before > 0,
        "batches were published before the crash"
    );

    let resumed = gw(&env, &args, &[]).await;
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));

    let (lines, ids) = read_lines(&out);
    assert_unique(&ids);
    let expected = v.falcon.versions(seliq_mocks::crowdstrike::CID_A).len()
        + v.sentinel.versions().len()
        + v.splunk.events(&["acme_prod"], None).len();
    assert_eq!(lines.len(), expected);

    let msgs = stream.messages().await;
    let msg_ids: HashSet<&str> = msgs.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(msgs.len(), expected, "the stream holds every alert once");
    assert_eq!(msg_ids.len(), expected, "no Nats-Msg-Id twice");
    let file_ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        msg_ids, file_ids,
        "the stream and the file hold the same alerts"
    );
    for (id, subject, event_id) in &msgs {
        assert_eq!(id, event_id, "Nats-Msg-Id is the event_id");
        let parts: Vec<&str> = subject.rsplitn(4, '.').collect();
        assert_eq!(parts.len(), 4, "{subject}");
        assert!(
            subject.starts_with(&format!("{}.acme-corp.", stream.prefix)),
            "{subject}"
        );
        assert!(
            ["critical", "high", "medium", "low", "informational"].contains(&parts[0]),
            "{subject}"
        );
    }
    // A pull with nothing new publishes nothing.
    let again = gw(&env, &args, &[]).await;
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(stream.messages().await.len(), expected);
    stream.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_duplicate_window_refuses_the_start_naming_it() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let stream = TestStream::new("window").await;
    stream
        .js
        .create_stream(jetstream::stream::Config {
            name: stream.name.clone(),
            subjects: vec![format!("{}.>", stream.prefix)],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .expect("create a stream with the server's default window");
    let cfg = stream.config(&env, "");
    let before = v.falcon.stats().combined_requests;
    let out = gw(
        &env,
        &["pull", "acme-corp", "--config", path_str(&cfg)],
        &[],
    )
    .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("duplicate_window 120 s"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        v.falcon.stats().combined_requests,
        before,
        "no vendor is called before the sink is checked"
    );
    stream.delete().await;
}

/// The acceptance path: `serve` with a JetStream sink, killed with SIGKILL twice mid-run; the
/// stream ends with every alert version exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_twice_mid_run_leaves_every_alert_once_in_the_stream() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let stream = TestStream::new("serve").await;
    let cfg = stream.config(&env, "");
    let expected = v.falcon.versions(seliq_mocks::crowdstrike::CID_A).len()
        + v.sentinel.versions().len()
        + v.splunk.events(&["acme_prod"], None).len();
    let start = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = env.cmd();
        c.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
            path_str(&cfg),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c.spawn().expect("start serve")
    };
    let count = || async {
        match stream.js.get_stream(&stream.name).await {
            Ok(s) => s.get_info().await.map_or(0, |i| i.state.messages as usize),
            Err(_) => 0,
        }
    };
    let wait_for = |at_least: usize| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let n = count().await;
            if n >= at_least {
                return n;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {at_least} messages (have {n})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let mut seen = 0;
    for _ in 0..2 {
        let mut serve = start();
        seen = wait_for(seen + 1).await;
        serve.kill().expect("SIGKILL");
        let _ = serve.wait();
    }
    assert!(
        seen < expected,
        "the kills came mid-run ({seen} of {expected})"
    );
    let mut serve = start();
    wait_for(expected).await;
    // Let any late duplicate arrive before counting (a redelivery is published at once).
    tokio::time::sleep(Duration::from_millis(500)).await;
    serve.kill().expect("stop serve");
    let _ = serve.wait();
    let msgs = stream.messages().await;
    let ids: HashSet<&str> = msgs.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(msgs.len(), expected, "every alert version once");
    assert_eq!(ids.len(), expected);
    stream.delete().await;
}

/// A nats-server of this test alone (its own port and store), restartable mid-run.
struct OwnNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnNats {
    fn start() -> OwnNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut n = OwnNats {
            port,
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        n.up();
        n
    }

    fn up(&mut self) {
        let child = std::process::Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server is installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A clean stop (SIGTERM), as a restart by its operator does.
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_run_loses_nothing() {
    let falcon =
        seliq_mocks::crowdstrike::FalconMock::start(seliq_mocks::crowdstrike::FalconMockConfig {
            alerts_per_cid: 12_000,
            ..Default::default()
        })
        .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let added = add_falcon(
        &env,
        &falcon,
        "acme-corp",
        seliq_mocks::crowdstrike::CID_A,
        seliq_mocks::crowdstrike::PARENT_SECRET,
    )
    .await;
    assert_eq!(code(&added), 0, "{}", stderr(&added));
    let mut nats = OwnNats::start();
    let cfg = env.dir.path().join("sinks.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[sink]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"{}\"\n",
            nats.url()
        ),
    )
    .unwrap();
    let mut cmd = env.cmd();
    cmd.args(["pull", "acme-corp", "--config", path_str(&cfg)]);
    let pull = tokio::process::Command::from(cmd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let count = |url: String| async move {
        let Ok(client) = async_nats::connect(url).await else {
            return 0;
        };
        let js = jetstream::new(client);
        match js.get_stream("SELIQ_ALERTS").await {
            Ok(s) => s.get_info().await.map_or(0, |i| i.state.messages as usize),
            Err(_) => 0,
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(nats.url()).await == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nats.down();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.up();
    let out = pull.wait_with_output().await.unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let expected = falcon.versions(seliq_mocks::crowdstrike::CID_A).len();
    assert_eq!(
        count(nats.url()).await,
        expected,
        "every alert once after the restart"
    );
}
