//! The CrowdStrike connector against the Falcon mock: volume exactly once, resume, crash, updates,
//! late arrivals, every injected fault, token refusals, the region redirect, and the MSSP case.
//! Also the mock's own API contract (offset wall, entity cap, scoping, headers).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use seliq_connectors::crowdstrike::{Cloud, CrowdStrike, Params, Settings};
use seliq_connectors::http::{HttpOptions, RateLimit, RetryPolicy};
use seliq_connectors::{Alert, Budget, Connector, ConnectorError, Cursor, Severity};
use seliq_mocks::crowdstrike::{
    BLOCKED_CLIENT_ID, BLOCKED_SECRET, CHILD_A_CLIENT_ID, CHILD_A_SECRET, CID_A, CID_A_CCID, CID_B,
    Defect, Endpoint, FalconMock, FalconMockConfig, Fault, PARENT_CID, PARENT_CLIENT_ID,
    PARENT_SECRET, RetryAfter,
};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(30),
    }
}

/// No timers while a request is in flight (tests run on tokio's paused clock), tiny backoff, and
/// a quota that never holds a test back.
fn http() -> HttpOptions {
    HttpOptions::without_timeouts()
        .unwrap()
        .with_retry(fast_retry())
        .with_rate_limit(RateLimit::per_second(1_000_000))
        .with_token_rate_limit(RateLimit::per_second(1_000_000))
        .with_account_rate_limit(RateLimit::per_second(1_000_000))
}

fn params(mock: &FalconMock, cid: &str) -> Params {
    Params {
        client_id: PARENT_CLIENT_ID.to_owned(),
        cid: cid.to_owned(),
        base_url: Some(mock.uri()),
        allow_insecure_http: true,
        ..Params::default()
    }
}

fn connector(mock: &FalconMock, cid: &str) -> CrowdStrike {
    connector_with(params(mock, cid), PARENT_SECRET, &http())
}

fn connector_with(p: Params, secret: &str, http: &HttpOptions) -> CrowdStrike {
    CrowdStrike::new(
        Settings::validate(p).unwrap(),
        SecretString::from(secret.to_owned()),
        http,
    )
    .unwrap()
}

fn config(cids: &[&str], alerts: usize) -> FalconMockConfig {
    FalconMockConfig {
        cids: cids.iter().map(|c| (*c).to_owned()).collect(),
        alerts_per_cid: alerts,
        ..FalconMockConfig::default()
    }
}

fn budget(max_alerts: usize) -> Budget {
    Budget {
        max_alerts,
        since: Utc::now() - chrono::Duration::hours(24),
    }
}

/// What the engine does: fetch, write, commit, again until caught up.
struct Pull {
    alerts: Vec<Alert>,
    cursor: Option<Cursor>,
    batches: usize,
    pages: u32,
    /// `(raw, reason)` of every quarantined record.
    quarantined: Vec<(String, String)>,
}

async fn pull(c: &CrowdStrike, cursor: Option<Cursor>, max_alerts: usize) -> Pull {
    let mut out = Pull {
        alerts: Vec::new(),
        cursor,
        batches: 0,
        pages: 0,
        quarantined: Vec::new(),
    };
    loop {
        let batch = c
            .fetch(out.cursor.as_ref(), budget(max_alerts))
            .await
            .unwrap();
        assert!(batch.alerts.len() <= max_alerts);
        out.batches += 1;
        out.pages += batch.pages;
        out.alerts.extend(batch.alerts);
        out.quarantined.extend(
            batch
                .quarantined
                .into_iter()
                .map(|q| (q.raw.get().to_owned(), q.reason)),
        );
        out.cursor = Some(batch.cursor);
        if batch.caught_up {
            return out;
        }
        assert!(out.batches < 10_000, "the pull never caught up");
    }
}

