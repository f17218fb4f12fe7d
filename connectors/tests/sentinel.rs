//! The Sentinel connector against the Sentinel mock: volume exactly once, resume, crash,
//! escalations, late arrivals, and every injected fault.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use seliq_connectors::alert::event_id;
use seliq_connectors::http::{HttpOptions, RetryPolicy};
use seliq_connectors::sentinel::{Params, Sentinel, Settings};
use seliq_connectors::{Alert, Budget, Connector, ConnectorError, Cursor, Quarantined, Severity};
use seliq_mocks::sentinel::{Damage, SentinelMock, SentinelMockConfig};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(30),
    }
}

fn http() -> HttpOptions {
    HttpOptions::new(Duration::from_secs(5), Duration::from_secs(30))
        .unwrap()
        .with_retry(fast_retry())
}

/// For tests on tokio's paused clock: no timers that would fire while a request is in flight.
fn paused_http() -> HttpOptions {
    HttpOptions::without_timeouts()
        .unwrap()
        .with_retry(fast_retry())
}

fn params(mock: &SentinelMock) -> Params {
    let c = mock.credentials();
    Params {
        tenant_id: c.tenant_id,
        client_id: c.client_id,
        subscription_id: c.subscription_id,
        resource_group: c.resource_group,
        workspace_name: c.workspace_name,
        authority_url: Some(mock.authority_url()),
        management_url: Some(mock.management_url()),
        allow_insecure_http: true,
        rate_limit_per_minute: Some(6_000_000),
        ..Params::default()
    }
}

fn connector_with(mock: &SentinelMock, p: Params, http: &HttpOptions) -> Sentinel {
    let secret = SecretString::from(mock.credentials().client_secret);
    Sentinel::new(Settings::validate(p).unwrap(), secret, http).unwrap()
}

fn connector(mock: &SentinelMock) -> Sentinel {
    connector_with(mock, params(mock), &http())
}

async fn start(incidents: usize, page_cap: usize) -> SentinelMock {
    SentinelMock::start(SentinelMockConfig {
        seed: 7,
        incidents,
        page_cap,
        ..SentinelMockConfig::default()
    })
    .await
}

fn since() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(24)
}

/// Drive `fetch` like the engine: write, commit, fetch again until caught up.
async fn pull(
    conn: &Sentinel,
    mut cursor: Option<Cursor>,
    max: usize,
) -> Result<(Vec<Alert>, Option<Cursor>), ConnectorError> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let batch = conn
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: max,
                    since: since(),
                },
            )
            .await?;
        assert!(batch.alerts.len() <= max, "batch over budget");
        out.extend(batch.alerts);
        cursor = Some(batch.cursor);
        if batch.caught_up {
            return Ok((out, cursor));
        }
    }
    panic!("never caught up");
}

