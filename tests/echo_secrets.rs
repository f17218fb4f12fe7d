//! Issue 13, defect 3: a vendor (or a proxy in front of it) that echoes our request in its error
//! text must not get the credential into stderr, logs, the database or the audit log.
//!
//! For each vendor a wiremock server answers every request with an error that echoes the full
//! request (method, path, every header, the body) in the vendor's own error envelope, plus what a
//! logging proxy would add (the secret's percent-encoded and base64 forms, a `Basic` pair). Phase
//! one: the token/login endpoint echoes. Phase two: the token endpoint issues a token and every
//! data endpoint echoes (so the bearer token or Splunk session key comes back in the echo). Every
//! command that reaches the vendor runs with `RUST_LOG=debug` in both log formats; then stderr,
//! stdout, the database files and every audit export format are searched for the secrets, their
//! encoded forms and the issued tokens.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{Env, code, stderr};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use wiremock::matchers::{any, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const WS: &str = "acme-corp";

/// Which vendor's error envelope (and status) an echo is wrapped in.
#[derive(Clone, Copy, Debug)]
enum Vendor {
    Falcon,
    Sentinel,
    Splunk,
}

/// Echoes the request back as the error text, the way a debugging proxy or a careless vendor
/// does: every header, the body, and (like a proxy that logs what it saw) the credential it
/// found in the form in other encodings: percent-encoded, base64, and as a `Basic` pair.
struct Echo {
    vendor: Vendor,
    token_endpoint: bool,
}

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let body = String::from_utf8_lossy(&req.body);
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let field = |names: &[&str]| {
            form.iter()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let secret = field(&["client_secret", "password"]);
        let principal = field(&["client_id", "username"]);
        // The secret first, so even an excerpt of a few hundred characters would hold it.
        let echo = format!(
            "proxy saw {secret}; Proxy-Authorization: Basic {}; x-replay {} / {}; request {} {} \
             headers [{}] body [{}]",
            STANDARD.encode(format!("{principal}:{secret}")),
            utf8_percent_encode(&secret, NON_ALPHANUMERIC),
            STANDARD.encode(&secret),
            req.method,
            req.url.path(),
            headers.join("; "),
            body,
        );
        let (status, body) = match (self.vendor, self.token_endpoint) {
            (Vendor::Falcon, true) => (401, falcon_envelope(401, &echo)),
            (Vendor::Falcon, false) => (400, falcon_envelope(400, &echo)),
            (Vendor::Sentinel, true) => (
                401,
                serde_json::json!({
                    "error": "invalid_client",
                    "error_description": format!("AADSTS7000215: {echo}"),
                    "error_codes": [7000215],
                    "trace_id": echo,
                }),
            ),
            (Vendor::Sentinel, false) => (
                400,
                serde_json::json!({"error": {"code": "BadRequest", "message": echo}}),
            ),
            (Vendor::Splunk, true) => (
                401,
                serde_json::json!({"messages": [{"type": "WARN", "text": echo}]}),
            ),
            // A retryable status with a plain-text body: the HTTP layer's own excerpt path.
            (Vendor::Splunk, false) => {
                return ResponseTemplate::new(503)
                    .insert_header("Retry-After", "0")
                    .set_body_string(echo);
            }
        };
        ResponseTemplate::new(status).set_body_json(body)
    }
}

fn falcon_envelope(code: u16, echo: &str) -> serde_json::Value {
    serde_json::json!({
        "meta": {"trace_id": echo},
        "errors": [{"code": code, "message": echo}],
        "resources": null,
    })
}

struct Case {
    vendor: Vendor,
    name: &'static str,
    token_path: &'static str,
    principal: &'static str,
    secret: &'static str,
    rotated: &'static str,
    issued_token: &'static str,
    token_reply: serde_json::Value,
    token_status: u16,
}