fn versions(alerts: &[Alert]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|a| {
            let raw: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
            (
                a.id.clone(),
                raw["updated_timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every event id once, and exactly the expected versions.
fn assert_exactly_once(alerts: &[Alert], expected: &[(String, String)]) {
    let mut ids = HashSet::new();
    for a in alerts {
        assert!(
            ids.insert(a.event_id.clone()),
            "duplicate event {} ({})",
            a.event_id,
            a.id
        );
    }
    let got: HashSet<(String, String)> = versions(alerts).into_iter().collect();
    let want: HashSet<(String, String)> = expected.iter().cloned().collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(alerts.len(), expected.len());
}

#[tokio::test(start_paused = true)]
async fn pulls_25000_alerts_over_more_than_25_pages_exactly_once() {
    let mock = FalconMock::start(config(&[CID_A], 25_000)).await;
    let c = connector(&mock, CID_A);
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert!(p.pages > 25, "{} pages", p.pages);
    assert!(p.batches >= 25);
    let stats = mock.stats();
    assert!(stats.max_limit_requested <= 1000);
    assert_eq!(stats.tokens_issued, 1, "one token serves the whole pull");
    // Every request is a combined-alerts query on updated_timestamp of this CID only; the walk
    // pages by fresh queries whose lower bound only moves forward (keyset paging).
    let bodies = mock.combined_bodies();
    assert_eq!(bodies.len() as u32, p.pages);
    let mut bounds = Vec::new();
    for b in &bodies {
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        assert!(v.get("offset").is_none());
        assert_eq!(v["sort"], "updated_timestamp|asc");
        let f = v["filter"].as_str().unwrap();
        let bound = f
            .strip_prefix("updated_timestamp:>='")
            .and_then(|r| r.strip_suffix(&format!("'+cid:'{CID_A}'")))
            .unwrap_or_else(|| panic!("{f}"));
        bounds.push(bound.parse::<DateTime<Utc>>().unwrap());
    }
    // 26 queries, each from a later millisecond than the one before.
    assert!(bounds.windows(2).all(|w| w[1] > w[0]), "{bounds:?}");
    assert!(
        p.alerts
            .iter()
            .all(|a| a.source == format!("crowdstrike:{CID_A}"))
    );
}

/// Issue 20: within one pull the walk carries on across batches (even one that ends inside a
/// page), so the look-back is read once per pull, not once per batch; across pulls it still
/// catches a late alert.
#[tokio::test(start_paused = true)]
async fn one_pull_reads_each_page_once_and_the_next_pull_still_looks_back() {
    const ALERTS: u64 = 25_000;
    let mock = FalconMock::start(config(&[CID_A], ALERTS as usize)).await;
    let c = connector(&mock, CID_A);
    // 1,500 per batch: every other batch ends in the middle of a page.
    let p = pull(&c, None, 1_500).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert_eq!(p.batches, 17);
    let page = seliq_connectors::crowdstrike::PAGE_MAX as u64;
    let requests = mock.stats().combined_requests;
    assert_eq!(
        requests,
        ALERTS.div_ceil(page) + 1,
        "data requests for a {ALERTS}-alert backlog in pages of {page}"
    );
    assert_eq!(u64::from(p.pages), requests);
    // Every query asks for a full page and starts at or after the previous one.
    let mut last = None;
    for b in mock.combined_bodies() {
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["limit"], 1000, "{b}");
        let bound = v["filter"].as_str().unwrap().to_owned();
        if let Some(prev) = &last {
            assert!(bound >= *prev, "{bound} after {prev}");
        }
        last = Some(bound);
    }

    // The next pull (a new fetch from the committed cursor, as after a caught-up pull) reads its
    // look-back again: a late alert inside it is found.
    let late: HashSet<String> = mock
        .add_late_alerts(CID_A, 4, Duration::from_secs(45))
        .into_iter()
        .collect();
    let second = pull(&c, p.cursor, 1_500).await;
    let got: HashSet<String> = second.alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(got, late);
    let mut all = p.alerts;
    all.extend(second.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
}

/// A fetch from any cursor but the one the previous fetch returned (a replay after a lost
/// commit, another process) does not use the carried walk: it queries from the window start.
#[tokio::test(start_paused = true)]
async fn the_carried_walk_serves_only_the_cursor_it_was_left_with() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    let c = connector(&mock, CID_A);
    let b1 = c.fetch(None, budget(1_500)).await.unwrap();
    let b2 = c.fetch(Some(&b1.cursor), budget(1_500)).await.unwrap();
    let before = mock.stats().combined_requests;
    // b2's commit was lost: fetch from b1's cursor again, through a fresh query.
    let replay = c.fetch(Some(&b1.cursor), budget(1_500)).await.unwrap();
    assert!(
        mock.stats().combined_requests > before,
        "a replay queries the vendor"
    );
    let ids = |b: &[Alert]| b.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&b2.alerts), ids(&replay.alerts));
    assert_eq!(b2.cursor, replay.cursor);
    let mut all = b1.alerts;
    all.extend(replay.alerts);
    all.extend(pull(&c, Some(replay.cursor), 1_500).await.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
}

#[tokio::test(start_paused = true)]
async fn a_second_pull_from_the_checkpoint_returns_nothing() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    let c = connector(&mock, CID_A);
    let first = pull(&c, None, 1000).await;
    assert_eq!(first.alerts.len(), 3000);
    let again = pull(&c, first.cursor, 1000).await;
    assert!(again.alerts.is_empty());
    assert_eq!(again.batches, 1);
}

#[tokio::test(start_paused = true)]
async fn resumes_from_a_checkpoint_in_a_new_process_without_repeats() {
    let mock = FalconMock::start(config(&[CID_A], 5000)).await;
    let first = connector(&mock, CID_A);
    let mut alerts = Vec::new();
    let mut cursor = None;
    for _ in 0..2 {
        let b = first.fetch(cursor.as_ref(), budget(1000)).await.unwrap();
        assert!(!b.caught_up);
        alerts.extend(b.alerts);
        cursor = Some(b.cursor);
    }
    // The stored checkpoint is JSON; a new connector (a restarted gateway) picks it up.
    let stored = serde_json::to_string(cursor.as_ref().unwrap()).unwrap();
    let restored: Cursor = serde_json::from_str(&stored).unwrap();
    let second = connector(&mock, CID_A);
    let rest = pull(&second, Some(restored), 1000).await;
    alerts.extend(rest.alerts);
    assert_exactly_once(&alerts, &mock.versions(CID_A));
}

#[tokio::test(start_paused = true)]
async fn crash_before_commit_returns_the_same_versions_again() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    let c = connector(&mock, CID_A);
    let b1 = c.fetch(None, budget(700)).await.unwrap();
    let committed = b1.cursor;
    let lost = c.fetch(Some(&committed), budget(700)).await.unwrap();
    // Crash: `lost` was written (maybe) but its cursor never committed.
    let replay = c.fetch(Some(&committed), budget(700)).await.unwrap();
    let ids = |b: &[Alert]| b.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&lost.alerts), ids(&replay.alerts));
    assert_eq!(lost.cursor, replay.cursor);
    let mut all = b1.alerts;
    all.extend(replay.alerts);
    all.extend(pull(&c, Some(replay.cursor), 700).await.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
}