fn versions(alerts: &[Alert]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|a| {
            let v: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
            (
                a.id.clone(),
                v["properties"]["lastModifiedTimeUtc"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

fn assert_no_duplicates(alerts: &[Alert]) {
    let mut seen = HashSet::new();
    for a in alerts {
        assert!(
            seen.insert(a.event_id.clone()),
            "duplicate {} {}",
            a.id,
            a.event_id
        );
    }
}

fn as_set(v: Vec<(String, String)>) -> HashSet<(String, String)> {
    v.into_iter().collect()
}

#[tokio::test]
async fn pulls_5000_incidents_over_many_pages_exactly_once() {
    let mock = start(5000, 100).await;
    let conn = connector(&mock);
    let (alerts, _) = pull(&conn, None, 700).await.unwrap();

    assert_no_duplicates(&alerts);
    assert_eq!(alerts.len(), 5000);
    assert_eq!(as_set(versions(&alerts)), as_set(mock.versions()));

    let source = conn.source_id().canonical();
    for a in &alerts {
        let (_, version) = versions(std::slice::from_ref(a)).remove(0);
        assert_eq!(a.event_id, event_id(&source, &a.id, &version));
        assert_eq!(a.vendor, seliq_connectors::Kind::Sentinel);
    }
    let stats = mock.stats();
    assert!(stats.list_requests >= 50, "{} pages", stats.list_requests);
    assert_eq!(stats.tokens_issued, 1, "one token for the whole pull");
    let first = &stats.list_queries[0];
    assert_eq!(first.top.as_deref(), Some("700"));
    assert_eq!(
        first.orderby.as_deref(),
        Some("properties/lastModifiedTimeUtc asc")
    );
    assert!(!first.skip_token);
    // Pages after a chain's first came from a re-encoded nextLink that kept the query intact.
    let followed = stats
        .list_queries
        .windows(2)
        .filter(|w| w[1].skip_token)
        .count();
    assert!(followed >= 40, "{followed} nextLinks followed");
    for w in stats.list_queries.windows(2) {
        assert_eq!(w[1].orderby, first.orderby);
        assert_eq!(w[1].api_version.as_deref(), Some("2024-03-01"));
        if w[1].skip_token {
            assert_eq!(w[1].filter, w[0].filter);
            assert_eq!(w[1].top, w[0].top);
        }
    }
}

/// Issue 20: a batch that stops inside a page leaves the rest of the page to the next batch of
/// the pull, which reads it from memory instead of querying it again.
#[tokio::test]
async fn a_batch_that_stops_inside_a_page_leaves_its_rest_to_the_next_batch() {
    let mock = start(5000, 100).await;
    let conn = connector(&mock);
    // 700 per batch: most batches end inside a page of 100.
    let (alerts, cursor) = pull(&conn, None, 700).await.unwrap();
    assert_no_duplicates(&alerts);
    assert_eq!(as_set(versions(&alerts)), as_set(mock.versions()));
    // 50 pages of records, plus one fresh query per batch boundary (8 batches, 7 boundaries):
    // the rest of a page is carried, but what follows it is a query from the position (a
    // nextLink's skip token may be an offset, which an escalation between batches shifts).
    let stats = mock.stats();
    let fresh = stats.list_queries.iter().filter(|q| !q.skip_token).count();
    assert_eq!(fresh, 8, "the first query and one per batch boundary");
    assert!(
        stats.list_requests <= 5000_u64.div_ceil(100) + 8,
        "{} list requests for 5,000 incidents in pages of 100",
        stats.list_requests
    );
    // The next pull starts from the cursor with a fresh query over the look-back.
    let (again, _) = pull(&conn, cursor, 700).await.unwrap();
    assert!(again.is_empty());
    let stats = mock.stats();
    assert_eq!(
        stats.list_queries.iter().filter(|q| !q.skip_token).count(),
        9
    );
}

#[tokio::test]
async fn undocumented_enum_values_map_to_informational_with_raw_kept() {
    let mock = start(300, 1000).await;
    let (alerts, _) = pull(&connector(&mock), None, 1000).await.unwrap();
    let odd: Vec<&Alert> = alerts
        .iter()
        .filter(|a| {
            let v: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
            !matches!(
                v["properties"]["severity"].as_str(),
                Some("High" | "Medium" | "Low" | "Informational")
            )
        })
        .collect();
    assert!(!odd.is_empty(), "the mock serves undocumented severities");
    assert!(odd.iter().all(|a| a.severity == Severity::Informational));
    assert!(
        alerts
            .iter()
            .any(|a| a.status == "inprogress" || a.status == "resolved")
    );
    assert!(alerts.iter().all(|a| {
        a.link
            .as_deref()
            .is_some_and(|l| l.starts_with("https://portal.azure.com/"))
    }));
}

#[tokio::test]
async fn resumes_from_a_committed_cursor_with_a_new_connector() {
    let mock = start(1200, 250).await;
    let first = connector(&mock);
    let mut cursor = None;
    let mut alerts = Vec::new();
    for _ in 0..3 {
        let b = first
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: 170,
                    since: since(),
                },
            )
            .await
            .unwrap();
        assert!(!b.caught_up);
        alerts.extend(b.alerts);
        cursor = Some(b.cursor);
    }
    drop(first);
    // The cursor survives a round trip through the store as JSON.
    let stored = serde_json::to_string(&cursor).unwrap();
    let cursor: Option<Cursor> = serde_json::from_str(&stored).unwrap();

    let (rest, _) = pull(&connector(&mock), cursor, 170).await.unwrap();
    alerts.extend(rest);
    assert_no_duplicates(&alerts);
    assert_eq!(as_set(versions(&alerts)), as_set(mock.versions()));
    assert_eq!(alerts.len(), 1200);
}

#[tokio::test]
async fn a_crash_before_commit_repeats_the_same_versions_and_loses_none() {
    let mock = start(900, 200).await;
    let conn = connector(&mock);
    let budget = Budget {
        max_alerts: 150,
        since: since(),
    };
    let b1 = conn.fetch(None, budget).await.unwrap();
    let committed = b1.cursor;
    let lost = conn.fetch(Some(&committed), budget).await.unwrap();
    // Crash: `lost` was written but its cursor never committed.
    let again = conn.fetch(Some(&committed), budget).await.unwrap();
    let ids = |b: &[Alert]| b.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&lost.alerts), ids(&again.alerts));
    assert_eq!(lost.cursor, again.cursor);

    let (rest, _) = pull(&conn, Some(again.cursor), 150).await.unwrap();
    let mut all = b1.alerts;
    all.extend(again.alerts);
    all.extend(rest);
    assert_no_duplicates(&all);
    assert_eq!(as_set(versions(&all)), as_set(mock.versions()));
}