/// Every secret has characters that change under form, percent, JSON and base64 encoding, and a
/// distinctive alphanumeric core that no encoding splits: finding the core anywhere is a leak.
fn cases() -> Vec<Case> {
    vec![
        Case {
            vendor: Vendor::Falcon,
            name: "falcon",
            token_path: "^/oauth2/token$",
            principal: "5d0c1ab2e3f44c5d9e8f7a6b5c4d3e2f",
            secret: "Fal con+Sec/ret=&%FalconCoreQ7731",
            rotated: "Rot ated+Fal/con=&%FalconRotCoreZ2",
            issued_token: "FalconIssuedToken.eyJ4417abcdef",
            token_reply: serde_json::json!({"access_token": "FalconIssuedToken.eyJ4417abcdef", "expires_in": 1799, "token_type": "bearer"}),
            token_status: 201,
        },
        Case {
            vendor: Vendor::Sentinel,
            name: "sentinel",
            token_path: "/oauth2/v2.0/token$",
            principal: "22222222-2222-4222-8222-222222222222",
            secret: "Sen tinel+Sec/ret=&%SentinelCoreK5512",
            rotated: "Rot ated+Sen/tinel=&%SentinelRotCoreW8",
            issued_token: "eyJ0eXAiOiJKV1Qi.SentinelIssuedToken-4417",
            token_reply: serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAiOiJKV1Qi.SentinelIssuedToken-4417"}),
            token_status: 200,
        },
        Case {
            vendor: Vendor::Splunk,
            name: "splunk",
            token_path: "^/services/auth/login$",
            principal: "svc-seliq",
            secret: "Spl unk+Pass/word=&%SplunkCoreM3390",
            rotated: "Rot ated+Spl/unk=&%SplunkRotCoreV4",
            issued_token: "SplunkIssued^Session_Key4417abcdef",
            token_reply: serde_json::json!({"sessionKey": "SplunkIssued^Session_Key4417abcdef"}),
            token_status: 200,
        },
    ]
}

/// The secret in every form the gateway or an echoing proxy could write it.
fn forms(secret: &str, principal: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_owned(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(secret, NON_ALPHANUMERIC)
            .to_string()
            .to_ascii_lowercase(),
    ];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
        out.push(engine.encode(format!("{principal}:{secret}")));
    }
    // The alphanumeric core: catches any partial leak that keeps letters and digits.
    let core: String = secret
        .rsplit('%')
        .next()
        .expect("every test secret has a core after its last %")
        .to_owned();
    out.push(core);
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Collects every byte the gateway wrote, per command, for the final search.
#[derive(Default)]
struct Outputs(Vec<(String, Vec<u8>)>);

impl Outputs {
    fn add(&mut self, what: String, out: &std::process::Output) {
        self.0
            .push((format!("stdout of {what}"), out.stdout.clone()));
        self.0
            .push((format!("stderr of {what}"), out.stderr.clone()));
    }