#[tokio::test(start_paused = true)]
async fn updated_alerts_are_emitted_again_as_new_versions() {
    let mock = FalconMock::start(config(&[CID_A], 2000)).await;
    let c = connector(&mock, CID_A);
    let first = pull(&c, None, 1000).await;
    let before: HashMap<String, Alert> = first
        .alerts
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let updated: HashSet<String> = mock.update_alerts(CID_A, 25).into_iter().collect();
    let second = pull(&c, first.cursor, 1000).await;
    assert_eq!(second.alerts.len(), 25);
    for a in &second.alerts {
        assert!(updated.contains(&a.id), "{} was not updated", a.id);
        let old = &before[&a.id];
        assert_ne!(a.event_id, old.event_id);
        assert!(a.updated_at > old.updated_at);
        assert_ne!(a.status, old.status);
    }
    // And the third pull is empty again.
    assert!(pull(&c, second.cursor, 1000).await.alerts.is_empty());
}

#[tokio::test(start_paused = true)]
async fn late_alerts_with_an_older_timestamp_inside_the_look_back_are_not_missed() {
    let mock = FalconMock::start(config(&[CID_A], 1500)).await;
    let c = connector(&mock, CID_A);
    let first = pull(&c, None, 1000).await;
    let late: HashSet<String> = mock
        .add_late_alerts(CID_A, 7, Duration::from_secs(45))
        .into_iter()
        .collect();
    let fresh: HashSet<String> = mock.add_alerts(CID_A, 3).into_iter().collect();
    let second = pull(&c, first.cursor, 1000).await;
    let got: HashSet<String> = second.alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(got, late.union(&fresh).cloned().collect());
    let mut all = first.alerts;
    all.extend(second.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
}

#[tokio::test(start_paused = true)]
async fn survives_429_with_retry_after_in_epoch_seconds_and_milliseconds() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    mock.inject(
        Endpoint::CombinedAlerts,
        Fault::TooManyRequests(RetryAfter::EpochSeconds { in_secs: 2 }),
        1,
    );
    mock.inject(
        Endpoint::CombinedAlerts,
        Fault::TooManyRequests(RetryAfter::EpochMillis { in_ms: 1500 }),
        1,
    );
    // Already past: waits the minimum, never a negative or zero time.
    mock.inject(
        Endpoint::CombinedAlerts,
        Fault::TooManyRequests(RetryAfter::EpochSeconds { in_secs: -30 }),
        1,
    );
    let c = connector(&mock, CID_A);
    let started = tokio::time::Instant::now();
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert_eq!(mock.stats().responses_429, 3);
    assert!(c.retries() >= 3);
    // The waits were honoured (on the paused clock): over 1 s (epoch seconds, truncated), about
    // 1.5 s (epoch milliseconds) and the 1 s minimum for a reset already past.
    assert!(
        started.elapsed() >= Duration::from_millis(3400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn survives_server_errors_on_data_and_token_calls() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    mock.inject(Endpoint::Token, Fault::Status(503), 1);
    mock.inject(Endpoint::CombinedAlerts, Fault::Status(500), 2);
    mock.inject(Endpoint::CombinedAlerts, Fault::Status(502), 1);
    let c = connector(&mock, CID_A);
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert_eq!(mock.stats().responses_5xx, 4);
    assert!(c.retries() >= 4);
}

#[tokio::test(start_paused = true)]
async fn survives_a_token_revoked_in_the_middle_of_a_pagination() {
    let mock = FalconMock::start(config(&[CID_A], 6000)).await;
    mock.revoke_tokens_after_pages(3);
    let c = connector(&mock, CID_A);
    // A budget larger than a page: the revocation lands between two `after` pages of one walk.
    let p = pull(&c, None, 5000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    let stats = mock.stats();
    assert_eq!(stats.responses_401, 1);
    assert_eq!(stats.tokens_issued, 2, "one re-mint after the 401");
}

#[tokio::test(start_paused = true)]
async fn survives_a_revoke_fault_on_a_single_request() {
    let mock = FalconMock::start(config(&[CID_A], 2500)).await;
    let c = connector(&mock, CID_A);
    let first = c.fetch(None, budget(1000)).await.unwrap();
    mock.inject(Endpoint::CombinedAlerts, Fault::RevokeToken, 1);
    let rest = pull(&c, Some(first.cursor), 1000).await;
    let mut all = first.alerts;
    all.extend(rest.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
    assert_eq!(mock.stats().tokens_issued, 2);
}

#[tokio::test(start_paused = true)]
async fn errors_inside_a_200_fail_the_batch_and_the_next_fetch_loses_nothing() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    let c = connector(&mock, CID_A);
    let first = c.fetch(None, budget(1000)).await.unwrap();
    mock.inject(Endpoint::CombinedAlerts, Fault::ErrorsInOk, 1);
    let err = c
        .fetch(Some(&first.cursor), budget(1000))
        .await
        .unwrap_err();
    match &err {
        ConnectorError::Vendor {
            message, trace_id, ..
        } => {
            assert!(message.contains("internal error"), "{message}");
            assert!(trace_id.is_some(), "the trace id is kept for support");
        }
        other => panic!("expected a vendor error, got {other:?}"),
    }
    assert!(err.to_string().contains("trace id"));
    // The engine did not commit anything; it fetches again from the same cursor.
    let rest = pull(&c, Some(first.cursor), 1000).await;
    let mut all = first.alerts;
    all.extend(rest.alerts);
    assert_exactly_once(&all, &mock.versions(CID_A));
}

#[tokio::test(start_paused = true)]
async fn a_persistent_outage_ends_the_fetch_with_an_error_carrying_the_trace_id() {
    let mock = FalconMock::start(config(&[CID_A], 100)).await;
    mock.inject(Endpoint::CombinedAlerts, Fault::Status(503), 50);
    let c = connector(&mock, CID_A);
    match c.fetch(None, budget(1000)).await.unwrap_err() {
        ConnectorError::Http {
            status, trace_id, ..
        } => {
            assert_eq!(status, 503);
            assert!(trace_id.is_some());
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn throttles_ahead_when_the_remaining_quota_runs_low() {
    let mock = FalconMock::start(FalconMockConfig {
        rate_limit_per_minute: 8,
        ..config(&[CID_A], 2500)
    })
    .await;
    let c = connector(&mock, CID_A);
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert!(c.http_stats().throttled_waits > 0);
    assert_eq!(mock.stats().responses_429, 0);
}

#[tokio::test(start_paused = true)]
async fn reuses_its_token_and_mints_a_new_one_120_seconds_before_expiry() {
    let mock = FalconMock::start(FalconMockConfig {
        token_ttl: Duration::from_secs(1799),
        ..config(&[CID_A], 2500)
    })
    .await;
    let c = connector(&mock, CID_A);
    let first = pull(&c, None, 1000).await;
    assert_eq!(mock.stats().tokens_issued, 1);
    // Still more than 120 s to live: reused.
    tokio::time::advance(Duration::from_secs(1600)).await;
    let second = pull(&c, first.cursor, 1000).await;
    assert_eq!(mock.stats().tokens_issued, 1);
    // Now within 120 s of expiry: a new token before the next request.
    tokio::time::advance(Duration::from_secs(100)).await;
    pull(&c, second.cursor, 1000).await;
    assert_eq!(mock.stats().tokens_issued, 2);
    assert_eq!(
        mock.stats().responses_401,
        0,
        "refreshed ahead, never by a 401"
    );
}

#[tokio::test(start_paused = true)]
async fn check_mints_a_token_then_reads_one_alert() {
    let mock = FalconMock::start(config(&[CID_A], 10)).await;
    let c = connector(&mock, CID_A);
    c.check().await.unwrap();
    let bodies = mock.combined_bodies();
    assert_eq!(bodies.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(v["limit"], 1);
    assert_eq!(mock.token_requests()[0].member_cid.as_deref(), Some(CID_A));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_secret_is_a_credential_rejection_naming_the_fix() {
    let mock = FalconMock::start(config(&[CID_A], 10)).await;
    let c = connector_with(params(&mock, CID_A), "not-the-secret", &http());
    let err = c.check().await.unwrap_err();
    assert!(err.is_credential_rejected(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("secret") && text.contains(PARENT_CLIENT_ID),
        "{text}"
    );
    assert!(
        !text.contains("not-the-secret"),
        "a secret leaked into {text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_403_from_the_token_endpoint_is_not_retried_and_says_ip_allow_list() {
    let mock = FalconMock::start(config(&[CID_A], 10)).await;
    let p = Params {
        client_id: BLOCKED_CLIENT_ID.to_owned(),
        ..params(&mock, CID_A)
    };
    let c = connector_with(p, BLOCKED_SECRET, &http());
    let err = c.check().await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::CredentialRejected { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("IP allow-list"), "{text}");
    assert!(!text.contains(BLOCKED_SECRET));
    assert_eq!(mock.stats().token_requests, 1, "403 must not be retried");
    assert_eq!(c.retries(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_member_cid_the_parent_may_not_reach_is_refused() {
    let mock = FalconMock::start(config(&[CID_A], 10)).await;
    let p = Params {
        client_id: CHILD_A_CLIENT_ID.to_owned(),
        ..params(&mock, CID_B)
    };
    let err = connector_with(p, CHILD_A_SECRET, &http())
        .check()
        .await
        .unwrap_err();
    assert!(err.is_credential_rejected());
    assert!(err.to_string().contains(CID_B), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_region_redirect_is_reissued_to_the_allow_listed_host_not_to_location() {
    let us1 = FalconMock::start(FalconMockConfig {
        redirect_to: Some("us-2".to_owned()),
        ..config(&[], 0)
    })
    .await;
    let us2 = FalconMock::start(FalconMockConfig {
        region: "us-2".to_owned(),
        ..config(&[CID_A], 1200)
    })
    .await;
    let us2_base = url::Url::parse(&us2.uri()).unwrap();
    // The shared client follows redirects by default; the connector must still never re-post
    // the secret to the 308's Location (a real Falcon host, unreachable from this test).
    let c = connector_with(params(&us1, CID_A), PARENT_SECRET, &http())
        .with_region_host(Cloud::Us2, us2_base.clone());
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &us2.versions(CID_A));
    assert_eq!(c.api_base(), us2_base);
    let s1 = us1.stats();
    assert_eq!(
        (s1.token_requests, s1.redirects, s1.combined_requests),
        (1, 1, 0)
    );
    assert_eq!(us2.stats().token_requests, 1);
}

#[tokio::test(start_paused = true)]
async fn a_redirect_to_an_unknown_region_is_refused_with_the_fix() {
    let mock = FalconMock::start(FalconMockConfig {
        redirect_to: Some("mars-1".to_owned()),
        ..config(&[CID_A], 10)
    })
    .await;
    let c = connector_with(params(&mock, CID_A), PARENT_SECRET, &http());
    let err = c.check().await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Http { status: 308, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--cloud"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn mssp_one_parent_client_two_cids_each_sees_only_its_own_alerts() {
    let mock = FalconMock::start(config(&[CID_A, CID_B], 1500)).await;
    let a = connector(&mock, CID_A);
    let b = connector(&mock, CID_B);
    let (pa, pb) = tokio::join!(pull(&a, None, 1000), pull(&b, None, 1000));
    assert_exactly_once(&pa.alerts, &mock.versions(CID_A));
    assert_exactly_once(&pb.alerts, &mock.versions(CID_B));
    for (alerts, cid) in [(&pa.alerts, CID_A), (&pb.alerts, CID_B)] {
        for al in alerts.iter() {
            let raw: serde_json::Value = serde_json::from_str(al.raw.get()).unwrap();
            assert_eq!(raw["cid"], cid);
            assert_eq!(al.source, format!("crowdstrike:{cid}"));
        }
    }
    let members: HashSet<Option<String>> = mock
        .token_requests()
        .into_iter()
        .map(|t| t.member_cid)
        .collect();
    assert_eq!(
        members,
        HashSet::from([Some(CID_A.to_owned()), Some(CID_B.to_owned())])
    );
    // One connector per integration: each minted its own token.
    assert_eq!(mock.stats().tokens_issued, 2);
}

#[tokio::test(start_paused = true)]
async fn the_cids_own_api_client_sends_no_member_cid() {
    let mock = FalconMock::start(config(&[CID_A, CID_B], 300)).await;
    let p = Params {
        client_id: CHILD_A_CLIENT_ID.to_owned(),
        own_cid: true,
        ..params(&mock, CID_A)
    };
    let c = connector_with(p, CHILD_A_SECRET, &http());
    let got = pull(&c, None, 1000).await;
    assert_exactly_once(&got.alerts, &mock.versions(CID_A));
    assert_eq!(mock.token_requests()[0].member_cid, None);
}

#[tokio::test(start_paused = true)]
async fn a_ccid_spelling_reaches_the_same_cid_and_source() {
    let mock = FalconMock::start(config(&[CID_A], 200)).await;
    let ccid = connector(&mock, CID_A_CCID);
    let bare = connector(&mock, CID_A);
    assert_eq!(ccid.source_id(), bare.source_id());
    let got = pull(&ccid, None, 1000).await;
    assert_exactly_once(&got.alerts, &mock.versions(CID_A));
    assert_eq!(mock.token_requests()[0].member_cid.as_deref(), Some(CID_A));
}

#[tokio::test(start_paused = true)]
async fn maps_severity_title_link_and_keeps_nine_digit_timestamps_in_raw() {
    let mock = FalconMock::start(config(&[CID_A], 400)).await;
    let c = connector(&mock, CID_A);
    let p = pull(&c, None, 1000).await;
    let mut severities = HashSet::new();
    for a in &p.alerts {
        let raw: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
        let updated = raw["updated_timestamp"].as_str().unwrap();
        assert_eq!(updated.len(), "2026-01-01T00:00:00.123456789Z".len());
        let parsed: DateTime<Utc> = updated.parse().unwrap();
        assert_eq!(a.updated_at, parsed);
        assert_eq!(a.link.as_deref(), raw["falcon_host_link"].as_str());
        let want_title = raw["display_name"]
            .as_str()
            .or(raw["name"].as_str())
            .unwrap();
        assert_eq!(a.title, want_title);
        assert_eq!(a.status, raw["status"].as_str().unwrap());
        severities.insert(a.severity);
    }
    assert!(severities.len() >= 4, "{severities:?}");
    assert!(severities.contains(&Severity::Critical));
}

// ---- The mock's own API contract, spoken to directly. ----

async fn mint(mock: &FalconMock, cid: &str) -> String {
    mint_as(mock, Some(cid)).await
}

/// A parent token, with `member_cid` when given.
async fn mint_as(mock: &FalconMock, member_cid: Option<&str>) -> String {
    seliq_connectors::http::install_crypto_provider();
    let mut form = vec![
        ("client_id", PARENT_CLIENT_ID),
        ("client_secret", PARENT_SECRET),
    ];
    if let Some(cid) = member_cid {
        form.push(("member_cid", cid));
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/oauth2/token", mock.uri()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    for h in [
        "x-cs-traceid",
        "x-cs-region",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
    ] {
        assert!(resp.headers().contains_key(h), "{h}");
    }
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["expires_in"], 1799);
    v["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mock_query_v2_pages_by_offset_up_to_the_10000_wall() {
    let mock = FalconMock::start(config(&[CID_A], 10_500)).await;
    let token = mint(&mock, CID_A).await;
    let q = |offset: usize, limit: usize| {
        reqwest::Client::new()
            .get(format!("{}/alerts/queries/alerts/v2", mock.uri()))
            .bearer_auth(&token)
            .query(&[
                ("offset", offset.to_string()),
                ("limit", limit.to_string()),
                ("sort", "updated_timestamp|asc".to_owned()),
            ])
            .send()
    };
    let ok = q(9000, 1000).await.unwrap();
    assert_eq!(ok.status(), 200);
    let v: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(v["resources"].as_array().unwrap().len(), 1000);
    assert_eq!(v["meta"]["pagination"]["total"], 10_500);
    let wall = q(9500, 1000).await.unwrap();
    assert_eq!(wall.status(), 400);
    let v: serde_json::Value = wall.json().await.unwrap();
    assert!(!v["errors"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn mock_combined_caps_limit_at_1000_and_scopes_to_the_token_cid() {
    let mock = FalconMock::start(config(&[CID_A, CID_B], 50)).await;
    let token = mint(&mock, CID_B).await;
    let post = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(format!("{}/alerts/combined/alerts/v1", mock.uri()))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let over = post(serde_json::json!({"limit": 1001})).await.unwrap();
    assert_eq!(over.status(), 400);
    let ok = post(serde_json::json!({"limit": 1000, "sort": "updated_timestamp|asc"}))
        .await
        .unwrap();
    assert!(ok.headers().contains_key("x-ratelimit-remaining"));
    let v: serde_json::Value = ok.json().await.unwrap();
    let items = v["resources"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert!(items.iter().all(|a| a["cid"] == CID_B));
    assert!(v["meta"]["pagination"].get("after").is_none());
    // An unknown token is a 401 envelope on the unauthenticated bucket.
    let denied = reqwest::Client::new()
        .post(format!("{}/alerts/combined/alerts/v1", mock.uri()))
        .bearer_auth("forged")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["x-ratelimit-limit"], "15");
}

#[tokio::test]
async fn mock_entities_cap_at_1000_ids_and_answer_in_no_particular_order() {
    let mock = FalconMock::start(config(&[CID_A], 1200)).await;
    let token = mint(&mock, CID_A).await;
    let ids: Vec<String> = mock.versions(CID_A).into_iter().map(|v| v.0).collect();
    let post = |ids: &[String]| {
        reqwest::Client::new()
            .post(format!("{}/alerts/entities/alerts/v2", mock.uri()))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "composite_ids": ids }))
            .send()
    };
    assert_eq!(post(&ids[..1001]).await.unwrap().status(), 413);
    let v: serde_json::Value = post(&ids[..1000]).await.unwrap().json().await.unwrap();
    let got: Vec<String> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["composite_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), 1000);
    assert_ne!(
        got,
        ids[..1000].to_vec(),
        "results come back in request order"
    );
    let a: HashSet<&String> = got.iter().collect();
    let b: HashSet<&String> = ids[..1000].iter().collect();
    assert_eq!(a, b);
}

#[tokio::test(start_paused = true)]
async fn paces_token_requests_per_api_host_across_integrations() {
    // Falcon counts token requests per source IP, whichever API client asks: integrations of one
    // process share one quota per host, however many child CIDs they serve.
    let mock = FalconMock::start(config(&[CID_A, CID_B], 5)).await;
    let paced = HttpOptions::without_timeouts()
        .unwrap()
        .with_retry(fast_retry())
        .with_rate_limit(RateLimit::per_second(1_000_000))
        .with_token_rate_limit(RateLimit::per_second(2));
    let connectors: Vec<CrowdStrike> = [CID_A, CID_B, CID_A, CID_B]
        .iter()
        .map(|cid| connector_with(params(&mock, cid), PARENT_SECRET, &paced))
        .collect();
    let started = tokio::time::Instant::now();
    let [a, b, c, d] = &connectors[..] else {
        unreachable!("four connectors")
    };
    let (ra, rb, rc, rd) = tokio::join!(a.check(), b.check(), c.check(), d.check());
    for r in [ra, rb, rc, rd] {
        r.expect("check");
    }
    // Four mints at two per second, evenly spaced: the last one leaves 1.5 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.stats().tokens_issued, 4);
}

// ---- Issue 14: CID scoping, the shared account budget, lead scores, quarantine, mid-walk updates.

fn cid_of(a: &Alert) -> String {
    let raw: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
    raw["cid"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_parent_token_that_reaches_its_children_pulls_only_its_own_cid() {
    // The parent client's own CID, without `member_cid`: its token reads the children's alerts
    // too, so only the `cid` clause keeps them out of the parent's workspace.
    let mock = FalconMock::start(config(&[PARENT_CID, CID_A, CID_B], 700)).await;
    let p = Params {
        own_cid: true,
        ..params(&mock, PARENT_CID)
    };
    let c = connector_with(p, PARENT_SECRET, &http());
    c.check().await.unwrap();
    let got = pull(&c, None, 500).await;
    assert_exactly_once(&got.alerts, &mock.versions(PARENT_CID));
    assert!(got.alerts.iter().all(|a| cid_of(a) == PARENT_CID));
    assert_eq!(mock.token_requests()[0].member_cid, None);
    for b in mock.combined_bodies() {
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        let f = v["filter"].as_str().unwrap();
        assert!(f.contains(&format!("cid:'{PARENT_CID}'")), "{f}");
    }
}

#[tokio::test]
async fn mock_a_parent_token_reads_every_child_unless_the_filter_names_one_cid() {
    let mock = FalconMock::start(config(&[PARENT_CID, CID_A, CID_B], 30)).await;
    let query = |token: String, filter: &'static str| {
        let uri = mock.uri();
        async move {
            let v: serde_json::Value = reqwest::Client::new()
                .post(format!("{uri}/alerts/combined/alerts/v1"))
                .bearer_auth(token)
                .json(&serde_json::json!({"limit": 1000, "filter": filter}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let cids: Vec<String> = v["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["cid"].as_str().unwrap().to_owned())
                .collect();
            (cids, v["meta"]["pagination"]["total"].as_u64().unwrap())
        }
    };
    let parent = mint_as(&mock, None).await;
    let (all, total) = query(parent.clone(), "").await;
    assert_eq!((all.len(), total), (90, 90));
    let distinct: HashSet<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(distinct, HashSet::from([PARENT_CID, CID_A, CID_B]));
    // Merged across CIDs, still in updated_timestamp order.
    let a_only = "cid:'1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6'";
    assert_eq!(a_only, format!("cid:'{CID_A}'"));
    let (a, total) = query(parent, a_only).await;
    assert_eq!(total, 30);
    assert!(a.len() == 30 && a.iter().all(|c| c == CID_A));
    // A member_cid token never reaches another CID, whatever the filter names.
    let child_b = mint_as(&mock, Some(CID_B)).await;
    assert_eq!(query(child_b, a_only).await, (Vec::new(), 0));
}

/// A pull in batches of `max_alerts` whose every batch is fetched twice, as after a lost commit:
/// the replay is a fresh query, so each batch costs one request (a plain pull reads whole pages
/// and carries them across batches). Returns the alerts of the batches kept.
async fn replaying_pull(c: &CrowdStrike, max_alerts: usize) -> Vec<Alert> {
    let mut cursor: Option<Cursor> = None;
    let mut alerts = Vec::new();
    loop {
        let _lost = c.fetch(cursor.as_ref(), budget(max_alerts)).await.unwrap();
        let batch = c.fetch(cursor.as_ref(), budget(max_alerts)).await.unwrap();
        alerts.extend(batch.alerts);
        cursor = Some(batch.cursor);
        if batch.caught_up {
            return alerts;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn twenty_child_cids_under_one_parent_stay_within_one_shared_account_budget() {
    const BUDGET: u32 = 300;
    const CHILDREN: usize = 20;
    let cids: Vec<String> = (0..CHILDREN)
        .map(|i| format!("{:032x}", 0x5eed_0000_u128 + i as u128))
        .collect();
    let mut cfg = FalconMockConfig {
        cids: cids.clone(),
        alerts_per_cid: 800,
        // The account's quota, scaled down from Falcon's 6,000 with the gateway's default ratio
        // (5,000 of 6,000), so the run is short; counted on the test's paused clock.
        rate_limit_per_minute: BUDGET * 6 / 5,
        clock: Some(tokio::runtime::Handle::current()),
        ..FalconMockConfig::default()
    };
    cfg.clients[0].children = cids.clone();
    let mock = FalconMock::start(cfg).await;
    // Each integration keeps the default per-CID quota (5,000 per minute): alone, any of them
    // could spend the whole account; only the shared budget holds them together.
    let shared = HttpOptions::without_timeouts()
        .unwrap()
        .with_retry(fast_retry())
        .with_token_rate_limit(RateLimit::per_second(1_000_000))
        .with_account_rate_limit(RateLimit::per_minute(BUDGET));
    let mut set = tokio::task::JoinSet::new();
    for cid in &cids {
        let c = std::sync::Arc::new(connector_with(params(&mock, cid), PARENT_SECRET, &shared));
        assert_eq!(c.settings().rate_limit(), RateLimit::per_minute(5000));
        let cid = cid.clone();
        set.spawn(async move { (cid, replaying_pull(&c, 20).await) });
    }
    while let Some(done) = set.join_next().await {
        let (cid, alerts) = done.unwrap();
        assert_exactly_once(&alerts, &mock.versions(&cid));
    }
    let stats = mock.stats();
    assert_eq!(stats.responses_429, 0);
    // Demand was well over the budget: it, not the integrations' own quotas, set the pace.
    assert!(stats.combined_requests > u64::from(BUDGET) * 2, "{stats:?}");
    // Counted at arrival on the paused clock, which moves on while requests are on the wire:
    // a minute of arrivals can hold the budget plus at most one in-flight request per child.
    assert!(
        stats.max_requests_per_minute <= u64::from(BUDGET) + CHILDREN as u64,
        "{stats:?}"
    );
    assert!(
        stats.max_requests_per_minute >= u64::from(BUDGET) * 3 / 4,
        "{stats:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_automated_lead_with_only_a_score_of_21_is_low() {
    let mock = FalconMock::start(config(&[CID_A], 50)).await;
    let lead = mock.add_automated_lead(CID_A, 21);
    let c = connector(&mock, CID_A);
    let got = pull(&c, None, 1000).await;
    assert_exactly_once(&got.alerts, &mock.versions(CID_A));
    let a = got.alerts.iter().find(|a| a.id == lead).unwrap();
    let raw: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
    assert!(raw.get("severity").is_none() && raw.get("severity_name").is_none());
    assert_eq!(raw["score"], 21);
    assert!(lead.contains(":automated-lead:"));
    assert_eq!(a.severity, Severity::Low);
}

#[tokio::test(start_paused = true)]
async fn unmappable_records_are_quarantined_once_and_their_neighbours_delivered_once() {
    let mock = FalconMock::start(config(&[CID_A], 600)).await;
    let mut order = mock.versions(CID_A);
    order.sort_by(|a, b| a.1.cmp(&b.1));
    let ids =
        |picks: &[usize]| -> Vec<String> { picks.iter().map(|i| order[*i].0.clone()).collect() };
    // The oldest, neighbours, page and batch edges, and the newest (nothing readable follows it).
    let picks: [(&[usize], Defect); 3] = [
        (&[0, 6, 7, 300], Defect::NoCompositeId),
        (&[8, 13, 301], Defect::NoUpdatedTimestamp),
        (&[14, 450, 599], Defect::BadUpdatedTimestamp),
    ];
    let mut broken: HashSet<String> = HashSet::new();
    for (at, defect) in picks {
        let named = ids(at);
        mock.break_alerts(CID_A, &named, defect);
        broken.extend(named);
    }
    let c = connector(&mock, CID_A);
    // Small batches: broken records land at batch and page edges.
    let first = pull(&c, None, 7).await;
    let good: Vec<(String, String)> = mock
        .versions(CID_A)
        .into_iter()
        .filter(|(id, _)| !broken.contains(id))
        .collect();
    assert_exactly_once(&first.alerts, &good);
    assert_eq!(first.quarantined.len(), broken.len());
    let distinct: HashSet<&String> = first.quarantined.iter().map(|(raw, _)| raw).collect();
    assert_eq!(distinct.len(), first.quarantined.len(), "quarantined twice");
    for (raw, reason) in &first.quarantined {
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert!(v.get("agent_id").is_some(), "the raw record is kept: {raw}");
        // Our words only: no id, no timestamp, no vendor text.
        assert!(
            !reason.contains(CID_A) && !reason.contains("20"),
            "{reason}"
        );
        assert!(
            reason.ends_with('.') && reason.matches(". ").count() == 0,
            "{reason}"
        );
    }
    // From the checkpoint: nothing again, neither alerts nor quarantines.
    let again = pull(&c, first.cursor, 7).await;
    assert!(again.alerts.is_empty() && again.quarantined.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_page_that_does_not_parse_is_an_error_not_a_quarantine() {
    let mock = FalconMock::start(config(&[CID_A], 300)).await;
    let c = connector(&mock, CID_A);
    mock.inject(Endpoint::CombinedAlerts, Fault::UnreadableBody, 1);
    let err = c.fetch(None, budget(1000)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err:?}");
    let p = pull(&c, None, 1000).await;
    assert_exactly_once(&p.alerts, &mock.versions(CID_A));
    assert!(p.quarantined.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_alert_updated_between_two_pages_of_one_walk_is_still_delivered() {
    let mock = FalconMock::start(config(&[CID_A], 3000)).await;
    let mut order = mock.versions(CID_A);
    order.sort_by(|a, b| a.1.cmp(&b.1));
    let before: HashMap<String, String> = order.iter().cloned().collect();
    // One alert the walk has passed (first page), one it has not reached yet.
    let passed = order[10].0.clone();
    let ahead = order[2500].0.clone();
    mock.update_alerts_after_pages(CID_A, &[passed.clone(), ahead.clone()], 1);
    let c = connector(&mock, CID_A);
    // One fetch walks every page: the update lands between its first and second page.
    let first = c.fetch(None, budget(10_000)).await.unwrap();
    assert!(first.pages >= 3, "{}", first.pages);
    let mut alerts = first.alerts;
    alerts.extend(pull(&c, Some(first.cursor), 10_000).await.alerts);
    let got: Vec<(String, String)> = versions(&alerts);
    let distinct: HashSet<&(String, String)> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "a version was delivered twice");
    let now: HashMap<String, String> = mock.versions(CID_A).into_iter().collect();
    for (id, latest) in &now {
        assert!(
            distinct.contains(&(id.clone(), latest.clone())),
            "latest version of {id} missing"
        );
    }
    for id in [&passed, &ahead] {
        assert_ne!(now[id], before[id], "{id} was not updated");
    }
    // The passed alert's old version went out before the update, its new one after.
    assert!(distinct.contains(&(passed.clone(), before[&passed].clone())));
    assert!(got.len() == 3000 || got.len() == 3001, "{}", got.len());
}

/// A TCP forwarder in front of a mock that counts the connections made through it (the mock
/// itself, wiremock, does not expose its connections).
struct CountingProxy {
    addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: &str) -> CountingProxy {
        use std::sync::atomic::Ordering;
        let upstream: std::net::SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy { addr, accepted }
    }

    fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Issue 20: integrations that reach one vendor host share one pool of connections, capped per
/// host, instead of each opening its own (40 pulls at once, through a pool of 4).
#[tokio::test(start_paused = true)]
async fn forty_integrations_on_one_host_use_at_most_the_pool_size_in_connections() {
    const POOL: usize = 4;
    let cids: Vec<String> = (0..40_u128)
        .map(|i| format!("{:032x}", 0xc0_0000_u128 + i))
        .collect();
    let mut cfg = FalconMockConfig {
        cids: cids.clone(),
        alerts_per_cid: 1_500,
        ..FalconMockConfig::default()
    };
    cfg.clients[0].children = cids.clone();
    let mock = FalconMock::start(cfg).await;
    let proxy = CountingProxy::start(&mock.uri()).await;
    let shared = http().with_max_connections_per_host(POOL).unwrap();
    let mut set = tokio::task::JoinSet::new();
    for cid in &cids {
        let p = Params {
            base_url: Some(proxy.uri()),
            ..params(&mock, cid)
        };
        let c = connector_with(p, PARENT_SECRET, &shared);
        let cid = cid.clone();
        set.spawn(async move { (cid, pull(&c, None, 1_000).await.alerts) });
    }
    while let Some(done) = set.join_next().await {
        let (cid, alerts) = done.unwrap();
        assert_exactly_once(&alerts, &mock.versions(&cid));
    }
    let stats = mock.stats();
    assert_eq!(stats.tokens_issued, 40);
    assert!(stats.combined_requests >= 80, "{stats:?}");
    let connections = proxy.accepted();
    assert!(
        (1..=POOL).contains(&connections),
        "{connections} connections for 40 integrations through a pool of {POOL}"
    );
}
