//! Credentials never leak: not into logs at trace level, not into stdout, not into the database
//! file, whatever the vendor and whatever the outcome.

mod common;

use common::{Env, code, stderr};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use seliq_mocks::sentinel::{SentinelMock, SentinelMockConfig};
use seliq_mocks::splunk::{DEFAULT_PASSWORD, DEFAULT_USER, SplunkMock, SplunkMockConfig};

async fn gw(env: &Env, args: &[&str], secret: &str) -> std::process::Output {
    let mut c = env.cmd();
    c.env("RUST_LOG", "trace").env("S", secret).args(args);
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run gateway")
}

fn assert_absent(haystack: &[u8], needle: &str, what: &str) {
    let found = haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes());
    assert!(!found, "the secret appears in {what}");
}

fn assert_clean(out: &std::process::Output, secret: &str, what: &str) {
    assert_absent(&out.stdout, secret, &format!("stdout of {what}"));
    assert_absent(
        &out.stderr,
        secret,
        &format!("stderr (RUST_LOG=trace) of {what}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_stdout_or_database_across_add_pull_rotate_and_failures() {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 50,
        ..Default::default()
    })
    .await;
    let sentinel = SentinelMock::start(SentinelMockConfig {
        incidents: 20,
        ..Default::default()
    })
    .await;
    let splunk = SplunkMock::start(SplunkMockConfig {
        indexes: vec![("acme_prod".into(), 20)],
        notables: vec![],
        ..Default::default()
    })
    .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let az = sentinel.credentials();

    let falcon_add = gw(
        &env,
        &[
            "integration",
            "add",
            "acme-corp",
            "falcon",
            "--kind",
            "crowdstrike",
            "--client-id",
            PARENT_CLIENT_ID,
            "--cid",
            CID_A,
            "--base-url",
            &falcon.uri(),
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        PARENT_SECRET,
    )
    .await;
    assert_eq!(code(&falcon_add), 0, "{}", stderr(&falcon_add));
    assert_clean(&falcon_add, PARENT_SECRET, "integration add (crowdstrike)");

    let sentinel_add = gw(
        &env,
        &[
            "integration",
            "add",
            "acme-corp",
            "sentinel",
            "--kind",
            "sentinel",
            "--tenant-id",
            &az.tenant_id,
            "--client-id",
            &az.client_id,
            "--subscription-id",
            &az.subscription_id,
            "--resource-group",
            &az.resource_group,
            "--workspace-name",
            &az.workspace_name,
            "--authority-url",
            &sentinel.uri(),
            "--management-url",
            &sentinel.uri(),
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        &az.client_secret,
    )
    .await;
    assert_eq!(code(&sentinel_add), 0, "{}", stderr(&sentinel_add));
    assert_clean(
        &sentinel_add,
        &az.client_secret,
        "integration add (sentinel)",
    );

    let splunk_add = gw(
        &env,
        &[
            "integration",
            "add",
            "acme-corp",
            "splunk",
            "--kind",
            "splunk",
            "--url",
            &splunk.uri(),
            "--app",
            "search",
            "--index",
            "acme_prod",
            "--username",
            DEFAULT_USER,
            "--allow-insecure-http",
            "--secret-env",
            "S",
        ],
        DEFAULT_PASSWORD,
    )
    .await;
    assert_eq!(code(&splunk_add), 0, "{}", stderr(&splunk_add));
    assert_clean(&splunk_add, DEFAULT_PASSWORD, "integration add (splunk)");

    let pull = gw(&env, &["pull", "acme-corp"], "").await;
    assert_eq!(code(&pull), 0, "{}", stderr(&pull));
    for (secret, vendor) in [
        (PARENT_SECRET, "crowdstrike"),
        (az.client_secret.as_str(), "sentinel"),
        (DEFAULT_PASSWORD, "splunk"),
    ] {
        assert_clean(&pull, secret, &format!("pull ({vendor})"));
    }

    // A rejected rotation: the error names the problem, never the secret tried.
    let wrong = "WrongSecret-Marker-7f3a9c";
    let rotate = gw(
        &env,
        &[
            "credentials",
            "rotate",
            "acme-corp",
            "falcon",
            "--secret-env",
            "S",
        ],
        wrong,
    )
    .await;
    assert_eq!(code(&rotate), 5, "{}", stderr(&rotate));
    assert_clean(&rotate, wrong, "a rejected rotation");

    // Nothing but ciphertext in the database files, WAL included.
    for name in ["seliq.db", "seliq.db-wal", "seliq.db-shm"] {
        let path = env.data_dir().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            for secret in [
                PARENT_SECRET,
                az.client_secret.as_str(),
                DEFAULT_PASSWORD,
                wrong,
            ] {
                assert_absent(&bytes, secret, name);
            }
        }
    }
}