#[tokio::test]
async fn escalations_between_pulls_are_emitted_again_and_nothing_else() {
    let mock = start(600, 1000).await;
    let conn = connector(&mock);
    let (first, cursor) = pull(&conn, None, 1000).await.unwrap();
    assert_eq!(first.len(), 600);

    let escalated: HashSet<String> = mock.escalate(25).into_iter().collect();
    let (second, cursor) = pull(&conn, cursor, 1000).await.unwrap();
    let ids: HashSet<String> = second.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, escalated);
    assert_eq!(second.len(), 25);
    let current: HashMap<String, String> = mock.versions().into_iter().collect();
    for (id, version) in versions(&second) {
        assert_eq!(
            current[&id], version,
            "the escalated version is the one emitted"
        );
    }
    let before: HashMap<String, String> = first
        .iter()
        .map(|a| (a.id.clone(), a.event_id.clone()))
        .collect();
    assert!(second.iter().all(|a| before[&a.id] != a.event_id));

    let (third, _) = pull(&conn, cursor, 1000).await.unwrap();
    assert!(
        third.is_empty(),
        "a quiet source gives nothing: {}",
        third.len()
    );
    let all: Vec<Alert> = first.into_iter().chain(second).collect();
    assert_no_duplicates(&all);
    assert!(as_set(versions(&all)).is_subset(&as_set(mock.history())));
}

#[tokio::test]
async fn late_incidents_inside_the_look_back_are_picked_up() {
    let mock = start(400, 1000).await;
    let conn = connector(&mock);
    let (first, cursor) = pull(&conn, None, 1000).await.unwrap();
    assert_eq!(first.len(), 400);

    let late: HashSet<String> = mock
        .add_late_incidents(4, Duration::from_secs(120))
        .into_iter()
        .collect();
    let fresh: HashSet<String> = mock.add_incidents(3).into_iter().collect();
    let (second, _) = pull(&conn, cursor, 1000).await.unwrap();
    let ids: HashSet<String> = second.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, late.union(&fresh).cloned().collect());
    assert_eq!(second.len(), 7);
}

#[tokio::test]
async fn updates_during_a_half_walked_chain_are_not_lost() {
    let mock = start(1000, 100).await;
    let conn = connector(&mock);
    let budget = Budget {
        max_alerts: 250,
        since: since(),
    };
    let b = conn.fetch(None, budget).await.unwrap();
    let mut all = b.alerts;
    // Touch incidents already emitted and some not yet reached.
    mock.escalate(40);
    let (rest, cursor) = pull(&conn, Some(b.cursor), 250).await.unwrap();
    all.extend(rest);
    let (tail, _) = pull(&conn, cursor, 250).await.unwrap();
    all.extend(tail);
    assert_no_duplicates(&all);
    let got = as_set(versions(&all));
    assert!(
        as_set(mock.versions()).is_subset(&got),
        "every current version delivered"
    );
    assert!(got.is_subset(&as_set(mock.history())));
}

