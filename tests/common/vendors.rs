//! The three mock vendors and the commands that connect them, shared by the pull and serve
//! tests.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{Env, code, stderr};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use seliq_mocks::sentinel::{SentinelMock, SentinelMockConfig};
use seliq_mocks::splunk::{DEFAULT_TOKEN, SplunkMock, SplunkMockConfig};

pub struct Vendors {
    pub falcon: FalconMock,
    pub sentinel: SentinelMock,
    pub splunk: SplunkMock,
}

pub async fn vendors() -> Vendors {
    Vendors {
        falcon: FalconMock::start(FalconMockConfig {
            alerts_per_cid: 2500,
            ..Default::default()
        })
        .await,
        sentinel: SentinelMock::start(SentinelMockConfig {
            incidents: 300,
            ..Default::default()
        })
        .await,
        splunk: SplunkMock::start(SplunkMockConfig {
            indexes: vec![("acme_prod".into(), 400), ("globex_prod".into(), 100)],
            notables: vec![],
            ..Default::default()
        })
        .await,
    }
}

pub async fn gw(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut c = env.cmd();
    for (k, v) in vars {
        c.env(k, v);
    }
    c.args(args);
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run gateway")
}

/// `integration add <ws> falcon` for `cid` through the MSSP parent client.
pub async fn add_falcon(
    env: &Env,
    falcon: &FalconMock,
    ws: &str,
    cid: &str,
    secret: &str,
) -> std::process::Output {
    let uri = falcon.uri();
    gw(
        env,
        &[
            "integration",
            "add",
            ws,
            "falcon",
            "--kind",
            "crowdstrike",
            "--client-id",
            PARENT_CLIENT_ID,
            "--cid",
            cid,
            "--base-url",
            &uri,
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        &[("S", secret)],
    )
    .await
}

pub async fn connect_all(env: &Env, v: &Vendors, ws: &str) {
    env.ok(&["workspace", "create", ws]);
    let falcon = add_falcon(env, &v.falcon, ws, CID_A, PARENT_SECRET).await;
    assert_eq!(code(&falcon), 0, "{}", stderr(&falcon));
    let c = v.sentinel.credentials();
    let sentinel = gw(
        env,
        &[
            "integration",
            "add",
            ws,
            "sentinel",
            "--kind",
            "sentinel",
            "--tenant-id",
            &c.tenant_id,
            "--client-id",
            &c.client_id,
            "--subscription-id",
            &c.subscription_id,
            "--resource-group",
            &c.resource_group,
            "--workspace-name",
            &c.workspace_name,
            "--authority-url",
            &v.sentinel.authority_url(),
            "--management-url",
            &v.sentinel.management_url(),
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        &[("S", &c.client_secret)],
    )
    .await;
    assert_eq!(code(&sentinel), 0, "{}", stderr(&sentinel));
    let splunk = gw(
        env,
        &[
            "integration",
            "add",
            ws,
            "splunk",
            "--kind",
            "splunk",
            "--url",
            &v.splunk.uri(),
            "--app",
            "search",
            "--index",
            "acme_prod",
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        &[("S", DEFAULT_TOKEN)],
    )
    .await;
    assert_eq!(code(&splunk), 0, "{}", stderr(&splunk));
}

/// (vendor id, updated_at) of every line, and the event ids, of an NDJSON file.
pub fn read_lines(path: &Path) -> (Vec<serde_json::Value>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("torn or invalid line {l:?}: {e}"))
        })
        .collect();
    let ids = lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap().to_owned())
        .collect();
    (lines, ids)
}

pub fn assert_unique(ids: &[String]) {
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicate event_id in output");
}

pub fn per_integration(lines: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in lines {
        *m.entry(l["integration"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    m
}