    fn assert_none(&self, needles: &[String]) {
        for (what, bytes) in &self.0 {
            for n in needles {
                assert!(
                    !contains(bytes, n),
                    "{n:?} leaked into {what}:\n{}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
}

async fn gw(env: &Env, args: &[&str], secret: &str, format: &str) -> std::process::Output {
    let mut c = env.cmd();
    c.env("RUST_LOG", "debug")
        .env("S", secret)
        .args(["--log-format", format])
        .args(args);
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run gateway")
}

fn add_args<'a>(case: &'a Case, uri: &'a str, name: &'a str) -> Vec<&'a str> {
    let mut a = vec!["integration", "add", WS, name, "--kind"];
    match case.vendor {
        Vendor::Falcon => a.extend([
            "crowdstrike",
            "--client-id",
            case.principal,
            "--cid",
            "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6",
            "--base-url",
            uri,
        ]),
        Vendor::Sentinel => a.extend([
            "sentinel",
            "--tenant-id",
            "11111111-1111-4111-8111-111111111111",
            "--client-id",
            case.principal,
            "--subscription-id",
            "33333333-3333-4333-8333-333333333333",
            "--resource-group",
            "rg-echo",
            "--workspace-name",
            "ws-echo",
            "--authority-url",
            uri,
            "--management-url",
            uri,
        ]),
        Vendor::Splunk => a.extend([
            "splunk",
            "--url",
            uri,
            "--app",
            "search",
            "--index",
            "echo_idx",
            "--username",
            case.principal,
        ]),
    }
    a.extend(["--allow-insecure-http", "--secret-env", "S"]);
    a
}

async fn mount_echo_everywhere(server: &MockServer, case: &Case, token_endpoint_ok: bool) {
    server.reset().await;
    if token_endpoint_ok {
        Mock::given(method("POST"))
            .and(path_regex(case.token_path))
            .respond_with(
                ResponseTemplate::new(case.token_status).set_body_json(case.token_reply.clone()),
            )
            .with_priority(1)
            .mount(server)
            .await;
    } else {
        Mock::given(path_regex(case.token_path))
            .respond_with(Echo {
                vendor: case.vendor,
                token_endpoint: true,
            })
            .with_priority(1)
            .mount(server)
            .await;
    }
    Mock::given(any())
        .respond_with(Echo {
            vendor: case.vendor,
            token_endpoint: false,
        })
        .with_priority(10)
        .mount(server)
        .await;
}

/// The gateway did send the secret (or the token) to the echoing vendor: otherwise the test
/// would prove nothing.
async fn assert_vendor_saw(server: &MockServer, needle: &str) {
    let requests = server.received_requests().await.unwrap_or_default();
    let seen = requests.iter().any(|r| {
        contains(&r.body, needle)
            || r.headers
                .iter()
                .any(|(_, v)| contains(v.as_bytes(), needle))
    });
    assert!(seen, "the mock never received {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_echoed_by_vendors_reach_no_output_log_database_or_audit_export() {
    let env = Env::new();
    env.ok(&["workspace", "create", WS]);
    let mut outputs = Outputs::default();
    let mut needles = Vec::new();

    for case in cases() {
        needles.extend(forms(case.secret, case.principal));
        needles.extend(forms(case.rotated, case.principal));
        needles.push(case.issued_token.to_owned());
        let server = MockServer::start().await;
        let uri = server.uri();

        // Phase one: the token (login) endpoint echoes the credential form back.
        mount_echo_everywhere(&server, &case, false).await;
        for format in ["text", "json"] {
            let out = gw(&env, &add_args(&case, &uri, case.name), case.secret, format).await;
            assert_eq!(code(&out), 5, "{} add: {}", case.name, stderr(&out));
            assert!(
                stderr(&out).contains("[REDACTED]"),
                "the echo should reach stderr, scrubbed: {}",
                stderr(&out)
            );
            outputs.add(format!("{} add with check ({format})", case.name), &out);
        }
        let mut no_verify = add_args(&case, &uri, case.name);
        no_verify.push("--no-verify");
        let out = gw(&env, &no_verify, case.secret, "text").await;
        assert_eq!(
            code(&out),
            0,
            "{} add --no-verify: {}",
            case.name,
            stderr(&out)
        );
        outputs.add(format!("{} add --no-verify", case.name), &out);
        run_vendor_commands(&env, &case, &mut outputs, "token endpoint echoes").await;
        assert_vendor_saw(
            &server,
            &url::form_urlencoded::byte_serialize(case.secret.as_bytes()).collect::<String>(),
        )
        .await;

        // Phase two: tokens are issued; every data endpoint echoes the bearer header back.
        mount_echo_everywhere(&server, &case, true).await;
        run_vendor_commands(&env, &case, &mut outputs, "data endpoint echoes").await;
        assert_vendor_saw(&server, case.issued_token).await;
    }

    // Audit entries (`details.reason`) in every export format.
    for format in ["csv", "json", "jsonl"] {
        let file = env.dir.path().join(format!("audit.{format}"));
        let out = env.run(&[
            "audit",
            "export",
            WS,
            "--format",
            format,
            "--output",
            common::path_str(&file),
        ]);
        assert_eq!(code(&out), 0, "audit export {format}: {}", stderr(&out));
        let bytes = std::fs::read(&file).expect("read the audit export");
        assert!(
            String::from_utf8_lossy(&bytes).contains("[REDACTED]"),
            "the scrubbed echo should be in the audit log ({format})"
        );
        outputs.add(format!("audit export --format {format}"), &out);
        outputs
            .0
            .push((format!("audit export file ({format})"), bytes));
    }
    // The database files, WAL included: only ciphertext may hold a secret.
    for name in ["seliq.db", "seliq.db-wal", "seliq.db-shm"] {
        if let Ok(bytes) = std::fs::read(env.data_dir().join(name)) {
            outputs.0.push((name.to_owned(), bytes));
        }
    }
    outputs.assert_none(&needles);
}

/// `integration test`, a rejected `credentials rotate` and `pull`, in both log formats.
async fn run_vendor_commands(env: &Env, case: &Case, outputs: &mut Outputs, phase: &str) {
    for format in ["text", "json"] {
        let test = gw(env, &["integration", "test", WS, case.name], "", format).await;
        assert_ne!(
            code(&test),
            0,
            "{} test ({phase}): {}",
            case.name,
            stderr(&test)
        );
        outputs.add(format!("{} test, {phase} ({format})", case.name), &test);

        let rotate = gw(
            env,
            &["credentials", "rotate", WS, case.name, "--secret-env", "S"],
            case.rotated,
            format,
        )
        .await;
        assert_ne!(code(&rotate), 0, "{} rotate ({phase})", case.name);
        assert_ne!(code(&rotate), 3, "{} rotate ({phase})", case.name);
        outputs.add(format!("{} rotate, {phase} ({format})", case.name), &rotate);

        let pull = gw(
            env,
            &["pull", WS, "--integration", case.name, "--since", "1h"],
            "",
            format,
        )
        .await;
        assert_ne!(
            code(&pull),
            0,
            "{} pull ({phase}): {}",
            case.name,
            stderr(&pull)
        );
        outputs.add(format!("{} pull, {phase} ({format})", case.name), &pull);
    }
}
