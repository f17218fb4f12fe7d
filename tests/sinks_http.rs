//! Splunk HEC and Elasticsearch `_bulk` sinks against wiremock servers that answer as the vendors
//! document: `_bulk` refuses a second `create` of an `_id` with a per-item 409 and sheds load with
//! per-item 429s; HEC indexes the events before an invalid one and names it with
//! `invalid-event-number`, and answers 503 "Server is busy". Every alert must land once, counted
//! by id on the mock's side.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::vendors::*;
use common::{Env, code, path_str, stderr};
use seliq_mocks::crowdstrike::{CID_A, PARENT_SECRET};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// --- Elasticsearch `_bulk` -------------------------------------------------------------------

#[derive(Default)]
struct EsState {
    /// `_id` → index, for every document created.
    docs: HashMap<String, String>,
    /// Documents created per `_id` (a second create must never succeed).
    creates: HashMap<String, u32>,
    conflicts: u64,
    requests: u64,
    /// The first this many requests answer 503 as a whole.
    outage_requests: u64,
    /// On a request's first attempt at an item, every n-th item answers 429 (0: never).
    shed_every: usize,
    shed: HashMap<String, bool>,
}

#[derive(Clone)]
struct EsMock(Arc<Mutex<EsState>>);

impl Respond for EsMock {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.requests += 1;
        if s.requests <= s.outage_requests {
            return ResponseTemplate::new(503).set_body_json(json!({
                "error": {"type": "unavailable_shards_exception", "reason": "primary shard is not active"},
                "status": 503
            }));
        }
        assert_eq!(
            req.headers.get("content-type").unwrap(),
            "application/x-ndjson"
        );
        let text = std::str::from_utf8(&req.body).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() % 2, 0, "action and source lines pair up");
        let mut items = Vec::new();
        let mut errors = false;
        for (n, pair) in lines.chunks(2).enumerate() {
            let action: Value = serde_json::from_str(pair[0]).unwrap();
            let create = &action["create"];
            let id = create["_id"].as_str().expect("_id").to_owned();
            let index = create["_index"].as_str().expect("_index").to_owned();
            let doc: Value = serde_json::from_str(pair[1]).expect("source is JSON");
            assert_eq!(doc["event_id"], id.as_str(), "_id is the event_id");
            assert!(
                doc["@timestamp"].is_string(),
                "data streams need @timestamp"
            );
            let first_try = !s.shed.contains_key(&id);
            if s.shed_every > 0 && first_try && n % s.shed_every == 0 {
                s.shed.insert(id.clone(), true);
                errors = true;
                items.push(json!({"create": {"_index": index, "_id": id, "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}}}));
                continue;
            }
            s.shed.insert(id.clone(), false);
            if s.docs.contains_key(&id) {
                s.conflicts += 1;
                errors = true;
                items.push(json!({"create": {"_index": index, "_id": id, "status": 409,
                    "error": {"type": "version_conflict_engine_exception",
                              "reason": format!("[{id}]: version conflict, document already exists (current version [1])")}}}));
            } else {
                s.docs.insert(id.clone(), index.clone());
                *s.creates.entry(id.clone()).or_default() += 1;
                items.push(json!({"create": {"_index": index, "_id": id, "_version": 1, "result": "created", "status": 201}}));
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"took": 3, "errors": errors, "items": items}))
    }
}

async fn es_mock(state: EsState) -> (MockServer, Arc<Mutex<EsState>>) {
    let server = MockServer::start().await;
    let shared = Arc::new(Mutex::new(state));
    Mock::given(method("POST"))
        .and(path("/_bulk"))
        .respond_with(EsMock(shared.clone()))
        .mount(&server)
        .await;
    (server, shared)
}

fn write_config(env: &Env, body: &str) -> std::path::PathBuf {
    let p = env.dir.path().join("sinks.toml");
    std::fs::write(&p, body).unwrap();
    p
}

fn expected_total(v: &Vendors) -> usize {
    v.falcon.versions(CID_A).len()
        + v.sentinel.versions().len()
        + v.splunk.events(&["acme_prod"], None).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_with_an_outage_per_item_429s_and_a_crash_indexes_every_alert_once() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let (es, state) = es_mock(EsState {
        outage_requests: 2,
        shed_every: 7,
        ..Default::default()
    })
    .await;
    let cfg = write_config(
        &env,
        &format!(
            "[[sink]]\nname = \"search\"\ntype = \"elasticsearch\"\nurl = \"{}\"\nindex = \"seliq-{{workspace}}\"\napi_key_env = \"ES_KEY\"\n",
            es.uri()
        ),
    );
    let out = env.dir.path().join("alerts.ndjson");
    let args = [
        "pull",
        "acme-corp",
        "--config",
        path_str(&cfg),
        "--output",
        path_str(&out),
    ];
    let vars = [("ES_KEY", "ZXMta2V5LWlkOmVzLWtleS1zZWNyZXQ=")];
    // Die after batch 1 was indexed and written but before its checkpoint: its alerts come again.
    let crashed = gw(&env, &args, &[vars[0], ("SELIQ_FAULT", "after-write:1")]).await;
    assert_ne!(code(&crashed), 0);
    let resumed = gw(&env, &args, &vars).await;
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));

    let s = state.lock().unwrap();
    let expected = expected_total(&v);
    assert_eq!(s.docs.len(), expected, "every alert indexed");
    assert!(
        s.creates.values().all(|&n| n == 1),
        "no document created twice"
    );
    assert!(
        s.conflicts > 0,
        "the crashed batch came again and was refused as a duplicate"
    );
    assert!(
        s.docs.values().all(|i| i == "seliq-acme-corp"),
        "index pattern per workspace"
    );
    let (_, ids) = read_lines(&out);
    assert_eq!(ids.len(), expected);
    for id in &ids {
        assert!(s.docs.contains_key(id), "{id} in the file but not indexed");
    }
    // The credential never shows in the gateway's output.
    assert!(
        !stderr(&resumed).contains("ZXMta2V5"),
        "{}",
        stderr(&resumed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_is_down_stops_the_integration_feeding_it_until_it_recovers() {
    let v = vendors().await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let added = add_falcon(&env, &v.falcon, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&added), 0, "{}", stderr(&added));
    // Down for the first five requests: about 3 s of back-off (0.2, 0.4, 0.8, 1.6 s).
    let (es, state) = es_mock(EsState {
        outage_requests: 5,
        ..Default::default()
    })
    .await;
    let cfg = write_config(
        &env,
        &format!(
            "[[sink]]\nname = \"search\"\ntype = \"elasticsearch\"\nurl = \"{}\"\n",
            es.uri()
        ),
    );
    let before = v.falcon.stats().combined_requests;
    let mut cmd = env.cmd();
    cmd.args([
        "pull",
        "acme-corp",
        "--config",
        path_str(&cfg),
        "--sink",
        "search",
    ]);
    let child = tokio::process::Command::from(cmd)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Sample the vendor's request count while the sink refuses: it must not move.
    let mut during = Vec::new();
    loop {
        let (reqs, failing) = {
            let s = state.lock().unwrap();
            (s.requests, s.requests <= s.outage_requests)
        };
        if reqs >= 2 && failing {
            during.push(v.falcon.stats().combined_requests);
        }
        if !failing {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(during.len() >= 3, "sampled during the outage: {during:?}");
    assert!(
        during.windows(2).all(|w| w[0] == w[1]),
        "the integration kept fetching while its sink was down: {during:?}"
    );
    assert!(during[0] > before, "the first batch was fetched");
    let s = state.lock().unwrap();
    assert_eq!(
        s.docs.len(),
        v.falcon.versions(CID_A).len(),
        "all delivered after recovery"
    );
    assert!(
        stderr(&out).contains("sink is not acknowledging") && stderr(&out).contains("search"),
        "the log names the blocking sink: {}",
        stderr(&out)
    );
    assert!(
        out.stdout.is_empty(),
        "external sinks only: nothing on stdout"
    );
}

// --- Splunk HEC --------------------------------------------------------------------------------

#[derive(Default)]
struct HecState {
    /// event_id → times indexed.
    indexed: HashMap<String, u32>,
    requests: u64,
    /// Requests answered 503 "Server is busy" first.
    busy_requests: u64,
    /// The first data request indexes this many events and names the next one invalid.
    partial_at: Option<usize>,
    indexes: HashMap<String, u64>,
}

#[derive(Clone)]
struct HecMock(Arc<Mutex<HecState>>);

impl Respond for HecMock {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.requests += 1;
        if req
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap())
            != Some("Splunk 11111111-2222-3333-4444-555555555555")
        {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"text": "Token is required", "code": 2}));
        }
        if s.requests <= s.busy_requests {
            return ResponseTemplate::new(503)
                .set_body_json(json!({"text": "Server is busy", "code": 9}));
        }
        let events: Vec<Value> = serde_json::Deserializer::from_slice(&req.body)
            .into_iter::<Value>()
            .map(|e| e.expect("concatenated JSON events"))
            .collect();
        let stop = s.partial_at.take().unwrap_or(usize::MAX);
        for (n, e) in events.iter().enumerate() {
            if n == stop {
                return ResponseTemplate::new(400).set_body_json(
                    json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n}),
                );
            }
            assert!(e["time"].is_number(), "time from the alert");
            assert_eq!(e["sourcetype"], "seliq:alert");
            let id = e["event"]["event_id"]
                .as_str()
                .expect("event is the alert")
                .to_owned();
            *s.indexed.entry(id).or_default() += 1;
            let ix = e["index"].as_str().unwrap_or("main").to_owned();
            *s.indexes.entry(ix).or_default() += 1;
        }
        ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_resends_only_from_the_invalid_event_and_rides_out_a_busy_server() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let hec = MockServer::start().await;
    let state = Arc::new(Mutex::new(HecState {
        busy_requests: 2,
        partial_at: Some(700),
        ..Default::default()
    }));
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .respond_with(HecMock(state.clone()))
        .mount(&hec)
        .await;
    let token = env.dir.path().join("hec.token");
    std::fs::write(&token, "11111111-2222-3333-4444-555555555555\n").unwrap();
    let cfg = write_config(
        &env,
        &format!(
            "[[sink]]\nname = \"splunk\"\ntype = \"hec\"\nurl = \"{}\"\ntoken_file = \"{}\"\nindex = \"mssp_default\"\n\n[[sink.route]]\nworkspace = \"acme-corp\"\nindex = \"acme_alerts\"\n",
            hec.uri(),
            path_str(&token)
        ),
    );
    let out = gw(
        &env,
        &["pull", "acme-corp", "--config", path_str(&cfg)],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = state.lock().unwrap();
    assert_eq!(s.indexed.len(), expected_total(&v), "every alert indexed");
    assert!(
        s.indexed.values().all(|&n| n == 1),
        "the events before the invalid one were not sent again"
    );
    assert_eq!(
        s.indexes.keys().collect::<Vec<_>>(),
        vec!["acme_alerts"],
        "the workspace's own index"
    );
    assert!(!stderr(&out).contains("11111111-2222"), "{}", stderr(&out));
}

