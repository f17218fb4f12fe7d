//! The gateway on PostgreSQL (issue 18): the real binary, several processes, one database, each
//! test in a schema of its own on the local server (`SELIQ_TEST_POSTGRES_URL` to use another).

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::pg::{PgSchema, master_key};
use common::serve::{Serve, wait_until};
use common::vendors::gw;
use common::{Env, code, stderr};
use seliq_mocks::crowdstrike::{
    ApiClient, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};

/// The tests that time replicas (lease expiry, takeover) run one at a time: on two cores, two
/// sets of replicas at once would measure each other.
static TIMED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn timed() -> tokio::sync::MutexGuard<'static, ()> {
    TIMED.lock().await
}

/// Data dirs (spool, lock) of replicas that share one database and one master key.
fn replicas(pg: &PgSchema, n: usize) -> Vec<Env> {
    let key = master_key();
    (0..n)
        .map(|_| {
            Env::with_vars(&[
                ("SELIQ_DATABASE_URL", pg.url.as_str()),
                ("SELIQ_MASTER_KEY", key.as_str()),
            ])
        })
        .collect()
}

/// `n` Falcon child CIDs of the parent client, `alerts` each. The token endpoint's quota is
/// lifted: several gateway processes on one host mint a token per CID each, and this test is
/// about leases, not about pacing mints (which has its own tests).
async fn falcon(n: usize, alerts: usize, delay: Duration) -> (FalconMock, Vec<String>) {
    let cids: Vec<String> = (0..n)
        .map(|i| format!("{:032x}", 0xc1d0_0000u64 + i as u64))
        .collect();
    let mut config = FalconMockConfig {
        cids: cids.clone(),
        alerts_per_cid: alerts,
        token_rate_limit_per_minute: 100_000,
        data_delay: delay,
        ..Default::default()
    };
    config.clients = vec![ApiClient {
        client_id: PARENT_CLIENT_ID.to_owned(),
        secret: PARENT_SECRET.to_owned(),
        home_cid: seliq_mocks::crowdstrike::PARENT_CID.to_owned(),
        children: cids.clone(),
        blocked: false,
    }];
    (FalconMock::start(config).await, cids)
}

/// Bind every CID as an integration `f<i>` of one of `workspaces`, eight processes at a time.
async fn add_all(env: &Env, falcon: &FalconMock, cids: &[String], workspaces: &[&str]) {
    for ws in workspaces {
        env.ok(&["workspace", "create", ws]);
    }
    let uri = falcon.uri();
    for (chunk_no, chunk) in cids.chunks(8).enumerate() {
        let runs = chunk.iter().enumerate().map(|(j, cid)| {
            let i = chunk_no * 8 + j;
            let ws = workspaces[i % workspaces.len()];
            let name = format!("falcon-{i:03}");
            let uri = uri.clone();
            async move {
                let out = gw(
                    env,
                    &[
                        "integration",
                        "add",
                        ws,
                        &name,
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
                        "--no-verify",
                        "--poll-interval",
                        "10s",
                    ],
                    &[("S", PARENT_SECRET)],
                )
                .await;
                assert_eq!(code(&out), 0, "{}", stderr(&out));
            }
        });
        futures::future::join_all(runs).await;
    }
}

/// Complete lines in the replicas' spool files so far (a batch being written may show a torn
/// last line to a reader; it is not counted).
fn spooled(envs: &[&Env]) -> usize {
    spool_files(envs)
        .iter()
        .map(|f| {
            std::fs::read(f)
                .map(|b| b.iter().filter(|c| **c == b'\n').count())
                .unwrap_or(0)
        })
        .sum()
}

fn spool_files(envs: &[&Env]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for env in envs {
        let root = env.data_dir().join("spool");
        for ws in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(ws.path()).into_iter().flatten().flatten() {
                files.push(f.path());
            }
        }
    }
    files
}

/// Every line of every spool file under the replicas' data dirs (once they are quiet).
fn all_spool_lines(envs: &[&Env]) -> Vec<serde_json::Value> {
    common::ndjson_lines(&spool_files(envs))
}

fn total_versions(falcon: &FalconMock, cids: &[String]) -> usize {
    cids.iter().map(|c| falcon.versions(c).len()).sum()
}

/// Every line's `event_id` once.
fn assert_once(lines: &[serde_json::Value]) {
    let mut seen = HashSet::new();
    for l in lines {
        let id = l["event_id"].as_str().expect("event_id");
        assert!(seen.insert(id.to_owned()), "event {id} delivered twice");
    }
}

