//! The `/v1` API (issue 17), served on a real listener over a data dir made by the binary's
//! `init`: authentication, scopes, tenant isolation under every path spelling, concurrent
//! rotations, audit attribution, problem documents, and no secret in any response.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{Env, code, stderr};
use seliq_gateway::api::{ApiState, router};
use seliq_gateway::app::{App, Config};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "Sup3r-S3cret-Value-0123456789-abcdefXYZ";
const SECRET2: &str = "Rot4ted-S3cret-Value-9876543210-qwertyUIO";
const CID_FAKE: &str = "0123456789abcdef0123456789abcdef";

struct Api {
    env: Env,
    base: String,
    addr: SocketAddr,
    client: reqwest::Client,
    /// Every response body and header seen, to check that no secret ever comes back.
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Api {
    async fn start() -> Api {
        Api::start_with(|s| s).await
    }

    async fn start_with(adjust: impl FnOnce(ApiState) -> ApiState) -> Api {
        let env = Env::new();
        env.ok(&["workspace", "create", "acme-corp"]);
        env.ok(&["workspace", "create", "globex"]);
        Api::on(env, adjust).await
    }

    /// Serve the API over an existing data dir.
    async fn on(env: Env, adjust: impl FnOnce(ApiState) -> ApiState) -> Api {
        let app = App::open(Config {
            data_dir: env.data_dir(),
            database_url: None,
            actor: "test".into(),
        })
        .expect("open the data dir");
        let http = seliq_connectors::http::HttpOptions::default_timeouts().unwrap();
        let state = adjust(ApiState::new(&app, http));
        drop(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, svc).await });
        Api {
            env,
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            seen: Default::default(),
        }
    }

    /// `token create` through the binary; returns (id, token).
    fn token(&self, args: &[&str]) -> (String, String) {
        let mut a = vec!["token", "create", "--json"];
        a.extend_from_slice(args);
        let v: Value = serde_json::from_str(&self.env.ok(&a)).unwrap();
        (
            v["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut r = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        self.seen
            .lock()
            .unwrap()
            .push(format!("{headers:?}\n{body}"));
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with the path sent exactly as written (no client-side normalisation).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        self.seen.lock().unwrap().push(text.clone());
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    fn assert_no_secret(&self) {
        for s in self.seen.lock().unwrap().iter() {
            for secret in [SECRET, SECRET2, PARENT_SECRET] {
                assert!(!s.contains(secret), "a response holds a secret: {s}");
            }
        }
    }
}

fn falcon_body(name: &str, base_url: &str, verify: bool) -> Value {
    json!({
        "name": name,
        "kind": "crowdstrike",
        "settings": {
            "client_id": PARENT_CLIENT_ID,
            "cid": CID_FAKE,
            "base_url": base_url,
            "allow_insecure_http": true,
        },
        "secret": SECRET,
        "verify": verify,
    })
}

fn assert_problem(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json",
        "{}",
        r.body
    );
    let p = r.json();
    assert_eq!(p["status"], status, "{}", r.body);
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:seliq:problem:")
    );
    assert!(
        p["title"].is_string() && p["detail"].is_string(),
        "{}",
        r.body
    );
}

/// Every endpoint: (method, path under acme-corp, body, scope needed, all-workspaces only).
fn endpoints() -> Vec<(&'static str, String, Option<Value>, &'static str, bool)> {
    let ws = "/v1/workspaces/acme-corp";
    let i = format!("{ws}/integrations/falcon");
    vec![
        ("GET", "/v1/workspaces".into(), None, "read", false),
        (
            "POST",
            "/v1/workspaces".into(),
            Some(json!({"slug": "initech"})),
            "admin",
            true,
        ),
        ("GET", ws.into(), None, "read", false),
        (
            "DELETE",
            ws.into(),
            Some(json!({"confirm": "acme-corp"})),
            "admin",
            true,
        ),
        ("GET", format!("{ws}/integrations"), None, "read", false),
        (
            "POST",
            format!("{ws}/integrations"),
            Some(falcon_body("falcon2", "http://127.0.0.1:9", false)),
            "admin",
            false,
        ),
        ("GET", i.clone(), None, "read", false),
        ("DELETE", i.clone(), None, "admin", false),
        ("POST", format!("{i}/test"), None, "operate", false),
        ("POST", format!("{i}/resume"), None, "operate", false),
        (
            "POST",
            format!("{i}/credentials/rotate"),
            Some(json!({"secret": SECRET2, "verify": false})),
            "admin",
            false,
        ),
        (
            "POST",
            format!("{i}/credentials/rollback"),
            None,
            "admin",
            false,
        ),
        ("GET", "/v1/status".into(), None, "read", false),
        ("GET", format!("{ws}/status"), None, "read", false),
        (
            "GET",
            format!("{ws}/audit/export?format=csv"),
            None,
            "read",
            false,
        ),
        ("GET", format!("{ws}/audit/verify"), None, "read", false),
        ("GET", "/v1/gateway/audit/export".into(), None, "read", true),
        ("GET", "/v1/gateway/audit/verify".into(), None, "read", true),
        ("GET", "/v1/sla/template".into(), None, "read", false),
        (
            "PUT",
            "/v1/sla/template/low".into(),
            Some(json!({"ttr": "3bd"})),
            "admin",
            true,
        ),
        ("GET", format!("{ws}/sla"), None, "read", false),
        (
            "PUT",
            format!("{ws}/sla/critical"),
            Some(json!({"tta": "10m"})),
            "admin",
            false,
        ),
        ("DELETE", format!("{ws}/sla/critical"), None, "admin", false),
        ("DELETE", format!("{ws}/sla"), None, "admin", false),
        (
            "GET",
            format!("{ws}/sla/report?format=csv"),
            None,
            "read",
            false,
        ),
        ("GET", format!("{ws}/calendar"), None, "read", false),
        (
            "PUT",
            format!("{ws}/calendar"),
            Some(json!({"zone": "Europe/Berlin", "hours": "mon-fri 08:00-18:00"})),
            "admin",
            false,
        ),
        ("GET", format!("{ws}/assignment"), None, "read", false),
        (
            "PUT",
            format!("{ws}/assignment"),
            Some(
                json!({"model": "pool", "queue": "soc-l1", "escalation_owner": "lead@mssp.example"}),
            ),
            "admin",
            false,
        ),
    ]
}