#[tokio::test]
async fn escalations_between_batches_lose_nothing_with_offset_skip_tokens() {
    let mock = SentinelMock::start(SentinelMockConfig {
        seed: 11,
        incidents: 1000,
        page_cap: 100,
        offset_skip_tokens: true,
        ..SentinelMockConfig::default()
    })
    .await;
    let conn = connector(&mock);
    let budget = Budget {
        max_alerts: 250,
        since: since(),
    };
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let b = conn.fetch(cursor.as_ref(), budget).await.unwrap();
        all.extend(b.alerts);
        cursor = Some(b.cursor);
        if b.caught_up {
            break;
        }
        // Incidents already read move to the end of the order: every offset behind them shifts.
        mock.escalate(10);
    }
    let (tail, _) = pull(&conn, cursor, 250).await.unwrap();
    all.extend(tail);
    assert_no_duplicates(&all);
    assert!(as_set(mock.versions()).is_subset(&as_set(versions(&all))));
}

#[tokio::test(start_paused = true)]
async fn survives_throttling_and_honours_retry_after() {
    let mock = start(300, 100).await;
    let conn = connector_with(&mock, params(&mock), &paused_http());
    mock.throttle_next(3, 2);
    let started = tokio::time::Instant::now();
    let (alerts, _) = pull(&conn, None, 1000).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.stats().throttled, 3);
    assert!(conn.retries() >= 3);
    assert_no_duplicates(&alerts);
    assert_eq!(as_set(versions(&alerts)), as_set(mock.versions()));
}

#[tokio::test(start_paused = true)]
async fn throttles_ahead_when_remaining_reads_run_low() {
    let mock = start(300, 100).await;
    let conn = connector_with(&mock, params(&mock), &paused_http());
    mock.set_remaining_reads(11);
    let started = tokio::time::Instant::now();
    let (alerts, _) = pull(&conn, None, 1000).await.unwrap();
    // 3 pages: after the first answer 10 reads remain, so the second waits (50 - 10) * 100 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(alerts.len(), 300);
}

#[tokio::test]
async fn survives_server_errors() {
    let mock = start(500, 100).await;
    let conn = connector(&mock);
    mock.fail_next(2, 503);
    let b = conn
        .fetch(
            None,
            Budget {
                max_alerts: 200,
                since: since(),
            },
        )
        .await
        .unwrap();
    mock.fail_next(3, 500);
    let (rest, _) = pull(&conn, Some(b.cursor), 200).await.unwrap();
    let all: Vec<Alert> = b.alerts.into_iter().chain(rest).collect();
    assert_eq!(mock.stats().server_errors, 5);
    assert_no_duplicates(&all);
    assert_eq!(as_set(versions(&all)), as_set(mock.versions()));
}