/// Indexer acknowledgment: HEC answers with an `ackId` per request on the request's channel, and
/// the batch counts only once `/services/collector/ack` reports it true (false at first).
#[derive(Clone, Default)]
struct AckMock(Arc<Mutex<AckState>>);

#[derive(Default)]
struct AckState {
    next_ack: u64,
    /// ackId → (channel, times polled)
    acks: HashMap<u64, (String, u32)>,
    events: usize,
    ack_polls: u64,
}

impl Respond for AckMock {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let Some(channel) = req
            .headers
            .get("x-splunk-request-channel")
            .map(|v| v.to_str().unwrap().to_owned())
        else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"text": "Data channel is missing", "code": 10}));
        };
        if req.url.path() == "/services/collector/ack" {
            s.ack_polls += 1;
            let asked: Value = serde_json::from_slice(&req.body).unwrap();
            let mut out = serde_json::Map::new();
            for id in asked["acks"].as_array().unwrap() {
                let id = id.as_u64().unwrap();
                let entry = s.acks.get_mut(&id).expect("an ackId we gave");
                assert_eq!(entry.0, channel, "polled on the channel it was given on");
                entry.1 += 1;
                out.insert(id.to_string(), Value::Bool(entry.1 >= 2));
            }
            return ResponseTemplate::new(200).set_body_json(json!({ "acks": out }));
        }
        // HEC takes `Content-Encoding: gzip` bodies.
        let body = if req
            .headers
            .get("content-encoding")
            .is_some_and(|v| v == "gzip")
        {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&req.body[..]), &mut out)
                .expect("valid gzip");
            out
        } else {
            req.body.clone()
        };
        for e in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
            let e = e.expect("concatenated JSON events");
            assert!(e["event"]["event_id"].is_string());
            s.events += 1;
        }
        let id = s.next_ack;
        s.next_ack += 1;
        s.acks.insert(id, (channel, 0));
        ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0, "ackId": id}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_with_indexer_ack_waits_for_the_ack_and_the_spool_takes_the_same_alerts() {
    let v = vendors().await;
    let env = Env::new();
    connect_all(&env, &v, "acme-corp").await;
    let hec = MockServer::start().await;
    let state = AckMock::default();
    Mock::given(method("POST"))
        .respond_with(state.clone())
        .mount(&hec)
        .await;
    let cfg = write_config(
        &env,
        &format!(
            "[[sink]]\nname = \"splunk\"\ntype = \"hec\"\nurl = \"{}\"\ntoken_env = \"HEC_TOKEN\"\nuse_ack = true\ngzip = true\n",
            hec.uri()
        ),
    );
    let spool = env.dir.path().join("spool");
    let args = [
        "pull",
        "acme-corp",
        "--config",
        path_str(&cfg),
        "--output-dir",
        path_str(&spool),
    ];
    let vars = [("HEC_TOKEN", "11111111-2222-3333-4444-555555555555")];
    let out = gw(&env, &args, &vars).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = expected_total(&v);
    {
        let s = state.0.lock().unwrap();
        assert_eq!(s.events, expected);
        assert!(
            s.acks.values().all(|(_, polls)| *polls >= 2),
            "every ackId awaited until true"
        );
        assert!(s.ack_polls >= s.acks.len() as u64 * 2);
    }
    // The spool under --output-dir holds the same alerts once; a second pull adds nothing.
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let file = spool.join("acme-corp").join(format!("alerts-{day}.ndjson"));
    let (_, ids) = read_lines(&file);
    assert_unique(&ids);
    assert_eq!(ids.len(), expected);
    let again = gw(&env, &args, &vars).await;
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(read_lines(&file).1.len(), expected);
    assert_eq!(
        state.0.lock().unwrap().events,
        expected,
        "nothing sent twice"
    );
}