fn has_slug(path: &str) -> bool {
    path.starts_with("/v1/workspaces/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_refuses_missing_revoked_expired_foreign_and_underscoped_tokens() {
    let api = Api::start().await;
    let (_, all_admin) = api.token(&["--all-workspaces", "--scope", "admin", "--name", "prov"]);
    let r = api
        .req(
            "POST",
            "/v1/workspaces/acme-corp/integrations",
            Some(&all_admin),
            Some(falcon_body("falcon", "http://127.0.0.1:9", false)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let (_, acme_read) = api.token(&["--workspace", "acme-corp", "--scope", "read"]);
    let (_, acme_operate) = api.token(&["--workspace", "acme-corp", "--scope", "operate"]);
    let (_, acme_admin) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    let (_, globex_admin) = api.token(&["--workspace", "globex", "--scope", "admin"]);
    let (revoked_id, revoked) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    api.env.ok(&["token", "revoke", &revoked_id]);
    let (_, expired) = api.token(&[
        "--workspace",
        "acme-corp",
        "--scope",
        "admin",
        "--expires-in",
        "1s",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let forged = {
        // Right shape, right id, valid checksum, wrong secret: refused like any other bad token.
        let id = &acme_admin[4..16];
        let body = format!("slq_{id}_{}", "0".repeat(64));
        let check = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())[..4]);
        format!("{body}_{check}")
    };

    for (method, path, body, scope, all_only) in endpoints() {
        let what = format!("{method} {path}");
        for (label, token) in [
            ("no token", None),
            ("revoked", Some(revoked.as_str())),
            ("expired", Some(expired.as_str())),
            ("forged", Some(forged.as_str())),
            ("garbage", Some("slq_nope")),
        ] {
            let r = api.req(method, &path, token, body.clone()).await;
            assert_problem(&r, 401);
            assert!(
                r.headers.get("www-authenticate").is_some(),
                "{what} {label}"
            );
            assert!(r.headers.get("x-request-id").is_some(), "{what} {label}");
        }
        if has_slug(&path) {
            let r = api
                .req(method, &path, Some(&globex_admin), body.clone())
                .await;
            assert_problem(&r, 404);
            assert!(
                r.json()["detail"]
                    .as_str()
                    .unwrap()
                    .contains("does not exist"),
                "{what}: {}",
                r.body
            );
        }
        let under: Vec<&str> = match scope {
            "read" => vec![],
            "operate" => vec![acme_read.as_str()],
            _ => vec![acme_read.as_str(), acme_operate.as_str()],
        };
        for t in under {
            let r = api.req(method, &path, Some(t), body.clone()).await;
            assert_problem(&r, 403);
        }
        if all_only {
            // A workspace-scoped admin token is refused too: 403 on its own workspace.
            let r = api
                .req(method, &path, Some(&acme_admin), body.clone())
                .await;
            assert_problem(&r, 403);
        }
    }
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workspace_token_reaches_no_other_workspace_by_any_path_spelling() {
    let api = Api::start().await;
    let (_, all_admin) = api.token(&["--all-workspaces", "--scope", "admin"]);
    for ws in ["acme-corp", "globex"] {
        let r = api
            .req(
                "POST",
                &format!("/v1/workspaces/{ws}/integrations"),
                Some(&all_admin),
                Some(json!({
                    "name": "falcon",
                    "kind": "crowdstrike",
                    "settings": {
                        "client_id": PARENT_CLIENT_ID,
                        "cid": if ws == "globex" { CID_A } else { CID_FAKE },
                        "base_url": "http://127.0.0.1:9",
                        "allow_insecure_http": true,
                    },
                    "secret": SECRET,
                    "verify": false,
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (globex_id, globex) = api.token(&["--workspace", "globex", "--scope", "admin"]);
    let rotate = r#"{"secret":"x-new-secret-value","verify":false}"#;
    let paths = [
        ("GET", "/v1/workspaces/ACME-CORP", None),
        ("GET", "/v1/workspaces/Acme-Corp/integrations", None),
        ("GET", "/v1/workspaces/acme-corp/", None),
        ("GET", "/v1/workspaces/acme-corp/integrations/", None),
        ("GET", "/v1/workspaces/acme%2Dcorp", None),
        ("GET", "/v1/workspaces/%61cme-corp/integrations", None),
        ("GET", "/v1/workspaces/globex/../acme-corp", None),
        (
            "GET",
            "/v1/workspaces/globex/../acme-corp/integrations",
            None,
        ),
        (
            "GET",
            "/v1/workspaces/globex/%2e%2e/acme-corp/integrations",
            None,
        ),
        (
            "GET",
            "/v1/workspaces/globex%2F..%2Facme-corp/integrations",
            None,
        ),
        ("GET", "/v1/workspaces/acme-corp%00/integrations", None),
        ("GET", "/v1/workspaces/acme-corp%20/integrations", None),
        ("GET", "//v1/workspaces/acme-corp/integrations", None),
        ("GET", "/v1//workspaces/acme-corp/integrations", None),
        ("GET", "/V1/workspaces/acme-corp/integrations", None),
        (
            "GET",
            "/v1/workspaces/acme-corp/audit/export?format=csv",
            None,
        ),
        (
            "GET",
            "/v1/workspaces/acme-corp/audit/export?format=csv&workspace=globex",
            None,
        ),
        ("GET", "/v1/workspaces/acme-corp/status", None),
        ("GET", "/v1/workspaces/./acme-corp/status", None),
        (
            "POST",
            "/v1/workspaces/acme-corp/integrations/falcon/credentials/rotate",
            Some(rotate),
        ),
        (
            "POST",
            "/v1/workspaces/ACME-corp/integrations/falcon/credentials/rotate",
            Some(rotate),
        ),
        (
            "POST",
            "/v1/workspaces/globex/../acme-corp/integrations/falcon/credentials/rotate",
            Some(rotate),
        ),
        (
            "POST",
            "/v1/workspaces/acme-corp/integrations/falcon/credentials/rollback",
            None,
        ),
        (
            "DELETE",
            "/v1/workspaces/acme-corp/integrations/falcon",
            None,
        ),
        (
            "POST",
            "/v1/workspaces/acme-corp/integrations/falcon/test",
            None,
        ),
        (
            "POST",
            "/v1/workspaces/acme-corp/integrations/falcon/resume",
            None,
        ),
        // The slug in the body never overrides the path.
        (
            "POST",
            "/v1/workspaces/globex/integrations/falcon/credentials/rotate",
            Some(r#"{"secret":"x-new-secret-value","verify":false,"workspace":"acme-corp"}"#),
        ),
        (
            "DELETE",
            "/v1/workspaces/globex",
            Some(r#"{"confirm":"acme-corp"}"#),
        ),
        (
            "POST",
            "/v1/workspaces/globex/integrations",
            Some(
                r#"{"name":"x","kind":"crowdstrike","workspace":"acme-corp","secret":"s","settings":{}}"#,
            ),
        ),
    ];
    for (method, path, body) in paths {
        let (status, text) = api.raw(method, path, &globex, body).await;
        assert!(
            matches!(status, 400 | 403 | 404 | 422),
            "{method} {path} answered {status}: {text}"
        );
        assert!(
            !text.contains(CID_FAKE),
            "{method} {path} leaked acme data: {text}"
        );
    }
    // Nothing in acme's chain was done by the globex token, and its credential is still v1.
    let db = api.env.db();
    let acme_id: String = db
        .query_row(
            "SELECT id FROM workspaces WHERE slug = 'acme-corp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let by_globex: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_entries WHERE workspace_id = ?1 AND actor LIKE ?2",
            rusqlite::params![acme_id, format!("token:{globex_id}%")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(by_globex, 0);
    let r = api
        .req(
            "GET",
            "/v1/workspaces/acme-corp/integrations/falcon",
            Some(&all_admin),
            None,
        )
        .await;
    assert_eq!(r.json()["credential_version"], 1, "{}", r.body);
    // The same spellings with acme's own token: the canonical and decoded-equal ones work.
    let (_, acme) = api.token(&["--workspace", "acme-corp", "--scope", "read"]);
    let (s, _) = api
        .raw("GET", "/v1/workspaces/acme%2Dcorp", &acme, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .raw("GET", "/v1/workspaces/ACME-CORP", &acme, None)
        .await;
    assert_eq!(s, 404);
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_rotations_leave_one_winner() {
    let api = Arc::new(Api::start().await);
    let (_, admin) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    let r = api
        .req(
            "POST",
            "/v1/workspaces/acme-corp/integrations",
            Some(&admin),
            Some(falcon_body("falcon", "http://127.0.0.1:9", false)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = "/v1/workspaces/acme-corp/integrations/falcon/credentials/rotate";
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let api = api.clone();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            api.req(
                "POST",
                path,
                Some(&admin),
                Some(json!({"secret": SECRET2, "verify": false, "expected_version": 1})),
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut conflict = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => {
                ok += 1;
                assert_eq!(r.json()["version"], 2);
            }
            409 => {
                conflict += 1;
                assert_problem(&r, 409);
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((ok, conflict), (1, 49));
    let r = api
        .req(
            "GET",
            "/v1/workspaces/acme-corp/integrations/falcon",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.json()["credential_version"], 2);
    let out = api.env.run(&["audit", "verify", "acme-corp"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_changes_are_audited_with_the_token_and_the_chains_verify() {
    let api = Api::start().await;
    let (admin_id, admin) = api.token(&[
        "--all-workspaces",
        "--scope",
        "admin",
        "--name",
        "provisioning",
    ]);

    let r = api
        .req(
            "POST",
            "/v1/workspaces",
            Some(&admin),
            Some(json!({"slug": "initech", "plan": "enterprise", "description": "SLA 15m"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let create_request_id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json()["slug"], "initech");
    let r = api
        .req(
            "POST",
            "/v1/workspaces",
            Some(&admin),
            Some(json!({"slug": "initech"})),
        )
        .await;
    assert_problem(&r, 409);
    let r = api
        .req(
            "POST",
            "/v1/workspaces",
            Some(&admin),
            Some(json!({"slug": "Bad Slug"})),
        )
        .await;
    assert_problem(&r, 422);
    assert_eq!(r.json()["field"], "slug");

    let ws = "/v1/workspaces/initech";
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(falcon_body("falcon", "http://127.0.0.1:9", false)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let i = format!("{ws}/integrations/falcon");
    let r = api
        .req(
            "POST",
            &format!("{i}/credentials/rotate"),
            Some(&admin),
            Some(json!({"secret": SECRET2, "verify": false})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(2)),
        "{}",
        r.body
    );
    let r = api
        .req(
            "POST",
            &format!("{i}/credentials/rollback"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(1)),
        "{}",
        r.body
    );
    let r = api
        .req(
            "POST",
            &format!("{i}/credentials/rollback"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&r, 404);
    let r = api
        .req("POST", &format!("{i}/resume"), Some(&admin), None)
        .await;
    assert_eq!(r.json()["resumed"], false, "{}", r.body);
    let r = api
        .req("GET", &format!("{ws}/status"), Some(&admin), None)
        .await;
    assert_eq!(
        r.json()["integrations"][0]["integration"],
        "falcon",
        "{}",
        r.body
    );
    let r = api.req("GET", "/v1/status", Some(&admin), None).await;
    assert_eq!(
        r.json()["integrations"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    let r = api
        .req("GET", &format!("{ws}/audit/verify"), Some(&admin), None)
        .await;
    assert_eq!(r.json()["verified"], true, "{}", r.body);

    // Export: the same bytes as the CLI's (the CLI's later export has one more entry: ours).
    let r = api
        .req(
            "GET",
            &format!("{ws}/audit/export?format=csv"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let cli = api.env.ok(&[
        "audit", "export", "initech", "--format", "csv", "--output", "-",
    ]);
    assert!(
        cli.starts_with(&r.body),
        "API export is not a prefix of the CLI's:\n{}\n---\n{cli}",
        r.body
    );
    assert!(cli.len() > r.body.len());
    let r = api
        .req(
            "GET",
            &format!("{ws}/audit/export?format=xml"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&r, 422);
    assert_eq!(r.json()["field"], "format");
    let r = api
        .req(
            "GET",
            &format!("{ws}/audit/export?format=jsonl&since=1h"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = api.req("DELETE", &i, Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .req(
            "DELETE",
            ws,
            Some(&admin),
            Some(json!({"confirm": "initech-x"})),
        )
        .await;
    assert_problem(&r, 422);
    assert_eq!(r.json()["field"], "confirm");
    let r = api
        .req(
            "DELETE",
            ws,
            Some(&admin),
            Some(json!({"confirm": "initech"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.req("GET", ws, Some(&admin), None).await;
    assert_problem(&r, 404);

    // Every entry the API wrote names the token and the client address.
    let db = api.env.db();
    let id: String = db
        .query_row(
            "SELECT id FROM workspaces WHERE slug = 'initech'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut stmt = db
        .prepare("SELECT actor, action, request_id FROM audit_entries WHERE workspace_id = ?1 ORDER BY seq")
        .unwrap();
    let rows: Vec<(String, String, String)> = stmt
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    for a in [
        "workspace.created",
        "integration.connected",
        "credential.rotated",
        "credential.rolled_back",
        "audit.exported",
        "integration.disconnected",
        "workspace.deleted",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let expected_actor = format!("token:{admin_id}(provisioning)@127.0.0.1");
    for (actor, action, _) in &rows {
        if actor != "test-operator" {
            assert_eq!(actor, &expected_actor, "{action}");
        }
    }
    assert_eq!(
        rows[0].2, create_request_id,
        "the audit entry carries the response's x-request-id"
    );
    for ws in ["initech", "acme-corp", "seliq-gateway"] {
        let out = api.env.run(&["audit", "verify", ws]);
        assert_eq!(code(&out), 0, "{ws}: {}", stderr(&out));
    }
    // The gateway chain holds the all-workspaces token's creation; the API verifies it too.
    let r = api
        .req("GET", "/v1/gateway/audit/verify", Some(&admin), None)
        .await;
    assert_eq!(r.json()["verified"], true, "{}", r.body);
    let r = api
        .req(
            "GET",
            "/v1/gateway/audit/export?format=json",
            Some(&admin),
            None,
        )
        .await;
    assert!(
        r.body.contains("token.created") && r.body.contains(&admin_id),
        "{}",
        r.body
    );
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vendor_rejection_is_424_and_no_secret_ever_comes_back() {
    let api = Api::start().await;
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 10,
        ..Default::default()
    })
    .await;
    let (_, admin) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    let ws = "/v1/workspaces/acme-corp";
    let mut body = falcon_body("falcon", &falcon.uri(), true);
    body["settings"]["cid"] = json!(CID_A);
    // Wrong secret: the vendor says no.
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_problem(&r, 424);
    assert_eq!(r.json()["type"], "urn:seliq:problem:credential-rejected");
    // The right one.
    body["secret"] = json!(PARENT_SECRET);
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let i = format!("{ws}/integrations/falcon");
    let r = api
        .req("POST", &format!("{i}/test"), Some(&admin), None)
        .await;
    assert_eq!(
        (r.status, r.json()["accepted"].clone()),
        (200, json!(true)),
        "{}",
        r.body
    );
    // A rejected rotation leaves version 1 current.
    let r = api
        .req(
            "POST",
            &format!("{i}/credentials/rotate"),
            Some(&admin),
            Some(json!({"secret": SECRET2})),
        )
        .await;
    assert_problem(&r, 424);
    let r = api.req("GET", &i, Some(&admin), None).await;
    assert_eq!(r.json()["credential_version"], 1);

    // Secrets in the wrong place are never echoed.
    for bad in [
        json!({"secret": SECRET, "verify": SECRET}),
        json!({"secret": SECRET, "expected_version": SECRET}),
        json!({"secret": [SECRET]}),
        json!({"secret": SECRET, "client_id": {"x": SECRET}}),
        json!({"secret": SECRET, SECRET: 1}),
    ] {
        let r = api
            .req(
                "POST",
                &format!("{i}/credentials/rotate"),
                Some(&admin),
                Some(bad),
            )
            .await;
        assert_problem(&r, 422);
    }
    // The request's own secret pasted into a settings field is not quoted back either.
    let mut bad = body.clone();
    bad["name"] = json!("falcon-4");
    bad["settings"]["cid"] = json!(PARENT_SECRET);
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(bad),
        )
        .await;
    assert!(r.status == 422 || r.status == 409, "{}", r.body);
    let mut bad = body.clone();
    bad["name"] = json!("falcon-2");
    bad["secret"] = json!("");
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(bad),
        )
        .await;
    assert_problem(&r, 422);
    assert_eq!(r.json()["field"], "secret");
    let mut bad = body.clone();
    bad["settings"]["tenant_id"] = json!("x");
    bad["name"] = json!("falcon-3");
    let r = api
        .req(
            "POST",
            &format!("{ws}/integrations"),
            Some(&admin),
            Some(bad),
        )
        .await;
    assert_problem(&r, 422);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("tenant_id"),
        "{}",
        r.body
    );

    // Malformed JSON 400, wrong media type 415, oversized body 413: problem documents all.
    let r = api
        .client
        .post(format!("{}{i}/credentials/rotate", api.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!("{{\"secret\": \"{SECRET}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let r = api
        .client
        .post(format!("{}{i}/credentials/rotate", api.base))
        .bearer_auth(&admin)
        .body(json!({"secret": SECRET}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let big = json!({"secret": "x".repeat(100 * 1024)});
    let r = api
        .req(
            "POST",
            &format!("{i}/credentials/rotate"),
            Some(&admin),
            Some(big),
        )
        .await;
    assert_problem(&r, 413);
    let r = api.req("GET", "/v1/nope", Some(&admin), None).await;
    assert_problem(&r, 404);
    assert!(r.headers.get("x-request-id").is_some());
    let r = api.req("PUT", "/v1/workspaces", Some(&admin), None).await;
    assert_problem(&r, 405);
    assert!(r.headers.get("x-request-id").is_some());

    // The caller's request id comes back when it is a UUID.
    let id = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
    let r = api
        .client
        .get(format!("{}/v1/workspaces", api.base))
        .bearer_auth(&admin)
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], id);
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scoped_tokens_see_only_their_workspace_in_lists() {
    let api = Api::start().await;
    let (_, acme) = api.token(&["--workspace", "acme-corp", "--scope", "read"]);
    let (_, all) = api.token(&["--all-workspaces", "--scope", "read"]);
    let r = api.req("GET", "/v1/workspaces", Some(&acme), None).await;
    let slugs: Vec<String> = r.json()["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["slug"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slugs, ["acme-corp"]);
    let r = api.req("GET", "/v1/workspaces", Some(&all), None).await;
    assert_eq!(
        r.json()["workspaces"].as_array().unwrap().len(),
        2,
        "{}",
        r.body
    );
    // The gateway chain is no workspace.
    assert!(!r.body.contains("seliq-gateway"));
    let r = api
        .req("GET", "/v1/workspaces/seliq-gateway", Some(&all), None)
        .await;
    assert_problem(&r, 404);
    let r = api
        .req("GET", "/v1/gateway/audit/verify", Some(&acme), None)
        .await;
    assert_problem(&r, 403);
    // A token of a deleted workspace stops working.
    api.env
        .ok(&["workspace", "delete", "acme-corp", "--confirm", "acme-corp"]);
    let r = api.req("GET", "/v1/workspaces", Some(&acme), None).await;
    assert_problem(&r, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_can_come_from_the_schedulers_live_view_and_stays_confined() {
    use seliq_gateway::serve::status::IntegrationStatus;
    let live = |ws: &str| IntegrationStatus {
        workspace: ws.to_owned(),
        integration: "falcon".to_owned(),
        vendor: "crowdstrike".to_owned(),
        state: "polling",
        poll_interval_secs: 60,
        last_poll: None,
        next_poll: None,
        lag_seconds: Some(1.5),
        seconds_since_last_success: None,
        last_error: None,
        waiting_on_sink: None,
        replica: None,
    };
    let api = Api::start_with(|s| {
        // A scheduler that ignores the workspace asked for: the API still confines the answer.
        s.with_live_status(Arc::new(move |_only: Option<String>| {
            Box::pin(async move { Some(vec![live("acme-corp"), live("globex")]) })
                as seliq_gateway::api::LiveStatusAnswer
        }))
    })
    .await;
    let (_, acme) = api.token(&["--workspace", "acme-corp", "--scope", "read"]);
    let (_, all) = api.token(&["--all-workspaces", "--scope", "read"]);
    let r = api.req("GET", "/v1/status", Some(&acme), None).await;
    let list = r.json()["integrations"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{}", r.body);
    assert_eq!(list[0]["workspace"], "acme-corp");
    assert_eq!(list[0]["state"], "polling");
    let r = api.req("GET", "/v1/status", Some(&all), None).await;
    assert_eq!(r.json()["integrations"].as_array().unwrap().len(), 2);
    let r = api
        .req("GET", "/v1/workspaces/globex/status", Some(&all), None)
        .await;
    assert_eq!(r.json()["integrations"][0]["workspace"], "globex");
    let r = api
        .req("GET", "/v1/workspaces/globex/status", Some(&acme), None)
        .await;
    assert_problem(&r, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openapi_document_describes_every_endpoint() {
    let api = Api::start().await;
    let r = api.req("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        r.body
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path, _, _, _) in endpoints() {
        let templ = path
            .split('?')
            .next()
            .unwrap()
            .replace("acme-corp", "{slug}")
            .replace("/falcon", "/{name}")
            .replace("/sla/critical", "/sla/{severity}")
            .replace("/template/low", "/template/{severity}");
        let op = &doc["paths"][&templ][method.to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {templ} missing from the OpenAPI document"
        );
        assert!(
            op["security"].is_array(),
            "{method} {templ} has no security"
        );
    }
    let rotate = &doc["components"]["schemas"]["RotateCredential"]["properties"]["secret"];
    assert_eq!(rotate["format"], "password", "{rotate}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_shown_once_audited_in_their_chain_and_retired_by_a_master_key_rotation() {
    let api = Api::start().await;
    let (id, token) = api.token(&[
        "--workspace",
        "acme-corp",
        "--scope",
        "read",
        "--name",
        "dash",
    ]);
    assert!(token.starts_with(&format!("slq_{id}_")));
    // Never again: not in the list, not in the database.
    let list = api.env.ok(&["token", "list", "--json"]);
    assert!(!list.contains(&token[17..81]), "{list}");
    assert!(!list.contains("secret_mac"), "{list}");
    let db = api.env.db();
    let dump: String = db
        .query_row(
            "SELECT group_concat(secret_mac || id || name) FROM api_tokens",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(&token[17..81]));
    let r = api
        .req("GET", "/v1/workspaces/acme-corp", Some(&token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(code(&api.env.run(&["token", "revoke", &id])), 0);
    assert_eq!(code(&api.env.run(&["token", "revoke", &id])), 3);
    assert_eq!(code(&api.env.run(&["token", "revoke", "000000000000"])), 4);
    let r = api
        .req("GET", "/v1/workspaces/acme-corp", Some(&token), None)
        .await;
    assert_problem(&r, 401);
    let actions: Vec<String> = {
        let mut stmt = db
            .prepare("SELECT a.action FROM audit_entries a JOIN workspaces w ON w.id = a.workspace_id WHERE w.slug = 'acme-corp' ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        actions,
        ["workspace.created", "token.created", "token.revoked"]
    );
    let out = api.env.run(&["audit", "verify", "acme-corp"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Bad names and both-or-neither workspace flags are usage errors.
    assert_eq!(
        code(&api.env.run(&[
            "token",
            "create",
            "--workspace",
            "acme-corp",
            "--scope",
            "read",
            "--name",
            "a(b)"
        ])),
        2
    );
    assert_eq!(
        code(&api.env.run(&["token", "create", "--scope", "read"])),
        2
    );
    assert_eq!(
        code(&api.env.run(&[
            "token",
            "create",
            "--workspace",
            "acme-corp",
            "--all-workspaces",
            "--scope",
            "read"
        ])),
        2
    );
    assert_eq!(
        code(&api.env.run(&[
            "token",
            "create",
            "--workspace",
            "nope-corp",
            "--scope",
            "read"
        ])),
        4
    );

    // A master-key rotation retires every token.
    let (_, all) = api.token(&["--all-workspaces", "--scope", "read"]);
    let new_key = api.env.dir.path().join("new-master.key");
    seliq_gateway::vault::MasterKey::generate()
        .unwrap()
        .write_file(&new_key)
        .unwrap();
    let out = api.env.run(&[
        "vault",
        "rotate-master-key",
        "--new-key-file",
        common::path_str(&new_key),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let Api { env, .. } = api;
    let api = Api::on(env, |s| s).await;
    let r = api.req("GET", "/v1/workspaces", Some(&all), None).await;
    assert_problem(&r, 401);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("previous master key"),
        "{}",
        r.body
    );
    let (_, fresh) = api.token(&["--all-workspaces", "--scope", "read"]);
    let r = api.req("GET", "/v1/workspaces", Some(&fresh), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for ws in ["acme-corp", "globex", "seliq-gateway"] {
        let out = api.env.run(&["audit", "verify", ws]);
        assert_eq!(code(&out), 0, "{ws}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_past_the_timeout_answers_503_as_a_problem() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let slow = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)))
        .mount(&slow)
        .await;
    let api = Api::start_with(|s| s.with_limits(1024, std::time::Duration::from_millis(500))).await;
    let (_, admin) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    let started = std::time::Instant::now();
    let r = api
        .req(
            "POST",
            "/v1/workspaces/acme-corp/integrations",
            Some(&admin),
            Some(falcon_body("falcon", &slow.uri(), true)),
        )
        .await;
    assert_problem(&r, 503);
    assert!(r.headers.get("x-request-id").is_some());
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // The smaller body limit holds too.
    let r = api
        .req(
            "POST",
            "/v1/workspaces/acme-corp/integrations/falcon/credentials/rotate",
            Some(&admin),
            Some(json!({"secret": "y".repeat(2048)})),
        )
        .await;
    assert_problem(&r, 413);
    api.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sla_terms_change_through_the_api_as_through_the_cli_and_are_audited() {
    let api = Api::start().await;
    let (_, all_admin) = api.token(&["--all-workspaces", "--scope", "admin"]);
    let (_, acme_admin) = api.token(&["--workspace", "acme-corp", "--scope", "admin"]);
    let ws = "/v1/workspaces/acme-corp";

    // An override moves acme-corp only; the CLI sees it; globex still follows the template.
    let r = api
        .req(
            "PUT",
            &format!("{ws}/sla/critical"),
            Some(&acme_admin),
            Some(json!({"tta": "10m"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed"], true);
    let version = r.json()["policy_version"].as_i64().unwrap();
    let shown: Value =
        serde_json::from_str(&api.env.ok(&["sla", "show", "acme-corp", "--json"])).unwrap();
    assert_eq!(shown["targets"]["critical"]["tta"], "10m", "{shown}");
    assert_eq!(shown["policy_version"], version);
    let r = api
        .req("GET", "/v1/workspaces/globex/sla", Some(&all_admin), None)
        .await;
    assert_eq!(r.json()["targets"]["critical"]["tta"], "15m", "{}", r.body);
    // The same value again: no new version.
    let r = api
        .req(
            "PUT",
            &format!("{ws}/sla/critical"),
            Some(&acme_admin),
            Some(json!({"tta": "10m"})),
        )
        .await;
    assert_eq!(
        (
            r.json()["changed"].clone(),
            r.json()["policy_version"].clone()
        ),
        (json!(false), Value::Null)
    );

    // Every bad value is a 422 naming its field, and changes nothing.
    for (path, body, field) in [
        (format!("{ws}/sla/critical"), json!({"tta": "0m"}), "tta"),
        (format!("{ws}/sla/critical"), json!({"ttr": "-4h"}), "ttr"),
        (format!("{ws}/sla/critical"), json!({}), "tta"),
        (
            format!("{ws}/calendar"),
            json!({"zone": "Mars/Olympus", "hours": "mon-fri 09:00-17:00"}),
            "zone",
        ),
        (
            format!("{ws}/calendar"),
            json!({"zone": "UTC", "hours": "mon 09:00-12:00, mon 11:00-13:00"}),
            "hours",
        ),
        (
            format!("{ws}/calendar"),
            json!({"zone": "UTC", "hours": "24/7", "holidays": ["2026-13-01"]}),
            "holidays",
        ),
        (
            format!("{ws}/assignment"),
            json!({"model": "dedicated", "analysts": ["a@x.example", "b@x.example", "c@x.example"], "escalation_owner": "lead@x.example"}),
            "model",
        ),
        (
            format!("{ws}/assignment"),
            json!({"model": "tiered", "secondary": "night", "escalation_owner": "lead@x.example"}),
            "primary",
        ),
        (
            format!("{ws}/assignment"),
            json!({"model": "pool", "queue": "q", "escalation_owner": "not an analyst!"}),
            "escalation_owner",
        ),
    ] {
        let r = api
            .req("PUT", &path, Some(&acme_admin), Some(body.clone()))
            .await;
        assert_problem(&r, 422);
        assert_eq!(r.json()["field"], field, "{body}: {}", r.body);
    }
    let r = api
        .req(
            "PUT",
            &format!("{ws}/sla/urgent"),
            Some(&acme_admin),
            Some(json!({"tta": "1m"})),
        )
        .await;
    assert_problem(&r, 404);
    let after: Value =
        serde_json::from_str(&api.env.ok(&["sla", "show", "acme-corp", "--json"])).unwrap();
    assert_eq!(
        after["policy_version"], version,
        "a refused change wrote nothing"
    );

    // Calendar and assignment, then a reset; each a new version.
    let r = api
        .req("PUT", &format!("{ws}/calendar"), Some(&acme_admin), Some(json!({"zone": "America/New_York", "hours": "mon-fri 08:00-18:00", "holidays": ["2026-12-25"]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .req("GET", &format!("{ws}/calendar"), Some(&acme_admin), None)
        .await;
    assert_eq!(r.json()["zone"], "America/New_York", "{}", r.body);
    let r = api
        .req("PUT", &format!("{ws}/assignment"), Some(&acme_admin), Some(json!({"model": "tiered", "primary": "alice@mssp.example", "secondary": "night-pool", "after_hours": true, "peak_over": 50, "escalation_owner": "lead@mssp.example"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .req("GET", &format!("{ws}/assignment"), Some(&acme_admin), None)
        .await;
    let got = r.json()["assignment"].clone();
    assert_eq!(got["model"], "tiered", "{}", r.body);
    // What GET answers can be PUT back as it is.
    let r = api
        .req(
            "PUT",
            &format!("{ws}/assignment"),
            Some(&acme_admin),
            Some(got),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["changed"].clone()),
        (200, json!(false)),
        "{}",
        r.body
    );
    let r = api
        .req("DELETE", &format!("{ws}/sla"), Some(&acme_admin), None)
        .await;
    assert_eq!(r.json()["changed"], true, "{}", r.body);

    // The template: all-workspaces admins only.
    let r = api
        .req(
            "PUT",
            "/v1/sla/template/low",
            Some(&acme_admin),
            Some(json!({"ttr": "3bd"})),
        )
        .await;
    assert_problem(&r, 403);
    let r = api
        .req(
            "PUT",
            "/v1/sla/template/low",
            Some(&all_admin),
            Some(json!({"ttr": "3bd"})),
        )
        .await;
    assert_eq!(r.json()["changed"], true, "{}", r.body);
    let r = api
        .req("GET", "/v1/sla/template", Some(&acme_admin), None)
        .await;
    assert_eq!(r.json()["template"]["low"]["ttr"], "3bd", "{}", r.body);

    // A report in each format, with its media type; an unknown format is a 422.
    for (format, media) in [
        ("csv", "text/csv"),
        ("json", "application/json"),
        ("html", "text/html"),
    ] {
        let r = api
            .req(
                "GET",
                &format!("{ws}/sla/report?format={format}&since=7d"),
                Some(&acme_admin),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(media)
        );
        assert!(
            r.headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("acme-corp-sla-report")
        );
    }
    let r = api
        .req(
            "GET",
            &format!("{ws}/sla/report?format=pdf"),
            Some(&acme_admin),
            None,
        )
        .await;
    assert_problem(&r, 422);

    // Every change and report is in the workspace's chain (the template change in every
    // chain), attributed to the token, and the chains verify.
    let out = api.env.data_dir().join("acme-audit.jsonl");
    api.env.ok(&[
        "audit",
        "export",
        "acme-corp",
        "--format",
        "jsonl",
        "--output",
        out.to_str().unwrap(),
    ]);
    let log = std::fs::read_to_string(&out).unwrap();
    for action in [
        "sla.policy_changed",
        "calendar.changed",
        "assignment.changed",
        "sla.template_changed",
        "report.generated",
    ] {
        assert!(log.contains(action), "{action} missing from the audit log");
    }
    assert!(
        log.contains("token:"),
        "changes are attributed to the token"
    );
    api.env.ok(&["audit", "verify", "acme-corp"]);
    api.env.ok(&["audit", "verify", "globex"]);
    api.assert_no_secret();
}