#[tokio::test]
async fn persistent_server_errors_fail_the_fetch_after_the_retry_budget() {
    let mock = start(10, 100).await;
    let conn = connector(&mock);
    mock.fail_next(50, 500);
    let err = conn
        .fetch(
            None,
            Budget {
                max_alerts: 10,
                since: since(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Http { status: 500, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_pull_goes_on() {
    let mock = start(800, 100).await;
    let conn = connector(&mock);
    let budget = Budget {
        max_alerts: 300,
        since: since(),
    };
    let b = conn.fetch(None, budget).await.unwrap();
    mock.expire_tokens();
    let (rest, _) = pull(&conn, Some(b.cursor), 300).await.unwrap();
    let all: Vec<Alert> = b.alerts.into_iter().chain(rest).collect();
    let stats = mock.stats();
    assert_eq!(stats.tokens_issued, 2);
    assert_eq!(stats.unauthorized, 1);
    assert_no_duplicates(&all);
    assert_eq!(as_set(versions(&all)), as_set(mock.versions()));
}

#[tokio::test]
async fn a_token_endpoint_outage_is_retried() {
    let mock = start(50, 100).await;
    let conn = connector(&mock);
    mock.fail_token_endpoint(2);
    let (alerts, _) = pull(&conn, None, 100).await.unwrap();
    assert_eq!(alerts.len(), 50);
    assert_eq!(mock.stats().token_requests, 3);
}

#[tokio::test]
async fn check_mints_a_token_and_lists_one_incident() {
    let mock = start(20, 100).await;
    connector(&mock).check().await.unwrap();
    let stats = mock.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.list_queries.last().unwrap().top.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_with_the_aadsts_code_and_a_fix() {
    let mock = start(5, 100).await;
    let settings = Settings::validate(params(&mock)).unwrap();
    let conn = Sentinel::new(settings, SecretString::from("wrong-secret-value"), &http()).unwrap();
    let err = conn.check().await.unwrap_err();
    assert!(err.is_credential_rejected(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("AADSTS7000215"), "{msg}");
    assert!(msg.contains("credentials rotate"), "{msg}");
    assert!(!msg.contains("wrong-secret-value"));
}

#[tokio::test]
async fn an_unknown_tenant_or_app_is_rejected_naming_the_setting() {
    let mock = start(5, 100).await;
    let other_tenant = Params {
        tenant_id: "11111111-1111-1111-1111-111111111111".into(),
        ..params(&mock)
    };
    let err = connector_with(&mock, other_tenant, &http())
        .check()
        .await
        .unwrap_err();
    assert!(err.is_credential_rejected());
    assert!(
        err.to_string().contains("AADSTS90002") && err.to_string().contains("--tenant-id"),
        "{err}"
    );

    let other_app = Params {
        client_id: "22222222-2222-2222-2222-222222222222".into(),
        ..params(&mock)
    };
    let err = connector_with(&mock, other_app, &http())
        .check()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS700016"), "{err}");
}

#[tokio::test]
async fn the_tenant_domain_works_like_its_guid() {
    let mock = start(5, 100).await;
    let p = Params {
        tenant_id: "Contoso-MSSP.onmicrosoft.com".into(),
        ..params(&mock)
    };
    connector_with(&mock, p, &http()).check().await.unwrap();
}

#[tokio::test]
async fn arm_names_in_another_case_reach_the_same_workspace() {
    let mock = start(30, 100).await;
    let c = mock.credentials();
    let p = Params {
        subscription_id: format!("{{{}}}", c.subscription_id.to_uppercase()),
        resource_group: c.resource_group.to_lowercase(),
        workspace_name: c.workspace_name.to_uppercase(),
        ..params(&mock)
    };
    let conn = connector_with(&mock, p, &http());
    assert_eq!(conn.source_id(), connector(&mock).source_id());
    let (alerts, _) = pull(&conn, None, 100).await.unwrap();
    assert_eq!(alerts.len(), 30);
}

#[tokio::test]
async fn an_unknown_workspace_surfaces_the_cloud_error() {
    let mock = start(5, 100).await;
    let p = Params {
        workspace_name: "not-there".into(),
        ..params(&mock)
    };
    let err = connector_with(&mock, p, &http()).check().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ConnectorError::Http { status: 404, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("ResourceNotFound") && msg.contains("not-there"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unsupported_api_version_surfaces_the_cloud_error() {
    let mock = start(5, 100).await;
    let p = Params {
        api_version: Some("2099-01-01".into()),
        ..params(&mock)
    };
    let err = connector_with(&mock, p, &http()).check().await.unwrap_err();
    assert!(
        err.to_string().contains("NoRegisteredProviderFound"),
        "{err}"
    );
}

#[tokio::test]
async fn with_alerts_adds_each_incidents_alerts_to_raw_within_the_budget() {
    let extra = 20;
    let n = seliq_connectors::sentinel::ALERT_CALLS_PER_PULL as usize + extra;
    let mock = start(n, 1000).await;
    let p = Params {
        with_alerts: true,
        ..params(&mock)
    };
    let conn = connector_with(&mock, p, &http());
    let (alerts, _) = pull(&conn, None, 1000).await.unwrap();
    assert_eq!(alerts.len(), n);
    assert_eq!(
        mock.stats().alert_requests,
        u64::from(seliq_connectors::sentinel::ALERT_CALLS_PER_PULL)
    );
    let (without, _) = pull(&connector(&mock), None, 1000).await.unwrap();
    let plain: HashMap<String, String> = without
        .iter()
        .map(|a| (a.id.clone(), a.raw.get().to_owned()))
        .collect();
    let mut with = 0;
    for a in &alerts {
        let v: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
        if let Some(list) = v["alerts"].as_array() {
            with += 1;
            assert_eq!(
                list.len() as u64,
                v["properties"]["additionalData"]["alertsCount"]
                    .as_u64()
                    .unwrap()
            );
            assert!(list.iter().all(|x| x["kind"] == "SecurityAlert"));
        }
        // The incident's own bytes are untouched: the alerts are appended after them.
        let plain = &plain[&a.id];
        assert!(a.raw.get().starts_with(&plain[..plain.len() - 1]));
    }
    assert_eq!(with, n - extra);
}

// ------------------------------------------------------------------ the mock on its own

async fn token(mock: &SentinelMock) -> String {
    let c = mock.credentials();
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/{}/oauth2/v2.0/token", mock.uri(), c.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"].as_str().unwrap().to_owned()
}

fn incidents_path(mock: &SentinelMock) -> String {
    let c = mock.credentials();
    format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/incidents",
        mock.uri(),
        c.subscription_id,
        c.resource_group,
        c.workspace_name
    )
}

#[tokio::test]
async fn mock_pages_50_without_top_and_sends_a_raw_next_link() {
    let mock = start(120, 1000).await;
    let t = token(&mock).await;
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}?api-version=2024-03-01&$filter=properties/lastModifiedTimeUtc%20ge%202000-01-01T00:00:00Z",
            incidents_path(&mock)
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 50);
    let next = body["nextLink"].as_str().unwrap();
    assert!(
        next.contains("$filter=properties/lastModifiedTimeUtc ge 2000-01-01T00:00:00Z"),
        "{next}"
    );
    assert!(next.contains("$skipToken="), "{next}");
}

#[tokio::test]
async fn mock_refuses_top_above_1000_with_a_cloud_error() {
    let mock = start(5, 1000).await;
    let t = token(&mock).await;
    let resp = reqwest::Client::new()
        .get(format!(
            "{}?api-version=2024-03-01&$top=2000",
            incidents_path(&mock)
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(body["error"]["message"].as_str().unwrap().contains("1000"));
}

#[tokio::test]
async fn mock_checks_the_token_form_and_scope() {
    let mock = start(1, 1000).await;
    let c = mock.credentials();
    let resp = reqwest::Client::new()
        .post(format!("{}/{}/oauth2/v2.0/token", mock.uri(), c.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", "https://management.azure.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_codes"][0], 1002012);
    assert!(mock.stats().tokens_issued == 0);
}

/// Like [`pull`], keeping the quarantined records as well.
async fn pull_with_quarantine(
    conn: &Sentinel,
    mut cursor: Option<Cursor>,
    max: usize,
) -> Result<(Vec<Alert>, Vec<Quarantined>, Option<Cursor>), ConnectorError> {
    let (mut alerts, mut quarantined) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let batch = conn
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: max,
                    since: since(),
                },
            )
            .await?;
        assert!(batch.alerts.len() <= max, "batch over budget");
        alerts.extend(batch.alerts);
        quarantined.extend(batch.quarantined);
        cursor = Some(batch.cursor);
        if batch.caught_up {
            return Ok((alerts, quarantined, cursor));
        }
    }
    panic!("never caught up");
}

fn raw_name(q: &Quarantined) -> String {
    let v: serde_json::Value = serde_json::from_str(q.raw.get()).unwrap();
    v["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn unmappable_incidents_are_quarantined_and_the_walk_neither_loses_nor_repeats_neighbours() {
    // Pages of 25 and batches of 40: damage sits at a page's end, the next page's start, a
    // batch's start and in the middle of a later page.
    let mock = start(150, 25).await;
    let all = mock.versions();
    let damaged = [
        (24, Damage::NoLastModified),
        (25, Damage::BadLastModified),
        (40, Damage::NoLastModified),
        (118, Damage::BadCreated),
    ];
    for (i, d) in damaged {
        assert!(mock.damage_incident(&all[i].0, d));
    }
    let damaged_names: HashSet<String> = damaged.iter().map(|(i, _)| all[*i].0.clone()).collect();
    // A look-back over all the data: the second pull re-reads every record, damaged ones too.
    let conn = connector_with(
        &mock,
        Params {
            look_back: Some(Duration::from_secs(3 * 3600)),
            ..params(&mock)
        },
        &http(),
    );

    let (alerts, quarantined, cursor) = pull_with_quarantine(&conn, None, 40).await.unwrap();

    assert_no_duplicates(&alerts);
    let expected: HashSet<(String, String)> = all
        .iter()
        .filter(|(name, _)| !damaged_names.contains(name))
        .cloned()
        .collect();
    assert_eq!(as_set(versions(&alerts)), expected, "every neighbour, once");
    assert_eq!(alerts.len(), expected.len());

    let names: Vec<String> = quarantined.iter().map(raw_name).collect();
    assert_eq!(
        names.len(),
        damaged.len(),
        "each quarantined once: {names:?}"
    );
    assert_eq!(names.iter().cloned().collect::<HashSet<_>>(), damaged_names);
    for q in &quarantined {
        // One sentence of our own: names the field, never the vendor's value.
        assert!(q.reason.ends_with('.'), "{}", q.reason);
        assert_eq!(q.reason.matches(". ").count(), 0, "{}", q.reason);
        assert!(!q.reason.contains("yesterday-ish"), "{}", q.reason);
        assert!(!q.reason.contains(&raw_name(q)), "{}", q.reason);
    }
    let reason_of = |idx: usize| {
        quarantined
            .iter()
            .find(|q| raw_name(q) == all[idx].0)
            .map(|q| q.reason.clone())
            .unwrap()
    };
    assert!(reason_of(24).contains("has no properties.lastModifiedTimeUtc"));
    assert!(reason_of(25).contains("lastModifiedTimeUtc is not an ISO-8601 time"));
    assert!(reason_of(118).contains("createdTimeUtc is not a string"));
    // The raw record is kept exactly as served.
    let raw24 = &quarantined
        .iter()
        .find(|q| raw_name(q) == all[24].0)
        .unwrap()
        .raw;
    let v: serde_json::Value = serde_json::from_str(raw24.get()).unwrap();
    assert!(v["properties"].get("lastModifiedTimeUtc").is_none());
    assert!(v["properties"]["title"].is_string());

    // The next pull re-reads the whole look-back window: nothing comes back, quarantined or not.
    let lists_before = mock.stats().list_requests;
    let (again, requarantined, _) = pull_with_quarantine(&conn, cursor, 40).await.unwrap();
    assert!(
        mock.stats().list_requests >= lists_before + 6,
        "all pages read again"
    );
    assert!(again.is_empty(), "{} repeated", again.len());
    assert!(
        requarantined.is_empty(),
        "{} quarantined again",
        requarantined.len()
    );
}

#[tokio::test]
async fn a_quarantined_record_does_not_hold_back_the_cursor_for_later_updates() {
    let mock = start(60, 1000).await;
    let all = mock.versions();
    assert!(mock.damage_incident(&all[59].0, Damage::NoLastModified));
    let conn = connector(&mock);
    let (first, q, cursor) = pull_with_quarantine(&conn, None, 1000).await.unwrap();
    assert_eq!(first.len(), 59);
    assert_eq!(q.len(), 1);
    // An escalation afterwards is emitted; the damaged record, fixed by its own update, too.
    let escalated = mock.escalate(1);
    assert!(mock.update(&all[59].0, Some("High"), None));
    let (second, q2, _) = pull_with_quarantine(&conn, cursor, 1000).await.unwrap();
    let ids: HashSet<String> = second.iter().map(|a| a.id.clone()).collect();
    assert!(ids.contains(&escalated[0]), "{ids:?}");
    assert!(ids.contains(&all[59].0), "{ids:?}");
    assert_eq!(second.len(), 2, "{ids:?}");
    assert!(q2.is_empty());
}

#[tokio::test]
async fn a_page_that_does_not_parse_is_still_an_error() {
    let mock = start(30, 1000).await;
    mock.garble_next_pages(1);
    let conn = connector(&mock);
    let err = conn
        .fetch(
            None,
            Budget {
                max_alerts: 100,
                since: since(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err:?}");
    // Nothing was committed, so the next fetch from the same (absent) cursor gets everything.
    let (alerts, quarantined, _) = pull_with_quarantine(&conn, None, 100).await.unwrap();
    assert_eq!(alerts.len(), 30);
    assert!(quarantined.is_empty());
}
