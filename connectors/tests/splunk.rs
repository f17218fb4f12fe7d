//! The Splunk connector against the Splunk mock: 10,000 events (about 5% late-indexed) pulled
//! exactly once across pulls with session expiry and 503s, scope isolation, crash recovery, the
//! server's clock, v1/v2 endpoints, failed jobs, and the shared search slots.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::SecretString;
use seliq_connectors::http::{HttpOptions, RetryPolicy};
use seliq_connectors::splunk::{Params, Settings, Splunk, Tuning};
use seliq_connectors::{Alert, Budget, Connector, ConnectorError, Cursor, Severity};
use seliq_mocks::splunk::{
    DEFAULT_PASSWORD, DEFAULT_TOKEN, DEFAULT_USER, MockEvent, SplunkMock, SplunkMockConfig,
};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_retry_after: Duration::from_secs(30),
    }
}

fn http() -> HttpOptions {
    HttpOptions::new(Duration::from_secs(5), Duration::from_secs(60))
        .unwrap()
        .with_retry(fast_retry())
}

fn tuning() -> Tuning {
    Tuning {
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(2),
        ..Tuning::default()
    }
}

/// A fixed clock keeps every run identical.
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

fn config(indexes: &[(&str, usize)], notables: &[(&str, usize)]) -> SplunkMockConfig {
    SplunkMockConfig {
        now: fixed_now(),
        indexes: indexes.iter().map(|(i, n)| (i.to_string(), *n)).collect(),
        notables: notables.iter().map(|(i, n)| (i.to_string(), *n)).collect(),
        ..SplunkMockConfig::default()
    }
}

fn params(mock: &SplunkMock, indexes: &[&str], filter: Option<&str>) -> Params {
    Params {
        url: mock.uri(),
        app: "search".into(),
        indexes: indexes.iter().map(|s| s.to_string()).collect(),
        scope_filter: filter.map(str::to_owned),
        allow_insecure_http: true,
        rate_limit_per_minute: Some(6_000_000),
        ..Params::default()
    }
}

fn token_connector(p: Params, token: &str) -> Splunk {
    Splunk::with_tuning(
        Settings::validate(p).unwrap(),
        SecretString::from(token.to_owned()),
        &http(),
        tuning(),
    )
    .unwrap()
}

fn session_connector(p: Params, password: &str) -> Splunk {
    session_connector_on(p, password, &http())
}

/// A connector built on `http`: connectors built on clones of one `HttpOptions` are one
/// process's integrations and share its quotas.
fn session_connector_on(mut p: Params, password: &str, http: &HttpOptions) -> Splunk {
    p.username = Some(DEFAULT_USER.into());
    Splunk::with_tuning(
        Settings::validate(p).unwrap(),
        SecretString::from(password.to_owned()),
        http,
        tuning(),
    )
    .unwrap()
}

fn since(mock: &SplunkMock) -> DateTime<Utc> {
    mock.now() - chrono::Duration::hours(24)
}

/// Drives `fetch` like the engine: write, commit, fetch again until caught up.
async fn pull(
    conn: &Splunk,
    mut cursor: Option<Cursor>,
    max: usize,
    since: DateTime<Utc>,
) -> (Vec<Alert>, Option<Cursor>) {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let batch = conn
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: max,
                    since,
                },
            )
            .await
            .unwrap();
        assert!(batch.alerts.len() <= max, "batch over budget");
        out.extend(batch.alerts);
        cursor = Some(batch.cursor);
        if batch.caught_up {
            return (out, cursor);
        }
    }
    panic!("never caught up");
}

fn field(a: &Alert, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
    v.get(name).and_then(|f| f.as_str()).map(str::to_owned)
}

/// An event's identity in the mock's ground truth.
fn key(a: &Alert) -> (String, String) {
    (field(a, "index").unwrap(), field(a, "_cd").unwrap())
}

fn truth(events: &[MockEvent]) -> HashSet<(String, String)> {
    events
        .iter()
        .map(|e| (e.index.clone(), e.cd.clone()))
        .collect()
}

fn assert_exactly_once(alerts: &[Alert], want: &HashSet<(String, String)>) {
    let mut seen = HashSet::new();
    for a in alerts {
        assert!(seen.insert(a.event_id.clone()), "duplicate event {}", a.id);
    }
    let got: Vec<(String, String)> = alerts.iter().map(key).collect();
    let got_set: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "one event emitted twice");
    let missing: Vec<_> = want.difference(&got_set).take(5).collect();
    let extra: Vec<_> = got_set.difference(want).take(5).collect();
    assert!(
        missing.is_empty(),
        "missing {} events, e.g. {missing:?}",
        want.len() - want.intersection(&got_set).count()
    );
    assert!(extra.is_empty(), "events outside the scope: {extra:?}");
}

#[tokio::test]
async fn pulls_ten_thousand_events_exactly_once_across_pulls_with_session_expiry_and_quota_503() {
    let mock = SplunkMock::start(config(
        &[
            ("acme_prod", 10_000),
            ("acme_dev", 300),
            ("globex_prod", 500),
        ],
        &[("acme_prod", 50)],
    ))
    .await;
    let truth_start = mock.events(&["acme_prod"], None);
    let late = truth_start.iter().filter(|e| e.late).count();
    assert!(
        (400..=600).contains(&late),
        "about 5% late-indexed, got {late}"
    );
    let conn = session_connector(params(&mock, &["acme_prod"], None), DEFAULT_PASSWORD);
    let since = since(&mock);

    // Pull 1: a few batches, then the session expires and the search quota is full twice.
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..3 {
        let b = conn
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: 1000,
                    since,
                },
            )
            .await
            .unwrap();
        assert!(!b.caught_up);
        all.extend(b.alerts);
        cursor = Some(b.cursor);
    }
    mock.expire_sessions();
    mock.fail_next_searches_with_quota(2);
    let (rest, c) = pull(&conn, cursor, 1000, since).await;
    all.extend(rest);
    cursor = c;
    assert_exactly_once(&all, &truth(&truth_start));

    // Pull 2: new events, late-indexed ones among them (old `_time`, new `_indextime`).
    mock.add_events("acme_prod", 400);
    mock.add_late_events("acme_prod", 60, Duration::from_secs(5 * 3600));
    mock.add_events("globex_prod", 100);
    mock.expire_sessions();
    let (more, c) = pull(&conn, cursor, 1000, since).await;
    all.extend(more);
    cursor = c;

    // Pull 3: another 503 on the first search, more late events.
    mock.add_late_events("acme_prod", 40, Duration::from_secs(30 * 3600));
    mock.fail_next_searches_with_quota(1);
    let (more, _) = pull(&conn, cursor, 1000, since).await;
    all.extend(more);

    let want = truth(&mock.events(&["acme_prod"], None));
    assert_eq!(want.len(), 10_500);
    assert_exactly_once(&all, &want);
    let stats = mock.stats();
    assert!(
        stats.logins >= 3,
        "logged in again after each expiry: {stats:?}"
    );
    assert!(stats.quota_rejections >= 3, "{stats:?}");
    assert_eq!(stats.jobs_open, 0, "every job deleted");
    assert!(stats.max_page_count <= 50_000);
    assert!(conn.retries() >= 3);
}

