//! The shared HTTP layer against a wiremock vendor: retry, `Retry-After`, timeouts, the retry
//! budget, refresh-once on 401, the token cache and the per-integration quota.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use seliq_connectors::ConnectorError;
use seliq_connectors::http::{
    Http, HttpOptions, RateLimit, RetryPolicy, Token, TokenCache, TokenMinter, VendorPolicy,
};
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct TestVendor;

impl VendorPolicy for TestVendor {
    fn vendor(&self) -> seliq_connectors::Kind {
        // Any vendor: the policy's hooks below are this test's own.
        seliq_connectors::Kind::Crowdstrike
    }

    fn trace_id(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn throttle_ahead(&self, headers: &HeaderMap) -> Option<Duration> {
        let remaining: u32 = headers.get("x-remaining")?.to_str().ok()?.parse().ok()?;
        (remaining == 0).then_some(Duration::from_millis(300))
    }
}

/// Mints `token-1`, `token-2`, ... without any request, counting calls.
struct CountingMinter {
    calls: Arc<AtomicUsize>,
    lifetime: Duration,
    latency: Duration,
}

#[async_trait]
impl TokenMinter for CountingMinter {
    async fn mint(&self, _http: &Http) -> Result<Token, ConnectorError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(Token::new(
            SecretString::from(format!("token-{n}")),
            self.lifetime,
        ))
    }
}

fn counting_cache(lifetime: Duration, refresh_before: Duration) -> (TokenCache, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let minter = CountingMinter {
        calls: calls.clone(),
        lifetime,
        latency: Duration::ZERO,
    };
    (TokenCache::new(Box::new(minter), refresh_before), calls)
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(10),
    }
}

fn http_with(read_timeout: Duration, retry: RetryPolicy, limit: RateLimit) -> Http {
    let options = HttpOptions::new(Duration::from_secs(2), read_timeout)
        .expect("client builds")
        .with_retry(retry);
    Http::new(Arc::new(TestVendor), &options, limit)
}

/// For tests on the paused clock: no timers armed while a request is on the wire (see
/// `HttpOptions::without_timeouts`).
fn paused_http(retry: RetryPolicy, limit: RateLimit) -> Http {
    let options = HttpOptions::without_timeouts()
        .expect("client builds")
        .with_retry(retry);
    Http::new(Arc::new(TestVendor), &options, limit)
}

fn http(retry: RetryPolicy) -> Http {
    http_with(Duration::from_secs(5), retry, RateLimit::per_second(10_000))
}

async fn get(http: &Http, server: &MockServer, p: &str) -> Result<u16, ConnectorError> {
    let url = format!("{}{p}", server.uri());
    http.send("GET /data", |c| c.get(&url))
        .await
        .map(|r| r.status)
}

async fn mount_once(server: &MockServer, p: &str, template: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(template)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

async fn mount_ok(server: &MockServer, p: &str) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(server)
        .await;
}

