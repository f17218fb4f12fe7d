//! The binding guard: one source, one workspace — against spelling tricks and concurrency.

mod common;

use common::{Env, code, stderr};

const CID: &str = "0123456789abcdef0123456789abcdef";

fn add_crowdstrike(env: &Env, ws: &str, name: &str, cid: &str) -> std::process::Output {
    env.add_falcon_offline(ws, name, "parent-client", cid, "s3cret-value")
}

fn add_sentinel(
    env: &Env,
    ws: &str,
    name: &str,
    tenant: &str,
    sub: &str,
    rg: &str,
    wsname: &str,
) -> std::process::Output {
    env.run_env(
        &[
            "integration",
            "add",
            ws,
            name,
            "--kind",
            "sentinel",
            "--tenant-id",
            tenant,
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--subscription-id",
            sub,
            "--resource-group",
            rg,
            "--workspace-name",
            wsname,
            "--secret-env",
            "AZ_SECRET",
            "--no-verify",
        ],
        &[("AZ_SECRET", "az-secret-value")],
    )
}

fn add_splunk(
    env: &Env,
    ws: &str,
    name: &str,
    url: &str,
    indexes: &str,
    filter: Option<&str>,
) -> std::process::Output {
    let mut args = vec![
        "integration",
        "add",
        ws,
        name,
        "--kind",
        "splunk",
        "--url",
        url,
        "--app",
        "search",
        "--index",
        indexes,
        "--secret-env",
        "SPLUNK_TOKEN",
        "--no-verify",
    ];
    if let Some(f) = filter {
        args.extend(["--scope-filter", f]);
    }
    env.run_env(&args, &[("SPLUNK_TOKEN", "splunk-token-value")])
}

