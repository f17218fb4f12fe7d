//! Raw vendor JSON → `Alert`, alerts per second on one core, for each vendor (target: ≥ 400,000
//! CrowdStrike alerts/s).
//!
//! The objects are the mocks' own: each vendor's mock is started in this process and read once
//! through its connector, and the `raw` bytes of what it returned (exactly as served) are the
//! corpus. Each run then maps copies of the corpus with the vendor's public mapping function
//! (`crowdstrike::map_alert`, `sentinel::map_incident`, `splunk::map_result`) on this thread;
//! copying the corpus and dropping the alerts happen outside the timed loop.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{
    Alert, Budget, ConnectorError, Cursor, Params, Settings, crowdstrike, registry, sentinel,
    splunk,
};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use seliq_mocks::sentinel::{SentinelMock, SentinelMockConfig};
use seliq_mocks::splunk::{DEFAULT_TOKEN, SplunkMock, SplunkMockConfig};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::proc_stats::{median, round};
use super::{BenchArgs, current_thread_runtime};
use crate::error::{Error, Result};

const CROWDSTRIKE_CORPUS: usize = 10_000;
const SENTINEL_CORPUS: usize = 5_000;
const SPLUNK_EVENTS: usize = 3_000;
const SPLUNK_NOTABLES: usize = 2_000;
const RUN_TIME: Duration = Duration::from_millis(500);
const TARGET_CROWDSTRIKE_PER_S: f64 = 400_000.0;

type MapFn = fn(&str, Box<RawValue>) -> std::result::Result<Alert, ConnectorError>;

struct Corpus {
    vendor: &'static str,
    source: String,
    raws: Vec<Box<RawValue>>,
    map: MapFn,
}