/// No two data requests for one CID were ever in flight at once: one poller per source.
fn assert_no_overlapping_polls(falcon: &FalconMock) {
    let mut by_cid: HashMap<String, Vec<(Instant, Instant, String)>> = HashMap::new();
    for r in falcon.data_requests() {
        assert_eq!(r.scope.len(), 1, "a member-CID token reads one CID");
        by_cid
            .entry(r.scope[0].clone())
            .or_default()
            .push((r.at, r.until, r.token));
    }
    assert!(!by_cid.is_empty());
    for (cid, mut reqs) in by_cid {
        reqs.sort_by_key(|r| r.0);
        for w in reqs.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "two polls of {cid} overlapped: a request at {:?} began before the one at {:?} was answered (tokens differ: {})",
                w[1].0,
                w[0].0,
                w[0].2 != w[1].2
            );
        }
    }
}

#[test]
fn lets_exactly_one_of_fifty_concurrent_processes_bind_a_cid_on_postgres() {
    let pg = PgSchema::new();
    let env = &replicas(&pg, 1)[0];
    let outs = common::race_fifty_binds(env, "4f3e2d1c0b5a49687766554433221100");
    let codes: Vec<i32> = outs.iter().map(code).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 3).count(), 49, "{codes:?}");
    for o in outs.iter().filter(|o| code(o) == 3) {
        assert!(stderr(o).contains("already bound"), "{}", stderr(o));
    }
    assert_eq!(pg.count("SELECT count(*) FROM bindings"), 1);
    assert_eq!(pg.count("SELECT count(*) FROM integrations"), 1);
    assert_eq!(pg.count("SELECT count(*) FROM credentials"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_and_the_audit_chain_work_on_postgres_and_the_database_keeps_its_rules() {
    let pg = PgSchema::new();
    let env = &replicas(&pg, 1)[0];
    let (falcon, cids) = falcon(2, 300, Duration::ZERO).await;
    add_all(env, &falcon, &cids, &["acme-corp"]).await;
    let out_file = env.dir.path().join("alerts.ndjson");
    let out = env.run(&["pull", "acme-corp", "--output", out_file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(lines.lines().count(), total_versions(&falcon, &cids));
    // A second pull delivers nothing new; the checkpoints held.
    let out = env.run(&["pull", "acme-corp", "--output", out_file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap().lines().count(),
        total_versions(&falcon, &cids)
    );
    env.ok(&["audit", "verify", "acme-corp"]);
    // The database itself refuses what the gateway never does.
    for sql in [
        "UPDATE audit_entries SET actor = 'mallory'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
        "UPDATE workspaces SET slug = 'renamed'",
    ] {
        let sql = sql.to_owned();
        let refused = pg.client(move |c| c.batch_execute(&sql).map_err(|e| e.to_string()));
        assert!(refused.is_err(), "{refused:?}");
    }
    env.ok(&["audit", "verify", "acme-corp"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_300_integrations_poll_each_by_one_and_survive_kill_and_lost_connections()
 {
    let _one_at_a_time = timed().await;
    let pg = PgSchema::new();
    let envs = replicas(&pg, 3);
    let (falcon, cids) = falcon(300, 5, Duration::from_millis(40)).await;
    add_all(
        &envs[0],
        &falcon,
        &cids,
        &["acme-corp", "globex", "initech"],
    )
    .await;
    let args = ["--lease-ttl", "6s", "--max-concurrent-polls", "128"];
    let mut serves: Vec<Option<Serve>> =
        envs.iter().map(|e| Some(Serve::start(e, &args))).collect();
    let all = || envs.iter().collect::<Vec<_>>();
    // Each alert version is one line: the seeded alerts, then every update and every new alert.
    let mut expected = total_versions(&falcon, &cids);
    let delivered = |n: usize| move || spooled(&all()) >= n;
    wait_until(
        Duration::from_secs(120),
        "the first versions from three replicas",
        delivered(expected),
    );
    // Every replica holds a share: none takes everything.
    let per_owner: Vec<usize> = serves
        .iter()
        .flatten()
        .map(Serve::integration_holder_count)
        .collect();
    assert!(
        per_owner.iter().all(|n| (50..=150).contains(n)),
        "{per_owner:?}"
    );
    // `/metrics` says the same: one `lease_held 1` series per integration the replica holds.
    // (Two reads: a lease round between them may move one, so they must agree within a while.)
    let first = serves[0].as_ref().unwrap();
    wait_until(
        Duration::from_secs(10),
        "/metrics and /v1/status to agree",
        || {
            let (_, metrics) = first.get("/metrics").expect("metrics");
            let held_series = metrics
                .lines()
                .filter(|l| l.starts_with("seliq_lease_held{") && l.ends_with(" 1"))
                .count();
            held_series > 0 && held_series == first.integration_holder_count()
        },
    );

    // Connections lost (a failover): the replicas reconnect and carry on.
    assert!(pg.terminate_gateway_connections() > 0);
    for cid in cids.iter().step_by(3) {
        expected += falcon.update_alerts(cid, 2).len();
    }
    wait_until(
        Duration::from_secs(60),
        "the updates after lost connections",
        delivered(expected),
    );

    // kill -9 of one replica: the others take its integrations within TTL + one interval.
    let killed = serves[2].take().unwrap();
    killed.signal("-KILL");
    let killed_at = Instant::now();
    drop(killed);
    for cid in &cids {
        expected += falcon.add_alerts(cid, 1).len();
    }
    wait_until(
        Duration::from_secs(60),
        "new alerts of every CID after the kill",
        delivered(expected),
    );
    let took = killed_at.elapsed();
    assert!(
        took < Duration::from_secs(6 + 10 + 10),
        "picked up after {took:?}"
    );
    for s in serves.iter_mut().flatten() {
        let held = s.integration_holder_count();
        assert!(held > 100, "a survivor holds {held} of 300");
    }
    for s in serves.into_iter().flatten() {
        assert_eq!(s.terminate(Duration::from_secs(35)), 0);
    }
    let lines = all_spool_lines(&all());
    assert_once(&lines);
    assert_eq!(lines.len(), expected);
    assert_no_overlapping_polls(&falcon);
    // A replica that exits frees its leases at once.
    assert_eq!(
        pg.count("SELECT count(*) FROM leases WHERE expires_at > now()"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_past_its_lease_commits_nothing_when_it_wakes() {
    let _one_at_a_time = timed().await;
    let pg = PgSchema::new();
    let envs = replicas(&pg, 2);
    // Slow answers: a poll is in flight for seconds, long enough to stop a replica inside one.
    let (falcon, cids) = falcon(4, 50, Duration::from_millis(2500)).await;
    add_all(&envs[0], &falcon, &cids, &["acme-corp"]).await;
    let args = ["--lease-ttl", "4s"];
    let a = Serve::start(&envs[0], &args);
    let b = Serve::start(&envs[1], &args);
    // Stop `a` while one of its polls waits on the vendor.
    wait_until(
        Duration::from_secs(60),
        "a poll of replica a in flight",
        || {
            a.status()
                .iter()
                .any(|s| s["state"] == "polling" && a.is_holder(s))
        },
    );
    a.signal("-STOP");
    let stopped_at = Instant::now();
    // Past its TTL, `b` takes everything over and delivers every version.
    wait_until(Duration::from_secs(60), "b to deliver everything", || {
        spooled(&[&envs[0], &envs[1]]) >= total_versions(&falcon, &cids)
            && b.integration_holder_count() == 4
    });
    assert!(stopped_at.elapsed() >= Duration::from_secs(4));
    let before = spooled(&[&envs[0]]);
    a.signal("-CONT");
    // `a` wakes with a batch fetched under a lease it no longer holds: refused, truncated away.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        a.log().contains("no longer holds"),
        "the stale replica's commit was not refused: {}",
        a.log()
    );
    assert_eq!(spooled(&[&envs[0]]), before);
    assert_eq!(a.terminate(Duration::from_secs(35)), 0);
    assert_eq!(b.terminate(Duration::from_secs(35)), 0);
    let lines = all_spool_lines(&[&envs[0], &envs[1]]);
    assert_once(&lines);
    assert_eq!(lines.len(), total_versions(&falcon, &cids));
}

#[test]
fn migrate_copies_the_demos_data_dir_and_every_chain_and_credential_survives() {
    let env = Env::new();
    let demo = env.dir.path().join("demo");
    let out = env.run(&["demo", "--demo-dir", demo.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let data = demo.join("data");
    let sqlite = rusqlite::Connection::open(data.join("seliq.db")).unwrap();
    let count = |table: &str| -> i64 {
        sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let pg = PgSchema::new();
    let migrate = |extra: &[&str]| {
        let mut c = env.cmd();
        c.env("SELIQ_DATA_DIR", &data)
            .env("SELIQ_DATABASE_URL", &pg.url)
            .arg("migrate")
            .args(extra);
        c.output().expect("migrate")
    };
    let out = migrate(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = common::stdout(&out);
    let integrations = count("integrations");
    assert!(integrations >= 3, "the demo connects three vendors");
    assert!(
        said.contains(&format!("{integrations} credentials open")),
        "{said}"
    );
    for table in [
        "workspaces",
        "integrations",
        "credentials",
        "workspace_keys",
        "api_tokens",
        "alert_ledger",
        "checkpoints",
    ] {
        assert_eq!(
            pg.count(&format!("SELECT count(*) FROM {table}")),
            count(table),
            "{table}"
        );
    }
    // One `store.migrated` entry per live workspace, on top of the copied chain.
    assert_eq!(
        pg.count("SELECT count(*) FROM audit_entries"),
        count("audit_entries") + count("workspaces WHERE deleted_at IS NULL")
    );
    // Every command now runs on PostgreSQL with the same data dir's master key.
    let mut c = env.cmd();
    c.env("SELIQ_DATA_DIR", &data)
        .env("SELIQ_DATABASE_URL", &pg.url)
        .args(["workspace", "list", "--json"]);
    let listed = c.output().unwrap();
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let workspaces: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(!workspaces.is_empty());
    for ws in workspaces {
        let slug = ws["slug"].as_str().unwrap();
        let mut c = env.cmd();
        c.env("SELIQ_DATA_DIR", &data)
            .env("SELIQ_DATABASE_URL", &pg.url)
            .args(["audit", "verify", slug]);
        let v = c.output().unwrap();
        assert_eq!(code(&v), 0, "{slug}: {}", stderr(&v));
    }
    // A second run finds data there and refuses, naming it; nothing changes.
    let before = pg.count("SELECT count(*) FROM audit_entries");
    let again = migrate(&[]);
    assert_ne!(code(&again), 0);
    assert!(
        stderr(&again).contains("already holds data"),
        "{}",
        stderr(&again)
    );
    assert_eq!(pg.count("SELECT count(*) FROM audit_entries"), before);
    // A password in the URL never reaches an error.
    let mut c = env.cmd();
    c.env("SELIQ_DATA_DIR", &data)
        .env(
            "SELIQ_DATABASE_URL",
            "postgres://seliq:hunter2-secret@127.0.0.1:1/x",
        )
        .args(["workspace", "list"]);
    let refused = c.output().unwrap();
    assert_ne!(code(&refused), 0);
    assert!(
        !stderr(&refused).contains("hunter2"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn sslmode_require_speaks_tls_and_verifies_the_server_certificate() {
    let pg = PgSchema::new();
    // This machine's server presents Debian's self-signed certificate (CN and SAN `localhost`).
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let ssl_on = pg.client(|c| c.query_one("SHOW ssl", &[]).unwrap().get::<_, String>(0)) == "on";
    let url = pg.url.replacen("127.0.0.1", "localhost", 1);
    let run = |url: &str, args: &[&str]| {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            vars: vec![
                ("SELIQ_DATABASE_URL".to_owned(), url.to_owned()),
                ("SELIQ_MASTER_KEY".to_owned(), master_key()),
            ],
        };
        env.run(args)
    };
    if ssl_on && std::path::Path::new(cert).exists() {
        let out = run(
            &format!("{url}&sslmode=require&sslrootcert={cert}"),
            &["init"],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // (`require` never falls back to plain: that the init succeeded is the handshake.)
        // The same server and certificate under a name the certificate does not carry
        // (127.0.0.1; it names only `localhost`): refused, the name is verified too.
        let out = run(
            &format!("{}&sslmode=require&sslrootcert={cert}", pg.url),
            &["workspace", "list"],
        );
        assert_ne!(code(&out), 0);
        assert!(
            stderr(&out).to_lowercase().contains("certificate"),
            "{}",
            stderr(&out)
        );
    } else {
        let out = run(&format!("{url}&sslmode=require"), &["init"]);
        assert_ne!(
            code(&out),
            0,
            "a server without TLS must not be used in the clear"
        );
    }
    // A certificate file that is not one: one sentence naming it.
    let out = run(
        &format!("{url}&sslmode=require&sslrootcert=/etc/hostname"),
        &["init"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sslrootcert /etc/hostname"),
        "{}",
        stderr(&out)
    );
}