#[tokio::test(start_paused = true)]
async fn waits_retry_after_seconds_on_429_then_succeeds() {
    let server = MockServer::start().await;
    mount_once(
        &server,
        "/data",
        ResponseTemplate::new(429).insert_header("Retry-After", "2"),
    )
    .await;
    mount_ok(&server, "/data").await;
    let http = paused_http(fast_retry(3), RateLimit::per_second(10_000));

    let started = Instant::now();
    let resp = http
        .send("GET /data", |c| c.get(format!("{}/data", server.uri())))
        .await
        .expect("retried to success");

    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"ok");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(http.stats().requests, 2);
    assert_eq!(http.stats().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn waits_retry_after_http_date_on_429_then_succeeds() {
    let server = MockServer::start().await;
    // HTTP dates have whole seconds, and the gateway reads the date against the real clock some
    // real milliseconds later (server start, first request): "now + 4 s" is comfortably more
    // than 2 s away when the wait starts, whatever the truncation and the machine's load.
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
    mount_once(
        &server,
        "/data",
        ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()),
    )
    .await;
    mount_ok(&server, "/data").await;
    let http = paused_http(fast_retry(3), RateLimit::per_second(10_000));

    let started = Instant::now();
    assert_eq!(get(&http, &server, "/data").await.expect("success"), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(http.stats().retries, 1);
}

#[tokio::test]
async fn fails_instead_of_waiting_a_retry_after_beyond_the_maximum() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "3600")
                .insert_header("x-trace-id", "trace-429"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let http = http(fast_retry(5));

    let started = Instant::now();
    let err = get(&http, &server, "/data")
        .await
        .expect_err("refused to wait");

    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        ConnectorError::Http {
            status, trace_id, ..
        } => {
            assert_eq!(status, 429);
            assert_eq!(trace_id.as_deref(), Some("trace-429"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let server = MockServer::start().await;
    mount_once(&server, "/data", ResponseTemplate::new(503)).await;
    mount_ok(&server, "/data").await;
    let http = http(fast_retry(3));

    assert_eq!(get(&http, &server, "/data").await.expect("success"), 200);
    assert_eq!(http.stats().requests, 2);
}

#[tokio::test]
async fn retries_a_read_timeout_then_succeeds() {
    let server = MockServer::start().await;
    mount_once(
        &server,
        "/data",
        ResponseTemplate::new(200).set_delay(Duration::from_millis(500)),
    )
    .await;
    mount_ok(&server, "/data").await;
    let http = http_with(
        Duration::from_millis(100),
        fast_retry(3),
        RateLimit::per_second(10_000),
    );

    assert_eq!(get(&http, &server, "/data").await.expect("success"), 200);
    assert_eq!(http.stats().retries, 1);
}

#[tokio::test]
async fn reports_a_transport_error_when_every_attempt_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    let http = http_with(
        Duration::from_millis(50),
        fast_retry(2),
        RateLimit::per_second(10_000),
    );

    let err = get(&http, &server, "/data").await.expect_err("timed out");
    assert!(
        matches!(&err, ConnectorError::Transport { reason, .. } if reason.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(http.stats().requests, 2);
}

#[tokio::test]
async fn gives_up_with_the_status_when_the_retry_budget_is_exhausted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("x-trace-id", "trace-503")
                .set_body_string("{\"messages\":[{\"type\":\"FATAL\",\n \"text\":\"Search not executed: quota\"}]}"),
        )
        .expect(4)
        .mount(&server)
        .await;
    let http = http(fast_retry(4));

    let err = get(&http, &server, "/data")
        .await
        .expect_err("budget exhausted");

    match err {
        ConnectorError::Http {
            status,
            trace_id,
            endpoint,
            message,
            ..
        } => {
            assert_eq!(status, 503);
            // The vendor's own explanation survives, on one line.
            assert!(message.contains("Search not executed: quota"), "{message}");
            assert!(!message.contains('\n'), "{message}");
            assert_eq!(trace_id.as_deref(), Some("trace-503"));
            assert_eq!(endpoint, "GET /data");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(http.stats().requests, 4);
    assert_eq!(http.stats().retries, 3);
}

#[tokio::test]
async fn returns_non_retryable_statuses_to_the_vendor_without_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("{\"errors\":[]}"))
        .expect(1)
        .mount(&server)
        .await;
    let http = http(fast_retry(4));

    assert_eq!(get(&http, &server, "/data").await.expect("a response"), 404);
    assert_eq!(http.stats().retries, 0);
}

#[tokio::test(start_paused = true)]
async fn pauses_before_the_next_request_when_the_quota_runs_low() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-remaining", "0"))
        .mount(&server)
        .await;
    let http = paused_http(fast_retry(1), RateLimit::per_second(10_000));

    get(&http, &server, "/data").await.expect("first");
    let started = Instant::now();
    get(&http, &server, "/data").await.expect("second");

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(http.stats().throttled_waits, 1);
}

async fn mount_bearer(server: &MockServer, token: &str, status: u16) {
    Mock::given(method("GET"))
        .and(path("/secure"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

async fn get_authed(
    http: &Http,
    server: &MockServer,
    tokens: &TokenCache,
) -> Result<u16, ConnectorError> {
    let url = format!("{}/secure", server.uri());
    http.send_authed("GET /secure", tokens, |c, token| {
        c.get(&url).bearer_auth(token.expose_secret())
    })
    .await
    .map(|r| r.status)
}

#[tokio::test]
async fn mints_once_more_and_retries_once_after_a_401() {
    let server = MockServer::start().await;
    mount_bearer(&server, "token-1", 401).await;
    mount_bearer(&server, "token-2", 200).await;
    let http = http(fast_retry(3));
    let (tokens, mints) = counting_cache(Duration::from_secs(1800), Duration::from_secs(120));

    assert_eq!(get_authed(&http, &server, &tokens).await.expect("ok"), 200);
    assert_eq!(mints.load(Ordering::SeqCst), 2);

    // The fresh token is cached for the next request.
    assert_eq!(get_authed(&http, &server, &tokens).await.expect("ok"), 200);
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn returns_the_second_401_instead_of_minting_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/secure"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let http = http(fast_retry(3));
    let (tokens, mints) = counting_cache(Duration::from_secs(1800), Duration::from_secs(120));

    assert_eq!(
        get_authed(&http, &server, &tokens)
            .await
            .expect("a response"),
        401
    );
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

fn offline_http() -> Http {
    http(fast_retry(1))
}

#[tokio::test(start_paused = true)]
async fn reuses_a_token_within_its_lifetime_and_refreshes_it_before_expiry() {
    let http = offline_http();
    let (tokens, mints) = counting_cache(Duration::from_secs(1800), Duration::from_secs(120));

    let first = tokens.get(&http).await.expect("minted");
    tokio::time::advance(Duration::from_secs(1600)).await;
    let reused = tokens.get(&http).await.expect("cached");
    assert_eq!(reused.expose_secret(), first.expose_secret());
    assert_eq!(mints.load(Ordering::SeqCst), 1);

    // 1800 - 1690 = 110 s left: inside the 120 s refresh window.
    tokio::time::advance(Duration::from_secs(90)).await;
    let refreshed = tokens.get(&http).await.expect("re-minted");
    assert_eq!(refreshed.expose_secret(), "token-2");
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_mint() {
    let http = offline_http();
    let calls = Arc::new(AtomicUsize::new(0));
    let minter = CountingMinter {
        calls: calls.clone(),
        lifetime: Duration::from_secs(1800),
        latency: Duration::from_millis(50),
    };
    let tokens = TokenCache::new(Box::new(minter), Duration::from_secs(120));

    let (a, b, c) = tokio::join!(tokens.get(&http), tokens.get(&http), tokens.get(&http));

    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for t in [a, b, c] {
        assert_eq!(t.expect("token").expose_secret(), "token-1");
    }
}

#[tokio::test(start_paused = true)]
async fn invalidating_an_already_replaced_token_keeps_the_new_one() {
    let http = offline_http();
    let (tokens, mints) = counting_cache(Duration::from_secs(1800), Duration::from_secs(120));

    let old = tokens.get(&http).await.expect("minted");
    tokens.invalidate(&old);
    let new = tokens.get(&http).await.expect("re-minted");
    tokens.invalidate(&old);
    let still = tokens.get(&http).await.expect("cached");

    assert_eq!(new.expose_secret(), "token-2");
    assert_eq!(still.expose_secret(), "token-2");
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

#[test]
fn token_debug_output_never_shows_the_secret() {
    let token = Token::new(SecretString::from("s3cr3t-value"), Duration::from_secs(60));
    let (cache, _) = counting_cache(Duration::from_secs(60), Duration::from_secs(10));
    assert!(!format!("{token:?}").contains("s3cr3t"));
    assert!(!format!("{cache:?}").contains("token-"));
}

#[tokio::test(start_paused = true)]
async fn holds_requests_to_the_quota_and_reports_the_highest_rate_reached() {
    let server = MockServer::start().await;
    mount_ok(&server, "/data").await;
    // 5 per second: requests 200 ms apart, so 11 requests span at least 2 s.
    let http = paused_http(fast_retry(1), RateLimit::per_second(5));

    let started = Instant::now();
    for _ in 0..11 {
        get(&http, &server, "/data").await.expect("ok");
    }

    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(http.stats().requests, 11);
    assert_eq!(http.max_requests_in_period(), 5);
    assert!(http.stats().throttled_waits >= 10);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_the_integration_quota() {
    let server = MockServer::start().await;
    mount_ok(&server, "/data").await;
    let http = Arc::new(paused_http(fast_retry(1), RateLimit::per_second(4)));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..9 {
        let http = http.clone();
        let uri = server.uri();
        tasks.push(tokio::spawn(async move {
            let url = format!("{uri}/data");
            http.send("GET /data", |c| c.get(&url))
                .await
                .map(|r| r.status)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("joined").expect("ok"), 200);
    }

    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(http.max_requests_in_period(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_holds_back_every_request_of_the_integration() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow-down"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "5"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_ok(&server, "/slow-down").await;
    mount_ok(&server, "/other").await;
    let http = paused_http(fast_retry(3), RateLimit::per_second(10_000));

    let started = Instant::now();
    let (throttled, other) = tokio::join!(get(&http, &server, "/slow-down"), async {
        // Starts once the 429 has been read (the retry is counted before its wait).
        while http.stats().retries == 0 {
            tokio::task::yield_now().await;
        }
        let status = get(&http, &server, "/other").await;
        (status, started.elapsed())
    });

    assert_eq!(throttled.expect("ok"), 200);
    assert_eq!(other.0.expect("ok"), 200);
    assert!(other.1 >= Duration::from_secs(5), "{:?}", other.1);
}

#[tokio::test]
async fn the_options_quota_overrides_the_vendor_default() {
    let options = HttpOptions::default_timeouts()
        .expect("client builds")
        .with_rate_limit(RateLimit::per_minute(60));
    let http = Http::new(Arc::new(TestVendor), &options, RateLimit::per_minute(6000));
    assert_eq!(http.rate_limit(), RateLimit::per_minute(60));
}

/// Mints through the layer itself, like the vendor minters do.
struct FormMinter {
    url: String,
}

#[async_trait]
impl TokenMinter for FormMinter {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError> {
        let resp = http
            .send("POST /oauth2/token", |c| {
                c.post(&self.url)
                    .form(&[("client_id", "id"), ("client_secret", "secret")])
            })
            .await?;
        let body: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Malformed {
                vendor: seliq_connectors::Kind::Crowdstrike,
                endpoint: "POST /oauth2/token".to_owned(),
                reason: e.to_string(),
            })?;
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        let expires_in = body["expires_in"].as_u64().unwrap_or_default();
        Ok(Token::new(
            SecretString::from(token),
            Duration::from_secs(expires_in),
        ))
    }
}

#[tokio::test]
async fn a_minter_sends_its_token_request_through_the_same_layer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"access_token": "minted", "expires_in": 1799})),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_bearer(&server, "minted", 200).await;
    let http = http(fast_retry(3));
    let tokens = TokenCache::new(
        Box::new(FormMinter {
            url: format!("{}/oauth2/token", server.uri()),
        }),
        Duration::from_secs(120),
    );

    assert_eq!(get_authed(&http, &server, &tokens).await.expect("ok"), 200);
    assert_eq!(get_authed(&http, &server, &tokens).await.expect("ok"), 200);
    // Token 503 + retry, token 201, two data calls.
    assert_eq!(http.stats().requests, 4);
}

#[test]
fn request_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let http = http(fast_retry(1));
    let (tokens, _) = counting_cache(Duration::from_secs(60), Duration::from_secs(10));
    let authed = http.send_authed("GET /x", &tokens, |c, t| {
        c.get("http://127.0.0.1:9/x").bearer_auth(t.expose_secret())
    });
    assert_send(&authed);
    let plain = http.send("GET /x", |c| c.get("http://127.0.0.1:9/x"));
    assert_send(&plain);
    let mint = tokens.get(&http);
    assert_send(&mint);
}

#[test]
fn response_debug_never_shows_the_body() {
    let resp = seliq_connectors::http::Response {
        status: 201,
        headers: Default::default(),
        body: bytes::Bytes::from_static(b"{\"access_token\":\"tok-marker-123\"}"),
        trace_id: None,
    };
    let shown = format!("{resp:?}");
    assert!(!shown.contains("tok-marker-123"), "{shown}");
    assert!(shown.contains("body_len"), "{shown}");
}