pub fn run(args: &BenchArgs) -> Result<Value> {
    let rt = current_thread_runtime()?;
    let corpora = rt.block_on(collect_all())?;
    drop(rt);
    let mut vendors = serde_json::Map::new();
    let mut crowdstrike_rate = f64::NAN;
    for c in &corpora {
        let rates: Vec<f64> = (0..args.runs)
            .map(|_| alerts_per_second(c, RUN_TIME))
            .collect::<Result<_>>()?;
        let rate = median(&rates).unwrap_or(f64::NAN);
        if c.vendor == "crowdstrike" {
            crowdstrike_rate = rate;
        }
        let bytes: usize = c.raws.iter().map(|r| r.get().len()).sum();
        vendors.insert(
            c.vendor.to_owned(),
            json!({
                "alerts_per_s_median": round(rate, 0),
                "ns_per_alert": round(1e9 / rate, 0),
                "mb_per_s": round(rate * bytes as f64 / c.raws.len().max(1) as f64 / 1e6, 1),
                "corpus_alerts": c.raws.len(),
                "mean_raw_bytes": bytes / c.raws.len().max(1),
                "runs": rates.iter().map(|x| round(*x, 0)).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(json!({
        "part": "mapping",
        "runs": args.runs,
        "vendors": vendors,
        "target_crowdstrike_alerts_per_s": TARGET_CROWDSTRIKE_PER_S,
        "target_met": crowdstrike_rate >= TARGET_CROWDSTRIKE_PER_S,
        "method": "one thread; each vendor's public mapping fn over the raw objects its mock served (read once through the connector); alerts/s median of runs of ~500 ms",
    }))
}

/// Maps copies of the corpus for about `run_time`; alerts per second.
fn alerts_per_second(c: &Corpus, run_time: Duration) -> Result<f64> {
    let mut mapped: u64 = 0;
    let mut busy = Duration::ZERO;
    let mut out: Vec<Alert> = Vec::with_capacity(c.raws.len());
    while busy < run_time {
        let input: Vec<Box<RawValue>> = c.raws.clone();
        let start = Instant::now();
        for raw in input {
            out.push((c.map)(&c.source, raw)?);
        }
        busy += start.elapsed();
        mapped += out.len() as u64;
        black_box(&out);
        out.clear();
    }
    Ok(mapped as f64 / busy.as_secs_f64())
}

async fn collect_all() -> Result<Vec<Corpus>> {
    let http = HttpOptions::default_timeouts()?;
    let since = Utc::now() - chrono::Duration::days(2);
    let mut out = Vec::new();

    let falcon = FalconMock::start(FalconMockConfig {
        cids: vec![CID_A.to_owned()],
        alerts_per_cid: CROWDSTRIKE_CORPUS,
        ..FalconMockConfig::default()
    })
    .await;
    let settings = Settings::validate(Params::Crowdstrike(crowdstrike::Params {
        client_id: PARENT_CLIENT_ID.to_owned(),
        cid: CID_A.to_owned(),
        base_url: Some(falcon.uri()),
        allow_insecure_http: true,
        ..Default::default()
    }))?;
    out.push(
        corpus(
            "crowdstrike",
            crowdstrike::map_alert,
            &settings,
            PARENT_SECRET,
            &http,
            since,
            CROWDSTRIKE_CORPUS,
        )
        .await?,
    );
    drop(falcon);

    let sentinel_mock = SentinelMock::start(SentinelMockConfig {
        incidents: SENTINEL_CORPUS,
        ..SentinelMockConfig::default()
    })
    .await;
    let creds = sentinel_mock.credentials();
    let settings = Settings::validate(Params::Sentinel(sentinel::Params {
        tenant_id: creds.tenant_id,
        client_id: creds.client_id,
        subscription_id: creds.subscription_id,
        resource_group: creds.resource_group,
        workspace_name: creds.workspace_name,
        authority_url: Some(sentinel_mock.authority_url()),
        management_url: Some(sentinel_mock.management_url()),
        allow_insecure_http: true,
        ..Default::default()
    }))?;
    out.push(
        corpus(
            "sentinel",
            sentinel::map_incident,
            &settings,
            &creds.client_secret,
            &http,
            since,
            SENTINEL_CORPUS,
        )
        .await?,
    );
    drop(sentinel_mock);

    // An ES deployment's mix: raw events of a client's index and notables about it.
    let splunk_mock = SplunkMock::start(SplunkMockConfig {
        indexes: vec![("acme_prod".into(), SPLUNK_EVENTS)],
        notables: vec![("acme_prod".into(), SPLUNK_NOTABLES)],
        ..SplunkMockConfig::default()
    })
    .await;
    let settings = Settings::validate(Params::Splunk(splunk::Params {
        url: splunk_mock.uri(),
        app: "search".to_owned(),
        indexes: vec!["acme_prod".to_owned(), "notable".to_owned()],
        allow_insecure_http: true,
        ..Default::default()
    }))?;
    out.push(
        corpus(
            "splunk",
            splunk::map_result,
            &settings,
            DEFAULT_TOKEN,
            &http,
            since,
            SPLUNK_EVENTS + SPLUNK_NOTABLES,
        )
        .await?,
    );
    Ok(out)
}

/// Reads up to `want` alerts through the connector and keeps their raw bytes.
async fn corpus(
    vendor: &'static str,
    map: MapFn,
    settings: &Settings,
    secret: &str,
    http: &HttpOptions,
    since: chrono::DateTime<Utc>,
    want: usize,
) -> Result<Corpus> {
    let connector = registry::build(settings, SecretString::from(secret), http)?;
    let mut raws: Vec<Box<RawValue>> = Vec::with_capacity(want);
    let mut cursor: Option<Cursor> = None;
    let mut source = settings.source_id().canonical();
    loop {
        let batch = connector
            .fetch(
                cursor.as_ref(),
                Budget {
                    max_alerts: 5_000,
                    since,
                },
            )
            .await?;
        if let Some(a) = batch.alerts.first() {
            source.clone_from(&a.source);
        }
        raws.extend(batch.alerts.into_iter().map(|a| a.raw));
        cursor = Some(batch.cursor);
        if batch.caught_up || raws.len() >= want {
            break;
        }
    }
    if raws.is_empty() {
        return Err(Error::Runtime(format!(
            "the {vendor} mock served no alerts to benchmark"
        )));
    }
    Ok(Corpus {
        vendor,
        source,
        raws,
        map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_every_mapped_alert() {
        let raw = RawValue::from_string(
            r#"{"composite_id":"c:ind:a:1","name":"N","severity":50,"updated_timestamp":"2026-01-01T00:00:00.123456789Z"}"#
                .to_owned(),
        )
        .unwrap();
        let c = Corpus {
            vendor: "crowdstrike",
            source: "crowdstrike:0123456789abcdef0123456789abcdef".to_owned(),
            raws: vec![raw; 10],
            map: crowdstrike::map_alert,
        };
        let r = alerts_per_second(&c, Duration::from_millis(5)).unwrap();
        assert!(r > 0.0 && r.is_finite(), "{r}");
    }

    #[test]
    fn a_mapping_error_fails_the_measurement() {
        let c = Corpus {
            vendor: "crowdstrike",
            source: "crowdstrike:x".to_owned(),
            raws: vec![RawValue::from_string("{}".to_owned()).unwrap()],
            map: crowdstrike::map_alert,
        };
        assert!(alerts_per_second(&c, Duration::from_millis(1)).is_err());
    }
}