fn bindings(env: &Env) -> i64 {
    env.db()
        .query_row("SELECT count(*) FROM bindings", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn rejects_crowdstrike_cid_bound_to_another_workspace_in_any_spelling() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    let first = add_crowdstrike(&env, "acme-corp", "falcon", CID);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    for spelling in [
        CID.to_owned(),
        CID.to_uppercase(),
        format!("{CID}-3F"),
        format!("{}-3f", CID.to_uppercase()),
        format!("  {CID}  "),
    ] {
        let out = add_crowdstrike(&env, "globex-prod", "falcon", &spelling);
        assert_eq!(code(&out), 3, "{spelling}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is already bound to workspace acme-corp"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(bindings(&env), 1);
    // Each refusal is recorded in the asking workspace's audit log.
    let refused: i64 = env
        .db()
        .query_row(
            "SELECT count(*) FROM audit_entries a JOIN workspaces w ON w.id = a.workspace_id
             WHERE w.slug = 'globex-prod' AND a.action = 'integration.binding_rejected' AND a.outcome = 'denied'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(refused, 5);
}

#[test]
fn rejects_sentinel_workspace_in_other_case_or_through_another_tenant() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    let sub = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let ok = add_sentinel(
        &env,
        "acme-corp",
        "sentinel",
        "10000000-0000-0000-0000-000000000001",
        sub,
        "rg-soc",
        "acme-law",
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let braced = format!("{{{}}}", sub.to_uppercase());
    for (tenant, sub, rg, name) in [
        (
            "10000000-0000-0000-0000-000000000001",
            sub,
            "RG-SOC",
            "ACME-LAW",
        ),
        (
            "20000000-0000-0000-0000-000000000002",
            sub,
            "rg-soc",
            "acme-law",
        ),
        (
            "10000000-0000-0000-0000-000000000001",
            braced.as_str(),
            "rg-soc",
            "acme-law",
        ),
    ] {
        let out = add_sentinel(&env, "globex-prod", "sentinel", tenant, sub, rg, name);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
    }
    assert_eq!(bindings(&env), 1);
}

#[test]
fn rejects_overlapping_splunk_scopes_and_allows_disjoint_ones() {
    let env = Env::new();
    for ws in ["acme-corp", "globex-prod", "initech-ent"] {
        env.ok(&["workspace", "create", ws]);
    }
    let ok = add_splunk(
        &env,
        "acme-corp",
        "splunk",
        "https://splunk.mssp.example",
        "acme*",
        None,
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    for (url, idx) in [
        ("https://splunk.mssp.example:8089", "acme_prod"),
        ("https://SPLUNK.mssp.example/", "ACME_PROD"),
        ("https://splunk.mssp.example", "globex,acme_dev"),
    ] {
        let out = add_splunk(&env, "globex-prod", "splunk", url, idx, None);
        assert_eq!(code(&out), 3, "{url} {idx}: {}", stderr(&out));
    }
    // Shared notable index, told apart by a field: disjoint globs coexist, overlapping ones do not.
    for (ws, name, filter, expected) in [
        ("globex-prod", "notables", Some("orig_index=globex*"), 0),
        ("initech-ent", "notables", Some("orig_index=initech*"), 0),
        ("acme-corp", "notables", Some("orig_index=g*"), 3),
        ("acme-corp", "notables-all", None, 3),
    ] {
        let out = add_splunk(&env, ws, name, "https://es.mssp.example", "notable", filter);
        assert_eq!(code(&out), expected, "{ws} {filter:?}: {}", stderr(&out));
    }
    assert_eq!(bindings(&env), 3);
}

#[test]
fn remove_releases_the_binding() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    assert_eq!(code(&add_crowdstrike(&env, "acme-corp", "falcon", CID)), 0);
    env.ok(&["integration", "remove", "acme-corp", "falcon"]);
    let creds: i64 = env
        .db()
        .query_row("SELECT count(*) FROM credentials", [], |r| r.get(0))
        .unwrap();
    assert_eq!(creds, 0);
    let out = add_crowdstrike(&env, "globex-prod", "falcon", &CID.to_uppercase());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn lets_exactly_one_of_fifty_concurrent_processes_bind_a_cid() {
    let env = Env::new();
    let codes: Vec<i32> = common::race_fifty_binds(&env, CID)
        .iter()
        .map(code)
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 3).count(), 49, "{codes:?}");
    assert_eq!(bindings(&env), 1);
    let (integrations, credentials): (i64, i64) = env
        .db()
        .query_row(
            "SELECT (SELECT count(*) FROM integrations), (SELECT count(*) FROM credentials)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((integrations, credentials), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lets_exactly_one_of_fifty_concurrent_tasks_bind_a_cid() {
    use seliq_connectors::{Params, Settings, crowdstrike};
    use seliq_gateway::app::{App, Config};
    use seliq_gateway::integrations::{NewIntegration, add};
    use seliq_gateway::slug::{IntegrationName, Slug};

    let env = Env::new();
    for i in 0..50 {
        env.ok(&["workspace", "create", &format!("client-{i:02}")]);
    }
    let config = Config {
        data_dir: env.data_dir(),
        database_url: None,
        actor: "test".into(),
    };
    let http = seliq_connectors::http::HttpOptions::default_timeouts().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let config = config.clone();
        let http = http.clone();
        tasks.spawn(async move {
            let mut app = App::open(config).expect("open");
            let settings = Settings::validate(Params::Crowdstrike(crowdstrike::Params {
                client_id: "parent".into(),
                cid: if i % 2 == 0 {
                    CID.to_owned()
                } else {
                    format!("{}-A7", CID.to_uppercase())
                },
                base_url: Some("http://127.0.0.1:9".into()),
                allow_insecure_http: true,
                ..Default::default()
            }))
            .expect("settings");
            let req = NewIntegration {
                workspace: Slug::parse(&format!("client-{i:02}")).unwrap(),
                name: IntegrationName::parse("falcon").unwrap(),
                settings,
                secret: secrecy::SecretString::from("s3cret-value"),
                verify: false,
                first_window: std::time::Duration::from_secs(3600),
                poll_interval: seliq_gateway::integrations::DEFAULT_POLL_INTERVAL,
            };
            add(&mut app, &http, req)
                .await
                .map(|_| ())
                .map_err(|e| e.exit_code())
        });
    }
    let mut ok = 0;
    let mut conflicts = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(3) => conflicts += 1,
            Err(other) => panic!("unexpected exit code {other}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 49));
    assert_eq!(bindings(&env), 1);
}

/// Issue 13.6: `127.0.0.1` and `localhost` name one Splunk server; the server GUID read at bind
/// time makes the second spelling conflict even though the URLs differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_aliases_of_one_splunk_server_are_one_endpoint() {
    use seliq_mocks::splunk::{DEFAULT_TOKEN, SplunkMock, SplunkMockConfig};
    let splunk = SplunkMock::start(SplunkMockConfig {
        indexes: vec![("acme_prod".into(), 5)],
        notables: vec![],
        ..Default::default()
    })
    .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    env.ok(&["workspace", "create", "globex-prod"]);
    let by_ip = splunk.uri();
    let by_name = by_ip.replace("127.0.0.1", "localhost");
    assert_ne!(by_ip, by_name);
    let add = |ws: &'static str, url: String| {
        let env = &env;
        async move {
            let mut c = env.cmd();
            c.env("S", DEFAULT_TOKEN).args([
                "integration",
                "add",
                ws,
                "splunk",
                "--kind",
                "splunk",
                "--url",
                &url,
                "--app",
                "search",
                "--index",
                "acme_prod",
                "--allow-insecure-http",
                "--secret-env",
                "S",
            ]);
            tokio::process::Command::from(c).output().await.unwrap()
        }
    };
    let first = add("acme-corp", by_ip).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let second = add("globex-prod", by_name).await;
    assert_eq!(code(&second), 3, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("already bound to workspace acme-corp"),
        "{}",
        stderr(&second)
    );
    assert_eq!(bindings(&env), 1);
}