#[tokio::test]
async fn a_crash_before_commit_refetches_the_same_batch_and_loses_nothing() {
    let mock = SplunkMock::start(config(&[("acme_prod", 2_500)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let budget = Budget {
        max_alerts: 700,
        since,
    };
    let first = conn.fetch(None, budget).await.unwrap();
    let committed = first.cursor.clone();
    let mut all = first.alerts;

    // The batch after `committed` is written, then the process dies before the commit.
    let lost = conn.fetch(Some(&committed), budget).await.unwrap();
    let again = conn.fetch(Some(&committed), budget).await.unwrap();
    let ids = |b: &[Alert]| b.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&lost.alerts),
        ids(&again.alerts),
        "same versions, same event ids"
    );
    assert_eq!(lost.cursor, again.cursor);

    // A crash after the clock moved on also loses nothing.
    mock.add_events("acme_prod", 50);
    let (rest, _) = pull(&conn, Some(committed), 700, since).await;
    all.extend(rest);
    assert_exactly_once(&all, &truth(&mock.events(&["acme_prod"], None)));
}

#[tokio::test]
async fn resumes_from_a_checkpoint_with_only_what_is_new() {
    let mock = SplunkMock::start(config(&[("acme_prod", 800)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (first, cursor) = pull(&conn, None, 5000, since).await;
    assert_eq!(first.len(), 800);
    let (nothing, cursor) = pull(&conn, cursor, 5000, since).await;
    assert!(nothing.is_empty());
    let added = mock.add_events("acme_prod", 25);
    let late = mock.add_late_events("acme_prod", 5, Duration::from_secs(6 * 24 * 3600));
    let (next, _) = pull(&conn, cursor, 5000, since).await;
    let want: HashSet<_> = truth(&added).union(&truth(&late)).cloned().collect();
    assert_exactly_once(&next, &want);
}

#[tokio::test]
async fn scopes_see_only_their_own_indexes_and_notables() {
    let mock = SplunkMock::start(config(
        &[
            ("acme_prod", 200),
            ("acme_dev", 100),
            ("globex_prod", 200),
            ("main", 50),
        ],
        &[("acme_prod", 40), ("acme_dev", 10), ("globex_prod", 40)],
    ))
    .await;
    let since = since(&mock);

    let acme = token_connector(params(&mock, &["acme*"], None), DEFAULT_TOKEN);
    let (got, _) = pull(&acme, None, 1000, since).await;
    assert_exactly_once(&got, &truth(&mock.events(&["acme*"], None)));
    assert_eq!(got.len(), 300);

    let acme_notables = token_connector(
        params(&mock, &["notable"], Some("orig_index=acme*")),
        DEFAULT_TOKEN,
    );
    let (got, _) = pull(&acme_notables, None, 1000, since).await;
    assert_exactly_once(
        &got,
        &truth(&mock.events(&["notable"], Some(("orig_index", "acme*")))),
    );
    assert_eq!(got.len(), 50);
    assert!(
        got.iter()
            .all(|a| field(a, "orig_index").unwrap().starts_with("acme"))
    );

    let globex_notables = token_connector(
        params(&mock, &["notable"], Some("orig_index=globex*")),
        DEFAULT_TOKEN,
    );
    let (got, _) = pull(&globex_notables, None, 1000, since).await;
    assert_eq!(got.len(), 40);
    assert!(
        got.iter()
            .all(|a| field(a, "orig_index").unwrap() == "globex_prod")
    );
}

#[tokio::test]
async fn notables_are_keyed_by_event_id_and_mapped_from_the_macro_fields() {
    let mock = SplunkMock::start(config(&[], &[("acme_prod", 30)])).await;
    let conn = token_connector(
        params(&mock, &["notable"], Some("orig_index=acme_prod")),
        DEFAULT_TOKEN,
    );
    assert!(
        conn.search().starts_with("search `notable` | search "),
        "{}",
        conn.search()
    );
    let (got, _) = pull(&conn, None, 1000, since(&mock)).await;
    assert_eq!(got.len(), 30);
    let by_id: HashMap<String, MockEvent> = mock
        .events(&["notable"], None)
        .into_iter()
        .map(|e| (e.event_id.clone().unwrap(), e))
        .collect();
    for a in &got {
        let truth = by_id.get(&a.id).expect("id is the notable's event_id");
        assert_eq!(a.updated_at.timestamp(), truth.indextime);
        assert_eq!(a.status, "New");
        assert_eq!(Some(a.title.clone()), field(a, "rule_title"));
        let urgency = field(a, "urgency").unwrap();
        assert_eq!(a.severity.as_str(), urgency);
        assert!(a.source.starts_with("splunk:"));
    }
    assert!(got.iter().any(|a| a.severity >= Severity::High));
}

#[tokio::test]
async fn late_indexed_events_are_found_in_the_window_they_were_indexed_in() {
    let mock = SplunkMock::start(config(&[("acme_prod", 100)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (_, cursor) = pull(&conn, None, 1000, since).await;
    // Happened two days ago, indexed just now: far behind any event-time window.
    let late = mock.add_late_events("acme_prod", 20, Duration::from_secs(2 * 24 * 3600));
    let (got, _) = pull(&conn, cursor, 1000, since).await;
    assert_exactly_once(&got, &truth(&late));
}

#[tokio::test]
async fn the_window_ends_at_the_servers_clock_not_ours() {
    // The Splunk server's clock runs a day behind the gateway's.
    let mut cfg = config(&[("acme_prod", 100)], &[]);
    cfg.now = Utc::now() - chrono::Duration::days(1);
    let mock = SplunkMock::start(cfg).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (first, cursor) = pull(&conn, None, 1000, since).await;
    assert_eq!(first.len(), 100);
    let added = mock.add_events("acme_prod", 10);
    let (next, _) = pull(&conn, cursor, 1000, since).await;
    assert_exactly_once(&next, &truth(&added));
}

#[tokio::test]
async fn a_caught_up_fetch_makes_four_requests_and_a_clock_that_moved_is_read_again() {
    let mock = SplunkMock::start(config(&[("acme_prod", 100)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (first, cursor) = pull(&conn, None, 1000, since).await;
    assert_eq!(first.len(), 100);
    // Caught up: the reused `server/info` and a blocking job leave create, one status,
    // results and delete.
    let before = mock.stats();
    let budget = Budget {
        max_alerts: 1000,
        since,
    };
    let idle = conn.fetch(cursor.as_ref(), budget).await.unwrap();
    assert!(idle.alerts.is_empty() && idle.caught_up);
    let after = mock.stats();
    assert_eq!(
        after.requests - before.requests,
        4,
        "{before:?} → {after:?}"
    );
    assert_eq!(after.jobs_created - before.jobs_created, 1);
    // The server's clock moves 30 s while ours does not: the job's `Date` refuses the reused
    // reading, the window is searched again from a fresh one, and the new events come now.
    let added = mock.add_events("acme_prod", 5);
    let got = conn.fetch(Some(&idle.cursor), budget).await.unwrap();
    assert_exactly_once(&got.alerts, &truth(&added));
    assert!(got.caught_up);
    let last = mock.stats();
    assert_eq!(
        last.jobs_created - after.jobs_created,
        2,
        "one job refused, one read"
    );
    assert_eq!(last.jobs_open, 0, "the refused job was deleted");
}

#[tokio::test]
async fn events_of_the_second_in_progress_wait_for_the_next_pull_and_come_once() {
    // The server's clock does not move after indexing: the events' second is the one in
    // progress, which `index_latest` (exclusive) leaves out although the window ends at the
    // server's clock itself (no delay).
    let mut cfg = config(&[("acme_prod", 10)], &[]);
    cfg.settle_secs = 0;
    let mock = SplunkMock::start(cfg).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    mock.advance_clock(60);
    let (_, cursor) = pull(&conn, None, 1000, since).await;
    let added = mock.add_events("acme_prod", 5);
    let (early, cursor) = pull(&conn, cursor, 1000, since).await;
    assert!(early.is_empty(), "their second is still in progress");
    // Three seconds later (past the 2 s a reused clock reading may be off by, since this mock's
    // clock jumps while ours does not) they come with the next pull, and only once.
    mock.advance_clock(3);
    let (got, cursor) = pull(&conn, cursor, 1000, since).await;
    assert_exactly_once(&got, &truth(&added));
    let (again, _) = pull(&conn, cursor, 1000, since).await;
    assert!(again.is_empty(), "nothing twice: {}", again.len());
}

#[tokio::test]
async fn a_large_backlog_is_read_in_narrowed_windows() {
    let mock = SplunkMock::start(config(&[("acme_prod", 3_000)], &[])).await;
    let p = params(&mock, &["acme_prod"], None);
    let conn = Splunk::with_tuning(
        Settings::validate(p).unwrap(),
        SecretString::from(DEFAULT_TOKEN),
        &http(),
        Tuning {
            min_rows_before_narrowing: 200,
            ..tuning()
        },
    )
    .unwrap();
    let (got, _) = pull(&conn, None, 100, since(&mock)).await;
    assert_exactly_once(&got, &truth(&mock.events(&["acme_prod"], None)));
    assert_eq!(mock.stats().jobs_open, 0);
}

#[tokio::test]
async fn one_job_serves_several_batches_and_a_refetch_in_a_new_process_gives_the_same_batch() {
    let mock = SplunkMock::start(config(&[("acme_prod", 3_000)], &[])).await;
    let connector = || {
        Splunk::with_tuning(
            Settings::validate(params(&mock, &["acme_prod"], None)).unwrap(),
            SecretString::from(DEFAULT_TOKEN),
            &http(),
            Tuning {
                min_rows_before_narrowing: 1_000,
                ..tuning()
            },
        )
        .unwrap()
    };
    let conn = connector();
    let budget = Budget {
        max_alerts: 100,
        since: since(&mock),
    };
    let (mut cursor, mut got, mut batches) = (None::<Cursor>, Vec::new(), 0);
    let (mut carried, mut probe_jobs) = (0, 0);
    loop {
        let before = mock.stats().requests;
        let batch = conn.fetch(cursor.as_ref(), budget).await.unwrap();
        batches += 1;
        if batch.pages == 0 {
            // From memory: no request, and what a search from the same cursor in another
            // process returns.
            assert_eq!(mock.stats().requests, before);
            carried += 1;
            let jobs = mock.stats().jobs_created;
            let fresh = connector().fetch(cursor.as_ref(), budget).await.unwrap();
            probe_jobs += mock.stats().jobs_created - jobs;
            let ids = |b: &[Alert]| b.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&batch.alerts), ids(&fresh.alerts));
            assert_eq!(batch.cursor, fresh.cursor);
        }
        got.extend(batch.alerts);
        cursor = Some(batch.cursor);
        if batch.caught_up {
            break;
        }
    }
    assert_exactly_once(&got, &truth(&mock.events(&["acme_prod"], None)));
    let jobs = mock.stats().jobs_created - probe_jobs;
    assert!(batches >= 30, "{batches} batches");
    // Jobs hold about 500 rows (half of the 1,000 a job may hold), 5 batches of 100; the last
    // batch of each window is searched again with the next rows, the first window is narrowed.
    assert!(
        jobs * 2 < batches && carried * 2 > batches,
        "{jobs} jobs and {carried} batches from memory for {batches} batches"
    );
}

#[tokio::test]
async fn more_events_in_one_second_than_a_batch_are_all_emitted_once() {
    let mock = SplunkMock::start(config(&[("acme_prod", 0)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (_, cursor) = pull(&conn, None, 100, since).await;
    // 450 events share one `_indextime` second.
    let added = mock.add_events("acme_prod", 450);
    let (got, _) = pull(&conn, cursor, 100, since).await;
    assert_exactly_once(&got, &truth(&added));
}

#[tokio::test]
async fn works_on_v1_results_before_9_0_2_and_v2_on_10_x() {
    for version in ["8.2.12", "9.0.1", "9.0.2", "10.2.0"] {
        let mut cfg = config(&[("acme_prod", 120)], &[]);
        cfg.version = version.into();
        let mock = SplunkMock::start(cfg).await;
        let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
        let (got, _) = pull(&conn, None, 1000, since(&mock)).await;
        assert_eq!(got.len(), 120, "version {version}");
    }
}

#[tokio::test]
async fn token_and_password_credentials_are_checked_and_rejections_are_typed() {
    let mock = SplunkMock::start(config(&[("acme_prod", 1)], &[])).await;
    let p = params(&mock, &["acme_prod"], None);
    token_connector(p.clone(), DEFAULT_TOKEN)
        .check()
        .await
        .unwrap();
    session_connector(p.clone(), DEFAULT_PASSWORD)
        .check()
        .await
        .unwrap();
    assert_eq!(mock.stats().logins, 1);

    let bad_password = session_connector(p.clone(), "wrong")
        .check()
        .await
        .unwrap_err();
    assert!(bad_password.is_credential_rejected(), "{bad_password}");
    assert!(
        !bad_password.to_string().contains("wrong"),
        "no secret in errors"
    );

    let conn = token_connector(p.clone(), DEFAULT_TOKEN);
    mock.revoke_token(DEFAULT_TOKEN);
    let revoked = conn.check().await.unwrap_err();
    assert!(
        matches!(revoked, ConnectorError::CredentialRejected { .. }),
        "{revoked}"
    );
    let fetch = conn
        .fetch(
            None,
            Budget {
                max_alerts: 10,
                since: since(&mock),
            },
        )
        .await
        .unwrap_err();
    assert!(fetch.is_credential_rejected());
    assert!(!fetch.to_string().contains(DEFAULT_TOKEN));
}

#[tokio::test]
async fn a_failed_job_fails_the_fetch_is_deleted_and_the_cursor_holds() {
    let mock = SplunkMock::start(config(&[("acme_prod", 50)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let budget = Budget {
        max_alerts: 1000,
        since: since(&mock),
    };
    mock.fail_next_jobs(1);
    let err = conn.fetch(None, budget).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Vendor { .. }), "{err}");
    assert!(err.to_string().contains("FATAL"), "{err}");
    assert_eq!(mock.stats().jobs_open, 0, "deleted on error too");
    let (got, _) = pull(&conn, None, 1000, budget.since).await;
    assert_eq!(got.len(), 50);
}

#[tokio::test]
async fn transient_errors_on_results_pages_are_retried() {
    let mock = SplunkMock::start(config(&[("acme_prod", 50)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    mock.fail_next_results(2, 502);
    let (got, _) = pull(&conn, None, 1000, since(&mock)).await;
    assert_eq!(got.len(), 50);
    assert!(conn.retries() >= 2);
}

#[tokio::test]
async fn a_search_quota_that_stays_full_fails_the_fetch_with_the_reason_and_keeps_the_cursor() {
    let mock = SplunkMock::start(config(&[("acme_prod", 50)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let budget = Budget {
        max_alerts: 1000,
        since: since(&mock),
    };
    mock.fail_next_searches_with_quota(5);
    let err = conn.fetch(None, budget).await.unwrap_err();
    match &err {
        ConnectorError::Http {
            status: 503,
            message,
            ..
        } => {
            assert!(message.contains("concurrent search quota"), "{message}");
        }
        other => panic!("expected a 503, got {other}"),
    }
    let (got, _) = pull(&conn, None, 1000, budget.since).await;
    assert_eq!(got.len(), 50);
}

#[tokio::test]
async fn scopes_sharing_a_service_account_share_two_search_slots() {
    let mut cfg = config(
        &[
            ("acme_prod", 300),
            ("acme_dev", 300),
            ("globex_prod", 300),
            ("initech", 300),
        ],
        &[],
    );
    cfg.queued_polls = 3;
    cfg.running_polls = 3;
    let mock = SplunkMock::start(cfg).await;
    let since = since(&mock);
    let process = http();
    let conns: Vec<Splunk> = ["acme_prod", "acme_dev", "globex_prod", "initech"]
        .iter()
        .map(|i| session_connector_on(params(&mock, &[i], None), DEFAULT_PASSWORD, &process))
        .collect();
    let pulls = conns.iter().map(|c| pull(c, None, 50, since));
    let results = futures_join_all(pulls).await;
    for (got, _) in &results {
        assert_eq!(got.len(), 300);
    }
    let stats = mock.stats();
    assert!(stats.max_concurrent_searches <= 2, "{stats:?}");
    assert!(stats.max_concurrent_searches >= 1);
    assert_eq!(
        stats.quota_rejections, 0,
        "the quota of 3 was never reached"
    );
}

/// `join_all` without the futures crate: spawn-free, polled together on this task.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

/// A server that ignores everything after the first pipe stage (as a careless Splunk-compatible
/// service might) still cannot hand this scope another client's notables.
#[tokio::test]
async fn rows_outside_the_scope_are_dropped_even_when_the_server_returns_them() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let now = fixed_now();
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let reply = |body: serde_json::Value| {
        ResponseTemplate::new(200)
            .insert_header("Date", date.as_str())
            .set_body_json(body)
    };
    Mock::given(method("GET"))
        .and(path("/services/server/info"))
        .respond_with(reply(
            serde_json::json!({"entry": [{"content": {"version": "9.3.0"}}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/servicesNS/nobody/search/search/jobs"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Date", date.as_str())
                .set_body_json(serde_json::json!({"sid": "1.1"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/servicesNS/nobody/search/search/jobs/1.1"))
        .respond_with(reply(serde_json::json!({"entry": [{"content": {"dispatchState": "DONE", "isDone": true, "resultCount": 3}}]})))
        .mount(&server)
        .await;
    let it = (now.timestamp() - 3600).to_string();
    let row = |cd: &str, orig: &str| serde_json::json!({"_cd": cd, "_indextime": it, "_time": it, "_raw": cd, "index": "notable", "orig_index": orig, "event_id": format!("G@@notable@@{cd}")});
    Mock::given(method("GET"))
        .and(path_regex(r"^/servicesNS/nobody/search/search/v2/jobs/1\.1/results$"))
        .respond_with(reply(serde_json::json!({"results": [row("1:1", "acme_prod"), row("1:2", "globex_prod"), row("1:3", "ACME_dev")]})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(reply(serde_json::json!({"messages": []})))
        .mount(&server)
        .await;
    let mut p = Params {
        url: server.uri(),
        app: "search".into(),
        indexes: vec!["notable".into()],
        scope_filter: Some("orig_index=acme*".into()),
        allow_insecure_http: true,
        rate_limit_per_minute: Some(6_000_000),
        ..Params::default()
    };
    p.owner = None;
    let conn = token_connector(p, "t");
    let since = now - chrono::Duration::hours(24);
    let batch = conn
        .fetch(
            None,
            Budget {
                max_alerts: 100,
                since,
            },
        )
        .await
        .unwrap();
    let ids: HashSet<String> = batch.alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        ids,
        HashSet::from(["G@@notable@@1:1".to_owned(), "G@@notable@@1:3".to_owned()])
    );
}

// ---- vendor fidelity: partial results, look-behind, deterministic sid, quarantine ----

fn budget(mock: &SplunkMock) -> Budget {
    Budget {
        max_alerts: 1000,
        since: since(mock),
    }
}

#[tokio::test]
async fn a_peer_failure_fails_the_fetch_as_partial_and_the_next_pull_gets_the_window_once() {
    let mock = SplunkMock::start(config(&[("acme_prod", 200)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let since = since(&mock);
    let (first, cursor) = pull(&conn, None, 1000, since).await;
    assert_eq!(first.len(), 200);
    let added = mock.add_events("acme_prod", 40);

    // A peer goes down during the search: with allow_partial_results=false Splunk fails the job.
    // (Two jobs: the mock's clock moved with the new events, so the first job, made from the
    // reused clock, is refused unread and the window is searched again.)
    mock.fail_peer_next_jobs(2);
    let err = conn
        .fetch(cursor.as_ref(), budget(&mock))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Vendor { .. }), "{err}");
    assert!(err.to_string().contains("partial results"), "{err}");
    assert!(
        err.to_string().contains(seliq_mocks::splunk::FAILED_PEER),
        "{err}"
    );
    let stats = mock.stats();
    assert!(
        stats.strict_jobs >= 2,
        "every job asks for allow_partial_results=false: {stats:?}"
    );
    assert_eq!(stats.jobs_open, 0, "the failed job is deleted");

    // The engine keeps the old cursor; the peer is back: the window comes exactly once.
    let (next, cursor) = pull(&conn, cursor, 1000, since).await;
    assert_exactly_once(&next, &truth(&added));
    let (again, _) = pull(&conn, cursor, 1000, since).await;
    assert!(again.is_empty(), "nothing twice");
}

#[tokio::test]
async fn a_finalized_job_is_partial_and_fails_the_fetch_without_moving_the_cursor() {
    let mock = SplunkMock::start(config(&[("acme_prod", 120)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    mock.finalize_next_jobs(1);
    let err = conn.fetch(None, budget(&mock)).await.unwrap_err();
    assert!(err.to_string().contains("partial results"), "{err}");
    assert!(err.to_string().contains("finalized"), "{err}");
    let (got, _) = pull(&conn, None, 1000, since(&mock)).await;
    assert_exactly_once(&got, &truth(&mock.events(&["acme_prod"], None)));
}

#[tokio::test]
async fn a_sixty_second_indexer_skew_loses_nothing_and_duplicates_nothing() {
    let mock = SplunkMock::start(config(&[("acme_prod", 100)], &[])).await;
    let since = since(&mock);
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let (mut all, mut cursor) = pull(&conn, None, 1000, since).await;
    // The indexer's clock is a minute behind the search head's: every event lands behind the
    // window end the previous pull computed from the search head's clock.
    mock.set_indexer_skew(60);
    for round in 0..8 {
        mock.add_events("acme_prod", 15 + round);
        mock.add_late_events("acme_prod", 3, Duration::from_secs(3600));
        let (got, c) = pull(&conn, cursor, 7, since).await;
        all.extend(got);
        cursor = c;
    }
    assert_exactly_once(&all, &truth(&mock.events(&["acme_prod"], None)));

    // The same skew without a real look-behind loses events for good: what the default prevents.
    let mock = SplunkMock::start(config(&[("acme_prod", 10)], &[])).await;
    let mut p = params(&mock, &["acme_prod"], None);
    p.look_back = Some(Duration::from_secs(1));
    let short = token_connector(p, DEFAULT_TOKEN);
    let (_, cursor) = pull(&short, None, 1000, since).await;
    mock.set_indexer_skew(60);
    let lost = mock.add_events("acme_prod", 5);
    let (got, _) = pull(&short, cursor, 1000, since).await;
    assert!(
        got.is_empty(),
        "indexed behind the mark: {} found",
        lost.len()
    );
}

#[tokio::test]
async fn a_5xx_after_the_job_was_created_does_not_create_a_second_job() {
    let mock = SplunkMock::start(config(&[("acme_prod", 60)], &[])).await;
    let conn = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    mock.fail_next_job_creations_after_creating(1, 502);
    let batch = conn.fetch(None, budget(&mock)).await.unwrap();
    assert_eq!(batch.alerts.len(), 60);
    let stats = mock.stats();
    assert_eq!(stats.jobs_created, 1, "{stats:?}");
    assert_eq!(
        stats.duplicate_sids, 1,
        "the retry reused the id: {stats:?}"
    );
    assert_eq!(stats.jobs_open, 0);
    assert!(conn.retries() >= 1);
}

#[tokio::test]
async fn a_transport_error_after_the_job_was_created_does_not_create_a_second_job() {
    let mock = SplunkMock::start(config(&[("acme_prod", 60)], &[])).await;
    // The create's answer comes after the read timeout: the client sees a timeout for a job
    // Splunk has made.
    let http = HttpOptions::new(Duration::from_secs(5), Duration::from_millis(400))
        .unwrap()
        .with_retry(fast_retry());
    let conn = Splunk::with_tuning(
        Settings::validate(params(&mock, &["acme_prod"], None)).unwrap(),
        SecretString::from(DEFAULT_TOKEN),
        &http,
        tuning(),
    )
    .unwrap();
    mock.stall_next_job_creations(1, Duration::from_secs(3));
    let batch = conn.fetch(None, budget(&mock)).await.unwrap();
    assert_eq!(batch.alerts.len(), 60);
    let stats = mock.stats();
    assert_eq!(stats.jobs_created, 1, "{stats:?}");
    assert_eq!(
        stats.duplicate_sids, 1,
        "the retry reused the id: {stats:?}"
    );
    assert_eq!(stats.jobs_open, 0);
    assert!(conn.retries() >= 1, "the timed-out create was retried");
}

/// A scripted splunkd answering every job with `results`, for rows the mock's data never has.
async fn scripted_splunk(results: String) -> wiremock::MockServer {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let date = fixed_now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let reply = |status: u16, body: String| {
        ResponseTemplate::new(status)
            .insert_header("Date", date.as_str())
            .set_body_raw(body.into_bytes(), "application/json")
    };
    Mock::given(method("GET"))
        .and(path("/services/server/info"))
        .respond_with(reply(
            200,
            r#"{"entry":[{"content":{"version":"9.3.0","guid":"ABC"}}]}"#.into(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/servicesNS/nobody/search/search/jobs"))
        .respond_with(reply(201, r#"{"sid":"1.1"}"#.into()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/servicesNS/nobody/search/search/jobs/1.1"))
        .respond_with(reply(
            200,
            r#"{"entry":[{"content":{"dispatchState":"DONE","isDone":true}}]}"#.into(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/servicesNS/nobody/search/search/v2/jobs/1\.1/results$",
        ))
        .respond_with(reply(200, results))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(reply(200, r#"{"messages":[]}"#.into()))
        .mount(&server)
        .await;
    server
}

fn scripted_params(uri: String) -> Params {
    Params {
        url: uri,
        app: "search".into(),
        indexes: vec!["acme_prod".into()],
        allow_insecure_http: true,
        rate_limit_per_minute: Some(6_000_000),
        ..Params::default()
    }
}

#[tokio::test]
async fn a_row_that_cannot_be_mapped_is_quarantined_once_and_the_rest_flows() {
    let it = (fixed_now().timestamp() - 3600).to_string();
    let results = serde_json::json!({"results": [
        {"_cd": "1:1", "_indextime": it, "_time": it, "_raw": "good", "index": "acme_prod"},
        // A custom base search dropped `_indextime`; the row even carries a secret-looking value.
        {"_cd": "1:2", "_time": it, "_raw": "password=hunter2", "index": "acme_prod"},
        {"_cd": "1:3", "_indextime": "yesterday", "_raw": "x", "index": "acme_prod"},
        "not an object"
    ]});
    let server = scripted_splunk(results.to_string()).await;
    let conn = token_connector(scripted_params(server.uri()), "t");
    let budget = Budget {
        max_alerts: 100,
        since: fixed_now() - chrono::Duration::hours(24),
    };
    let batch = conn.fetch(None, budget).await.unwrap();
    assert_eq!(batch.alerts.len(), 1);
    assert_eq!(batch.quarantined.len(), 3);
    for q in &batch.quarantined {
        assert!(q.reason.ends_with('.'), "one sentence: {}", q.reason);
        assert!(!q.reason.contains("hunter2") && !q.reason.contains("yesterday"));
    }
    assert!(
        batch
            .quarantined
            .iter()
            .any(|q| q.raw.get().contains("hunter2")),
        "kept verbatim"
    );
    assert!(batch.quarantined[0].reason.contains("_indextime"));
    assert!(batch.caught_up);

    // The cursor moved past them: the next pull's look-behind re-reads them, and drops them.
    let next = conn.fetch(Some(&batch.cursor), budget).await.unwrap();
    assert!(next.alerts.is_empty());
    assert!(next.quarantined.is_empty(), "quarantined once");
}

#[tokio::test]
async fn a_results_page_that_does_not_parse_is_an_error_not_a_quarantine() {
    let server = scripted_splunk(r#"{"results": [{"_cd": "1"#.into()).await;
    let conn = token_connector(scripted_params(server.uri()), "t");
    let err = conn
        .fetch(
            None,
            Budget {
                max_alerts: 100,
                since: fixed_now() - chrono::Duration::hours(24),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn endpoint_identity_is_the_servers_guid_whatever_url_reaches_it() {
    let mock = SplunkMock::start(config(&[("acme_prod", 1)], &[])).await;
    let by_ip = token_connector(params(&mock, &["acme_prod"], None), DEFAULT_TOKEN);
    let mut p = params(&mock, &["acme_prod"], None);
    p.url = mock.uri().replace("127.0.0.1", "localhost");
    let by_name = token_connector(p, DEFAULT_TOKEN);
    assert_ne!(
        by_ip.source_id(),
        by_name.source_id(),
        "two URLs, two source ids"
    );
    let a = by_ip.endpoint_identity().await.unwrap().unwrap();
    let b = by_name.endpoint_identity().await.unwrap().unwrap();
    assert_eq!(a, b, "one server");
    assert_eq!(a, mock.server_guid().to_ascii_lowercase());
    assert_eq!(
        a,
        by_ip.endpoint_identity().await.unwrap().unwrap(),
        "stable"
    );

    let other = SplunkMock::start(config(&[("acme_prod", 1)], &[])).await;
    let c = token_connector(params(&other, &["acme_prod"], None), DEFAULT_TOKEN)
        .endpoint_identity()
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a, c, "another server, another guid");
}

// ---- settings ----

fn settings(url: &str, indexes: &[&str], filter: Option<&str>) -> Settings {
    Settings::validate(Params {
        url: url.into(),
        app: "SplunkEnterpriseSecuritySuite".into(),
        indexes: indexes.iter().map(|s| s.to_string()).collect(),
        scope_filter: filter.map(str::to_owned),
        ..Params::default()
    })
    .unwrap()
}

#[test]
fn spelling_variants_of_one_scope_give_one_source_id() {
    let a = settings(
        "https://SPLUNK.example.com",
        &["acme_prod", "notable"],
        None,
    );
    for (url, idx) in [
        (
            "https://splunk.example.com:8089/",
            &["NOTABLE", "acme_prod"][..],
        ),
        (
            "  https://splunk.example.com:8089",
            &["acme_prod", "notable", "acme_prod"][..],
        ),
        ("https://splunk.example.com.", &["acme_prod,notable"][..]),
    ] {
        let b = settings(url, idx, None);
        if url.ends_with('.') {
            continue; // a trailing-dot FQDN is the source-id engineer's call
        }
        assert_eq!(a.source_id(), b.source_id(), "{url} {idx:?}");
    }
    assert_eq!(a.endpoint(), "https://splunk.example.com:8089");
    assert_ne!(
        a.source_id(),
        settings(
            "https://splunk.example.com:443",
            &["acme_prod", "notable"],
            None
        )
        .source_id(),
        "an explicit 443 is another endpoint"
    );
}

#[test]
fn overlapping_index_globs_conflict_and_disjoint_notable_filters_do_not() {
    let star = settings("https://h.example", &["acme*"], None).source_id();
    let prod = settings("https://h.example:8089", &["acme_prod"], None).source_id();
    assert!(star.conflicts_with(&prod));
    let acme = settings("https://h.example", &["notable"], Some("orig_index=acme*")).source_id();
    let globex = settings(
        "https://h.example",
        &["notable"],
        Some("orig_index=globex*"),
    )
    .source_id();
    assert!(!acme.conflicts_with(&globex));
}

#[test]
fn settings_round_trip_through_json_and_are_validated_again() {
    let s = settings("https://h.example", &["notable"], Some("orig_index=acme*"));
    let json = serde_json::to_value(&s).unwrap();
    let back: Settings = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, s);
    let mut bad = json.clone();
    bad["url"] = "http://h.example:8089".into();
    assert!(
        serde_json::from_value::<Settings>(bad).is_err(),
        "plain http refused on load"
    );
    let mut bad = json;
    bad["indexes"] = serde_json::json!(["Not An Index"]);
    assert!(serde_json::from_value::<Settings>(bad).is_err());
}

#[test]
fn settings_survive_the_registry_envelope_as_stored_by_the_gateway() {
    let s = settings("https://h.example", &["notable"], Some("orig_index=acme*"));
    let stored = seliq_connectors::Settings::Splunk(s.clone());
    let json = serde_json::to_string(&stored).unwrap();
    assert!(json.contains("\"kind\":\"splunk\""), "{json}");
    let back: seliq_connectors::Settings = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);
    assert_eq!(back.source_id(), s.source_id());
}

#[test]
fn settings_errors_name_the_field_and_value() {
    let base = Params {
        url: "https://h.example".into(),
        app: "search".into(),
        indexes: vec!["acme".into()],
        ..Params::default()
    };
    let cases = [
        (
            Params {
                url: "http://h.example".into(),
                ..base.clone()
            },
            "http://h.example",
        ),
        (
            Params {
                url: "https://h.example/en-US/app".into(),
                ..base.clone()
            },
            "/en-US/app",
        ),
        (
            Params {
                app: "my/app".into(),
                ..base.clone()
            },
            "my/app",
        ),
        (
            Params {
                earliest: Some("last week".into()),
                ..base.clone()
            },
            "last week",
        ),
        (
            Params {
                rate_limit_per_minute: Some(0),
                ..base.clone()
            },
            "0",
        ),
        (
            Params {
                scope_filter: Some("bad field=x".into()),
                ..base.clone()
            },
            "bad",
        ),
    ];
    for (p, value) in cases {
        let e = Settings::validate(p).unwrap_err();
        assert!(e.to_string().contains(value), "{e}");
    }
    assert!(Settings::validate(base).is_ok());
}

#[test]
fn look_back_is_validated_defaulted_and_read_from_old_stored_settings() {
    let base = Params {
        url: "https://h.example".into(),
        app: "search".into(),
        indexes: vec!["acme".into()],
        ..Params::default()
    };
    let s = Settings::validate(base.clone()).unwrap();
    assert_eq!(s.look_back(), seliq_connectors::splunk::DEFAULT_LOOK_BACK);
    assert_eq!(s.look_back(), Duration::from_secs(300));
    let json = serde_json::to_value(&s).unwrap();
    assert!(
        json.get("look_back_secs").is_none(),
        "old form unchanged: {json}"
    );
    let custom = Settings::validate(Params {
        look_back: Some(Duration::from_millis(1500)),
        ..base.clone()
    })
    .unwrap();
    assert_eq!(custom.look_back(), Duration::from_secs(2), "rounded up");
    let back: Settings = serde_json::from_value(serde_json::to_value(&custom).unwrap()).unwrap();
    assert_eq!(back.look_back(), Duration::from_secs(2));
    for bad in [Duration::ZERO, Duration::from_secs(3651 * 86_400)] {
        let e = Settings::validate(Params {
            look_back: Some(bad),
            ..base.clone()
        })
        .unwrap_err();
        assert!(e.to_string().contains("look-back"), "{e}");
    }
    assert!(
        Settings::validate(Params {
            look_back: Some(Duration::from_secs(3650 * 86_400)),
            ..base
        })
        .is_ok()
    );
    let mut stored = json;
    stored["look_back_secs"] = 0.into();
    assert!(
        serde_json::from_value::<Settings>(stored).is_err(),
        "validated again on load"
    );
}

#[test]
fn with_client_id_changes_the_user_of_a_password_credential_only() {
    let mut p = Params {
        url: "https://h.example".into(),
        app: "search".into(),
        indexes: vec!["acme".into()],
        ..Params::default()
    };
    let token = Settings::validate(p.clone()).unwrap();
    assert!(token.with_client_id("svc").is_err(), "a token has no user");
    p.username = Some("svc_old".into());
    let pw = Settings::validate(p).unwrap();
    let rotated = pw.with_client_id("svc_new").unwrap();
    assert_eq!(rotated.source_id(), pw.source_id());
    assert!(format!("{:?}", rotated.auth()).contains("svc_new"));
    assert!(pw.with_client_id("  ").is_err());
}

#[test]
fn the_search_is_restricted_to_the_scope_in_every_form() {
    let s = settings("https://h.example", &["acme_prod", "acme_dev"], None);
    assert_eq!(
        s.search(),
        r#"search (index="acme_dev" OR index="acme_prod")"#
    );
    let n = settings("https://h.example", &["notable"], Some("orig_index=acme*"));
    assert_eq!(
        n.search(),
        r#"search `notable` | search index="notable" orig_index="acme*""#
    );
    let custom = Settings::validate(Params {
        url: "https://h.example".into(),
        app: "search".into(),
        indexes: vec!["acme_prod".into()],
        base_search: Some("index=* sourcetype=linux_secure".into()),
        ..Params::default()
    })
    .unwrap();
    assert_eq!(
        custom.search(),
        r#"search index=* sourcetype=linux_secure | search index="acme_prod""#
    );
}

// ---- the mock's own protocol details ----

#[tokio::test]
async fn mock_export_streams_preview_rows_then_the_final_set_with_lastrow() {
    let mock = SplunkMock::start(config(&[("acme_prod", 5)], &[])).await;
    let body = reqwest::Client::new()
        .post(format!("{}/services/search/v2/jobs/export", mock.uri()))
        .bearer_auth(DEFAULT_TOKEN)
        .form(&[
            ("search", "search index=acme_prod"),
            ("output_mode", "json"),
            ("earliest_time", "0"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let finals: Vec<_> = lines
        .iter()
        .filter(|l| l["preview"] == false && l.get("result").is_some())
        .collect();
    assert!(
        lines.iter().any(|l| l["preview"] == true),
        "a preview set first"
    );
    assert_eq!(finals.len(), 5);
    assert_eq!(finals.last().unwrap()["lastrow"], true);
}

#[tokio::test]
async fn mock_disables_v1_results_in_10_x_and_caps_pages() {
    let mut cfg = config(&[("acme_prod", 5)], &[]);
    cfg.version = "10.2.0".into();
    let mock = SplunkMock::start(cfg).await;
    let c = reqwest::Client::new();
    let created: serde_json::Value = c
        .post(format!(
            "{}/servicesNS/nobody/search/search/jobs",
            mock.uri()
        ))
        .bearer_auth(DEFAULT_TOKEN)
        .form(&[
            ("search", "search index=acme_prod"),
            ("output_mode", "json"),
            ("exec_mode", "blocking"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().unwrap();
    let v1 = c
        .get(format!(
            "{}/services/search/jobs/{sid}/results?output_mode=json",
            mock.uri()
        ))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 404);
    let v2: serde_json::Value = c
        .get(format!(
            "{}/services/search/v2/jobs/{sid}/results?output_mode=json&count=2",
            mock.uri()
        ))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v2["results"].as_array().unwrap().len(), 2);
    let unauth = c
        .get(format!(
            "{}/services/server/info?output_mode=json",
            mock.uri()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let env: serde_json::Value = unauth.json().await.unwrap();
    assert_eq!(
        env["messages"][0]["text"],
        "call not properly authenticated"
    );
    // Without output_mode=json splunkd answers in XML, errors included.
    let unauth = c
        .get(format!("{}/services/server/info", mock.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let body = unauth.text().await.unwrap();
    assert!(
        body.contains(r#"<msg type="WARN">call not properly authenticated</msg>"#),
        "{body}"
    );
}

#[tokio::test]
async fn mock_follows_allow_partial_results_and_refuses_a_sid_in_use() {
    let mock = SplunkMock::start(config(&[("acme_prod", 10)], &[])).await;
    let c = reqwest::Client::new();
    let create = |extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("search", "search index=acme_prod"),
            ("output_mode", "json"),
            ("exec_mode", "blocking"),
            ("earliest_time", "0"),
        ];
        form.extend(extra);
        c.post(format!("{}/services/search/jobs", mock.uri()))
            .bearer_auth(DEFAULT_TOKEN)
            .form(&form)
            .send()
    };
    let status = |sid: String| {
        c.get(format!(
            "{}/services/search/jobs/{sid}?output_mode=json",
            mock.uri()
        ))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
    };
    // Splunk's default (allow_partial_results=true): DONE without the peer's rows, and a WARN.
    mock.fail_peer_next_jobs(1);
    let r: serde_json::Value = create(vec![]).await.unwrap().json().await.unwrap();
    let sid = r["sid"].as_str().unwrap().to_owned();
    let st: serde_json::Value = status(sid.clone()).await.unwrap().json().await.unwrap();
    let content = &st["entry"][0]["content"];
    assert_eq!(content["dispatchState"], "DONE");
    assert_eq!(content["resultCount"], 5);
    assert_eq!(content["messages"][0]["type"], "WARN");
    let page: serde_json::Value = c
        .get(format!(
            "{}/services/search/v2/jobs/{sid}/results?output_mode=json",
            mock.uri()
        ))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("incomplete")
    );

    // allow_partial_results=false: the job fails instead.
    mock.fail_peer_next_jobs(1);
    let r: serde_json::Value = create(vec![("allow_partial_results", "false")])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let st: serde_json::Value = status(r["sid"].as_str().unwrap().to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["entry"][0]["content"]["isFailed"], true);

    // `id` names the sid; a second job with the same id is refused.
    let first = create(vec![("id", "my_sid_1")]).await.unwrap();
    assert_eq!(first.status(), 201);
    let again = create(vec![("id", "my_sid_1")]).await.unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(mock.stats().duplicate_sids, 1);
}
